// Package deploy_test checks the deployment files shipped with the fleet
// (docker-compose.yml and the files under deploy/) without running them.
package deploy_test

import (
	"context"
	"os"
	"path/filepath"
	"regexp"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/compose-spec/compose-go/v2/cli"
	"github.com/compose-spec/compose-go/v2/types"
	"github.com/docker/go-units"
)

// loadCompose loads docker-compose.yml as `docker compose [--profile P] up`
// would, with the given profiles enabled.
func loadCompose(t *testing.T, profiles ...string) *types.Project {
	t.Helper()
	path, err := filepath.Abs("../docker-compose.yml")
	if err != nil {
		t.Fatal(err)
	}
	opts, err := cli.NewProjectOptions([]string{path},
		cli.WithOsEnv, cli.WithWorkingDirectory(filepath.Dir(path)), cli.WithName("testplanit-workers"),
		cli.WithProfiles(profiles))
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

// The BullMQ intake (intake/, Node.js) is opt-in: absent from `up`, started
// with `--profile bullmq`, from its own pinned Node image, restarted, memory
// limited, health-checked on /readyz without curl, after a healthy dashboard
// whose enqueue API it calls with the producer token from .env.
func TestComposeBullMQIntake(t *testing.T) {
	const name = "bullmq-intake"
	if _, ok := loadCompose(t).DisabledServices[name]; !ok {
		t.Errorf("%s must not start with a plain `docker compose up` (profile bullmq)", name)
	}
	p := loadCompose(t, "bullmq")
	s, err := p.GetService(name)
	if err != nil {
		t.Fatalf("`docker compose --profile bullmq up` has no %s: %v", name, err)
	}
	if !slices.Equal(s.Profiles, []string{"bullmq"}) {
		t.Errorf("%s: profiles %v, want [bullmq]", name, s.Profiles)
	}
	if s.Restart != types.RestartPolicyUnlessStopped {
		t.Errorf("%s: restart %q, want unless-stopped", name, s.Restart)
	}
	if s.Deploy == nil || s.Deploy.Resources.Limits == nil || s.Deploy.Resources.Limits.MemoryBytes == 0 {
		t.Errorf("%s: no memory limit", name)
	} else if heap := s.Environment["NODE_OPTIONS"]; heap == nil || !strings.Contains(*heap, "--max-old-space-size=") {
		t.Errorf("%s: NODE_OPTIONS %v: bound V8's heap below the container's limit", name, heap)
	}

	// Its own image, built from intake/ with a pinned Node tag, production
	// dependencies only, as a non-root user.
	if s.Build == nil || filepath.Base(s.Build.Context) != "intake" {
		t.Fatalf("%s: build %+v, want the intake/ directory", name, s.Build)
	}
	if s.Image == "" || s.Image == "testplanit-workers:local" {
		t.Errorf("%s: image %q: the Node process has an image of its own", name, s.Image)
	}
	df, err := os.ReadFile(filepath.Join(s.Build.Context, "Dockerfile"))
	if err != nil {
		t.Fatal(err)
	}
	from := regexp.MustCompile(`(?m)^FROM\s+node:(\S+)`).FindSubmatch(df)
	if from == nil || !regexp.MustCompile(`^20\.\d+\.\d+-(bookworm-slim|alpine\S*)$`).Match(from[1]) {
		t.Errorf("intake/Dockerfile: FROM %q, want a pinned node:20.x.y slim or alpine tag", from)
	}
	for _, want := range []string{"npm ci --omit=dev", "\nUSER node\n", `CMD ["node", "src/main.js"]`} {
		if !strings.Contains(string(df), want) {
			t.Errorf("intake/Dockerfile lacks %q", want)
		}
	}

	// Health: /readyz on INTAKE_HTTP_ADDR's port, with node's fetch (the
	// slim image has no curl), listening beyond loopback for Prometheus.
	addr := s.Environment["INTAKE_HTTP_ADDR"]
	if addr == nil || !strings.HasPrefix(*addr, "0.0.0.0:") {
		t.Fatalf("%s: INTAKE_HTTP_ADDR %v, want 0.0.0.0:<port>", name, addr)
	}
	_, port, _ := strings.Cut(*addr, ":")
	readyz := "http://127.0.0.1:" + port + "/readyz"
	if h := s.HealthCheck; h == nil || len(h.Test) < 4 || h.Test[0] != "CMD" || h.Test[1] != "node" || h.Test[2] != "-e" ||
		!strings.Contains(h.Test[3], "fetch('"+readyz+"')") {
		t.Errorf("%s: healthcheck %v, want node -e fetch('%s')", name, h, readyz)
	}

	// The enqueue API: the dashboard service's port, once it is healthy.
	dash, err := p.GetService("dashboard")
	if err != nil {
		t.Fatal(err)
	}
	_, dashPort, _ := strings.Cut(*dash.Environment["HTTP_ADDR"], ":")
	if u := s.Environment["INTAKE_API_URL"]; u == nil || *u != "http://dashboard:"+dashPort {
		t.Errorf("%s: INTAKE_API_URL %v, want http://dashboard:%s", name, u, dashPort)
	}
	if d, ok := s.DependsOn["dashboard"]; !ok || d.Condition != types.ServiceConditionHealthy {
		t.Errorf("%s must wait for a healthy dashboard: %+v", name, s.DependsOn)
	}
	if d, ok := s.DependsOn["valkey"]; !ok || d.Condition != types.ServiceConditionHealthy {
		t.Errorf("%s must wait for a healthy valkey: %+v", name, s.DependsOn)
	}
	// The token pair comes from the operator's .env: the plain token to the
	// intake, its hash to the dashboard; neither is written in the file.
	for _, svc := range []types.ServiceConfig{s, dash} {
		if !slices.ContainsFunc(svc.EnvFiles, func(f types.EnvFile) bool { return filepath.Base(f.Path) == ".env" }) {
			t.Errorf("%s does not read .env (env_file)", svc.Name)
		}
	}
	if s.Environment["INTAKE_PRODUCER_TOKEN"] != nil || dash.Environment["DASHBOARD_PRODUCER_TOKEN_HASH"] != nil {
		t.Error("the producer token pair belongs in .env, not in docker-compose.yml")
	}

	// SIGTERM drains within INTAKE_SHUTDOWN_TIMEOUT (ms), below the grace.
	shutdown := 10 * time.Second
	if v := s.Environment["INTAKE_SHUTDOWN_TIMEOUT"]; v != nil {
		ms, err := time.ParseDuration(*v + "ms")
		if err != nil {
			t.Fatalf("%s: INTAKE_SHUTDOWN_TIMEOUT %q: %v", name, *v, err)
		}
		shutdown = ms
	}
	if s.StopSignal != "" && s.StopSignal != "SIGTERM" {
		t.Errorf("%s: stop_signal %q, want SIGTERM", name, s.StopSignal)
	}
	if s.StopGracePeriod == nil || time.Duration(*s.StopGracePeriod) <= shutdown {
		t.Errorf("%s: stop_grace_period %v must exceed INTAKE_SHUTDOWN_TIMEOUT %s", name, s.StopGracePeriod, shutdown)
	}
}
