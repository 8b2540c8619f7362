// Package deploy_test checks the deployment files shipped with the fleet
// (docker-compose.yml and the files under deploy/) without running them.
package deploy_test

import (
	"context"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"

	"github.com/compose-spec/compose-go/v2/cli"
	"github.com/compose-spec/compose-go/v2/types"
	"github.com/docker/go-units"
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
		if !longRunningOurs(s) {
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

// longRunningOurs: a service running one of our binaries under `up` (not the
// one-shot migration, not the tools profile).
func longRunningOurs(s types.ServiceConfig) bool {
	return s.Image == "testplanit-workers:local" && s.Name != "migrate" && len(s.Profiles) == 0
}

func TestComposeRunsTheWholeFleet(t *testing.T) {
	p := loadCompose(t)
	var ours []string
	for _, s := range p.Services {
		if !longRunningOurs(s) {
			continue
		}
		ours = append(ours, s.Name)
		if len(s.Command) == 0 || s.Command[0] != s.Name {
			t.Errorf("%s: command %v, want the binary of the same name", s.Name, s.Command)
		}
		// Health: /healthz on the port the binary listens on, through the
		// image's own tpictl (no curl in distroless).
		addr := s.Environment["HTTP_ADDR"]
		if addr == nil {
			t.Errorf("%s: HTTP_ADDR unset", s.Name)
			continue
		}
		_, port, _ := strings.Cut(*addr, ":")
		want := []string{"CMD", "tpictl", "healthcheck", "http://127.0.0.1:" + port + "/healthz"}
		if s.HealthCheck == nil || !slices.Equal(s.HealthCheck.Test, want) {
			t.Errorf("%s: healthcheck %v, want %v", s.Name, s.HealthCheck, want)
		}
		// The worker's own guard drains below the container's hard cap, and
		// no worker gets more than the original's 1 GiB.
		limit := s.Deploy.Resources.Limits.MemoryBytes
		if limit > 1<<30 {
			t.Errorf("%s: memory limit %d above 1 GiB", s.Name, limit)
		}
		mem := s.Environment["MAX_MEMORY_RESTART"]
		if mem == nil {
			t.Errorf("%s: MAX_MEMORY_RESTART unset", s.Name)
		} else if guard, err := units.RAMInBytes(*mem); err != nil || guard >= int64(limit) {
			t.Errorf("%s: MAX_MEMORY_RESTART %s must be below the memory limit %d (%v)", s.Name, *mem, limit, err)
		}
		if v := s.Environment["VALKEY_URL"]; v == nil || *v != "valkey://valkey:6379/0" {
			t.Errorf("%s: VALKEY_URL %v", s.Name, v)
		}
	}
	slices.Sort(ours)
	if want := fleet(t); !slices.Equal(ours, want) {
		t.Errorf("compose runs %v, the fleet is %v (cmd/*/main.go but tpictl)", ours, want)
	}

	published := func(name string, port uint32) {
		t.Helper()
		s, err := p.GetService(name)
		if err != nil {
			t.Error(err)
			return
		}
		for _, pc := range s.Ports {
			if pc.Target == port && pc.Published != "" {
				return
			}
		}
		t.Errorf("%s does not publish port %d: %+v", name, port, s.Ports)
	}
	published("dashboard", 8080)
	published("mailpit", 8025)

	for _, name := range []string{"mailpit", "s3", "elasticsearch"} {
		s, err := p.GetService(name)
		if err != nil {
			t.Error(err)
			continue
		}
		if s.HealthCheck == nil || s.Restart != types.RestartPolicyUnlessStopped {
			t.Errorf("%s: health check %v restart %q", name, s.HealthCheck, s.Restart)
		}
	}
	email, _ := p.GetService("email-worker")
	if h := email.Environment["EMAIL_SERVER_HOST"]; h == nil || *h != "mailpit" {
		t.Errorf("email-worker sends to %v, want mailpit", h)
	}
	if d, ok := email.DependsOn["mailpit"]; !ok || d.Condition != types.ServiceConditionHealthy {
		t.Errorf("email-worker must wait for mailpit: %+v", email.DependsOn)
	}
	// Not started by `up`: disabled until its profile is asked for.
	if tools, ok := p.DisabledServices["tpictl"]; !ok || !slices.Contains(tools.Profiles, "tools") {
		t.Errorf("tpictl (doctor and friends) must be in the tools profile")
	}
}
