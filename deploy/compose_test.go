// Package deploy_test checks the deployment files shipped with the fleet
// (docker-compose.yml and the files under deploy/) without running them.
package deploy_test

import (
	"context"
	"os"
	"path/filepath"
	"slices"
	"testing"

	"github.com/compose-spec/compose-go/v2/cli"
	"github.com/compose-spec/compose-go/v2/types"
)

func loadCompose(t *testing.T) *types.Project {
	t.Helper()
	path, err := filepath.Abs("../docker-compose.yml")
	if err != nil {
		t.Fatal(err)
	}
	opts, err := cli.NewProjectOptions([]string{path},
		cli.WithOsEnv, cli.WithWorkingDirectory(filepath.Dir(path)), cli.WithName("testplanit-workers"))
	if err != nil {
		t.Fatal(err)
	}
	p, err := opts.LoadProject(context.Background())
	if err != nil {
		t.Fatalf("docker-compose.yml does not load: %v", err)
	}
	return p
}

func TestComposeFileIsValid(t *testing.T) {
	p := loadCompose(t)

	valkey, err := p.GetService("valkey")
	if err != nil {
		t.Fatal(err)
	}
	if i := slices.Index(valkey.Command, "--appendonly"); i < 0 || valkey.Command[i+1] != "yes" {
		t.Errorf("valkey must run with AOF on, command %v", valkey.Command)
	}
	for _, name := range []string{"valkey", "postgres"} {
		s, err := p.GetService(name)
		if err != nil {
			t.Fatal(err)
		}
		if s.HealthCheck == nil || len(s.HealthCheck.Test) == 0 {
			t.Errorf("%s has no health check", name)
		}
	}
	mig, err := p.GetService("migrate")
	if err != nil {
		t.Fatal(err)
	}
	if mig.Command[0] != "tpictl" || mig.Command[1] != "migrate" {
		t.Errorf("migrate command %v", mig.Command)
	}
	if d, ok := mig.DependsOn["postgres"]; !ok || d.Condition != types.ServiceConditionHealthy {
		t.Errorf("migrate must wait for a healthy postgres: %+v", mig.DependsOn)
	}
	if _, err := os.Stat("../Dockerfile"); err != nil {
		t.Errorf("compose builds from a Dockerfile that is missing: %v", err)
	}
	// Every long-running service of ours restarts, has a memory limit and a
	// stop grace period above SHUTDOWN_TIMEOUT.
	for _, s := range p.Services {
		if s.Image != "testplanit-workers:local" || s.Name == "migrate" {
			continue
		}
		if s.Restart != types.RestartPolicyUnlessStopped {
			t.Errorf("%s: restart %q, want unless-stopped", s.Name, s.Restart)
		}
		if s.Deploy == nil || s.Deploy.Resources.Limits == nil || s.Deploy.Resources.Limits.MemoryBytes == 0 {
			t.Errorf("%s: no memory limit", s.Name)
		}
		if s.StopGracePeriod == nil || *s.StopGracePeriod <= types.Duration(25e9) {
			t.Errorf("%s: stop_grace_period must exceed SHUTDOWN_TIMEOUT (25s)", s.Name)
		}
		if d, ok := s.DependsOn["migrate"]; !ok || d.Condition != types.ServiceConditionCompletedSuccessfully {
			t.Errorf("%s must wait for migrations", s.Name)
		}
	}
}
