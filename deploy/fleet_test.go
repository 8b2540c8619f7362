package deploy_test

import (
	"encoding/json"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"slices"
	"strconv"
	"strings"
	"testing"
)

// fleet is the list of binaries every run mode must carry: each cmd/<name>
// with a main.go, except the operator CLI.
func fleet(t *testing.T) []string {
	t.Helper()
	mains, err := filepath.Glob("../cmd/*/main.go")
	if err != nil {
		t.Fatal(err)
	}
	var names []string
	for _, m := range mains {
		if n := filepath.Base(filepath.Dir(m)); n != "tpictl" {
			names = append(names, n)
		}
	}
	if len(names) == 0 {
		t.Fatal("no binary under cmd/")
	}
	return names
}

func TestMakefileFleetIsEveryBinaryButTheCLI(t *testing.T) {
	out, err := exec.Command("make", "-s", "-C", "..", "fleet").Output()
	if err != nil {
		t.Fatalf("make fleet: %v", err)
	}
	got := strings.Fields(string(out))
	if want := fleet(t); !slices.Equal(got, want) {
		t.Errorf("make fleet = %v, want %v", got, want)
	}
}

// tpi-exec sources the env file, applies <NAME>_MAX_MEMORY_RESTART and execs
// the binary in place (same PID).
func TestTpiExecEnvFileAndPerBinaryMemory(t *testing.T) {
	bin := t.TempDir()
	fake := "#!/bin/sh\necho \"pid=$$ mem=$MAX_MEMORY_RESTART conc=$EMAIL_CONCURRENCY url=$VALKEY_URL args=$*\"\n"
	for _, n := range []string{"email-worker", "notification-worker"} {
		if err := os.WriteFile(filepath.Join(bin, n), []byte(fake), 0o755); err != nil {
			t.Fatal(err)
		}
	}
	envFile := filepath.Join(t.TempDir(), "env")
	err := os.WriteFile(envFile, []byte(`# comment
EMAIL_CONCURRENCY=7          # trailing comment, as in .env.example
VALKEY_URL=redis://from-file:6379/0
EMAIL_WORKER_MAX_MEMORY_RESTART=300M
`), 0o600)
	if err != nil {
		t.Fatal(err)
	}
	run := func(name string, env ...string) string {
		t.Helper()
		cmd := exec.Command("sh", "-c", `echo "shell=$$"; exec ./tpi-exec "$@"`, "sh", name, "--flag")
		cmd.Env = append([]string{"PATH=" + os.Getenv("PATH"), "TPI_BIN=" + bin, "MAX_MEMORY_RESTART=1G",
			"VALKEY_URL=redis://inherited:6379/0"}, env...)
		out, err := cmd.CombinedOutput()
		if err != nil {
			t.Fatalf("tpi-exec %s: %v\n%s", name, err, out)
		}
		return string(out)
	}

	out := run("email-worker", "TPI_ENV_FILE="+envFile)
	for _, want := range []string{"mem=300M", "conc=7", "url=redis://from-file:6379/0", "args=--flag"} {
		if !strings.Contains(out, want) {
			t.Errorf("email-worker: %q lacks %q", out, want)
		}
	}
	// exec, not a child: the binary has the PID the shell had.
	m := regexp.MustCompile(`shell=(\d+)\npid=(\d+)`).FindStringSubmatch(out)
	if m == nil || m[1] != m[2] {
		t.Errorf("the binary does not replace tpi-exec (same PID expected): %q", out)
	}
	if out := run("notification-worker", "TPI_ENV_FILE="+envFile); !strings.Contains(out, "mem=1G") {
		t.Errorf("notification-worker must keep MAX_MEMORY_RESTART=1G: %q", out)
	}
	if out := run("email-worker", "TPI_ENV_FILE="); !strings.Contains(out, "url=redis://inherited:6379/0") || !strings.Contains(out, "mem=1G") {
		t.Errorf("without an env file the environment is inherited: %q", out)
	}
}

// The supervisord programs generated for the fleet: one per binary, run by
// tpi-exec, restarted on any exit, with a stop timeout above the drain.
// (test/fault runs this configuration for real under supervisord.)
func TestSupervisorPrograms(t *testing.T) {
	names := append(fleet(t), intake)
	out, err := exec.Command("./supervisor/programs.sh", names...).Output()
	if err != nil {
		t.Fatal(err)
	}
	sections := parseINI(string(out))
	for _, n := range names {
		p, ok := sections["program:"+n]
		if !ok {
			t.Errorf("no [program:%s]", n)
			continue
		}
		if p["command"] != "%(ENV_TPI_ROOT)s/deploy/tpi-exec %(program_name)s" {
			t.Errorf("%s: command %q", n, p["command"])
		}
		if p["autorestart"] != "true" {
			t.Errorf("%s: autorestart %q, want true (kill -9 and exit 3 must restart)", n, p["autorestart"])
		}
		if w, _ := strconv.Atoi(p["stopwaitsecs"]); w <= 25 {
			t.Errorf("%s: stopwaitsecs %d must exceed SHUTDOWN_TIMEOUT (25s)", n, w)
		}
		if p["stdout_logfile"] != "%(ENV_TPI_LOG_DIR)s/%(program_name)s.log" || p["redirect_stderr"] != "true" {
			t.Errorf("%s: one log file per program expected: %v", n, p)
		}
	}
	if len(sections) != len(names) {
		t.Errorf("%d sections for %d binaries", len(sections), len(names))
	}
	if _, err := exec.Command("./supervisor/programs.sh", "bad name").Output(); err == nil {
		t.Error("programs.sh accepted a name with a space")
	}
}

// intake is the BullMQ intake's name in every run mode: the Node.js process
// of intake/, started by tpi-exec like a binary of the fleet, but opt-in.
const intake = "bullmq-intake"

// importWorker needs S3 (it exits 2 without AWS_BUCKET_NAME): a binary of
// the fleet, but run by make run/start and PM2 only when the env file sets
// AWS_BUCKET_NAME (or IMPORT=1), the rule of the intake.
const importWorker = "import-worker"

// runFleet is what make run/start and PM2 run of the fleet's binaries: all,
// or all but the import-worker.
func runFleet(t *testing.T, withImport bool) []string {
	t.Helper()
	names := fleet(t)
	if withImport {
		return names
	}
	return slices.DeleteFunc(names, func(n string) bool { return n == importWorker })
}

// makeEnv is the environment of a make or node child without IMPORT and
// INTAKE, which would decide in place of the env file.
func makeEnv(extra ...string) []string {
	env := slices.DeleteFunc(os.Environ(), func(kv string) bool {
		return strings.HasPrefix(kv, "IMPORT=") || strings.HasPrefix(kv, "INTAKE=")
	})
	return append(env, extra...)
}

// tpi-exec runs the intake with node (TPI_NODE) on TPI_INTAKE_DIR/src/main.js,
// with the env file sourced, in place (same PID), as it runs a binary.
func TestTpiExecRunsTheIntakeWithNode(t *testing.T) {
	dir := t.TempDir()
	node := filepath.Join(dir, "node")
	fake := "#!/bin/sh\necho \"pid=$$ api=$INTAKE_API_URL args=$*\"\n"
	if err := os.WriteFile(node, []byte(fake), 0o755); err != nil {
		t.Fatal(err)
	}
	envFile := filepath.Join(dir, "env")
	if err := os.WriteFile(envFile, []byte("INTAKE_API_URL=http://dashboard:8080   # the dashboard\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	cmd := exec.Command("sh", "-c", `echo "shell=$$"; exec ./tpi-exec bullmq-intake`)
	cmd.Env = []string{"PATH=" + os.Getenv("PATH"), "TPI_NODE=" + node, "TPI_INTAKE_DIR=/opt/intake", "TPI_ENV_FILE=" + envFile}
	out, err := cmd.CombinedOutput()
	if err != nil {
		t.Fatalf("tpi-exec %s: %v\n%s", intake, err, out)
	}
	m := regexp.MustCompile(`shell=(\d+)\npid=(\d+) api=(\S*) args=(.*)\n`).FindStringSubmatch(string(out))
	if m == nil || m[1] != m[2] || m[3] != "http://dashboard:8080" || m[4] != "/opt/intake/src/main.js" {
		t.Errorf("want node /opt/intake/src/main.js in place of tpi-exec with the env file's INTAKE_API_URL: %q", out)
	}
	// Without TPI_INTAKE_DIR: intake/ of this repository.
	cmd = exec.Command("./tpi-exec", intake)
	cmd.Env = []string{"PATH=" + os.Getenv("PATH"), "TPI_NODE=" + node}
	out, err = cmd.CombinedOutput()
	root, _ := filepath.Abs("..")
	if err != nil || !strings.Contains(string(out), "args="+filepath.Join(root, "intake", "src", "main.js")) {
		t.Errorf("default intake directory: %v %q", err, out)
	}
}

// The intake is opt-in for `make run` and `make start` (`make procs`): on
// when the env file sets INTAKE_API_URL, or with INTAKE=1; INTAKE=0 wins.
// So is the import-worker, with AWS_BUCKET_NAME and IMPORT.
func TestMakeStartsTheIntakeOnlyWhenConfigured(t *testing.T) {
	dir := t.TempDir()
	write := func(name, text string) string {
		p := filepath.Join(dir, name)
		if err := os.WriteFile(p, []byte(text), 0o600); err != nil {
			t.Fatal(err)
		}
		return p
	}
	on := write("on", "VALKEY_URL=redis://127.0.0.1:6379/0\nINTAKE_API_URL=http://127.0.0.1:8080   # the dashboard\n")
	quoted := write("quoted", "export INTAKE_API_URL='http://127.0.0.1:8080'\n")
	commented := write("commented", "# INTAKE_API_URL=http://127.0.0.1:8080\n")
	empty := write("empty", "INTAKE_API_URL=            # unset\n")
	s3 := write("s3", "AWS_BUCKET_NAME=testplanit   # the uploads\nAWS_ENDPOINT_URL=http://127.0.0.1:9000\n")
	s3Exported := write("s3-exported", "export AWS_BUCKET_NAME='testplanit'\n")
	s3Commented := write("s3-commented", "# AWS_BUCKET_NAME=testplanit\nAWS_BUCKET_NAME=    # unset\n")
	both := write("both", "AWS_BUCKET_NAME=testplanit\nINTAKE_API_URL=http://127.0.0.1:8080\n")
	for _, tt := range []struct {
		args             []string
		want, withImport bool
	}{
		{[]string{"TPI_ENV_FILE="}, false, false},
		{[]string{"TPI_ENV_FILE=" + on}, true, false},
		{[]string{"TPI_ENV_FILE=" + quoted}, true, false},
		{[]string{"TPI_ENV_FILE=" + commented}, false, false},
		{[]string{"TPI_ENV_FILE=" + empty}, false, false},
		{[]string{"TPI_ENV_FILE=" + on, "INTAKE=0"}, false, false},
		{[]string{"TPI_ENV_FILE=", "INTAKE=1"}, true, false},
		{[]string{"TPI_ENV_FILE=" + s3}, false, true},
		{[]string{"TPI_ENV_FILE=" + s3Exported}, false, true},
		{[]string{"TPI_ENV_FILE=" + s3Commented}, false, false},
		{[]string{"TPI_ENV_FILE=" + s3, "IMPORT=0"}, false, false},
		{[]string{"TPI_ENV_FILE=", "IMPORT=1"}, false, true},
		{[]string{"TPI_ENV_FILE=" + both}, true, true},
		{[]string{"TPI_ENV_FILE=" + both, "IMPORT=0", "INTAKE=0"}, false, false},
	} {
		cmd := exec.Command("make", append([]string{"-s", "-C", "..", "procs"}, tt.args...)...)
		cmd.Env = makeEnv()
		out, err := cmd.Output()
		if err != nil {
			t.Fatalf("make procs %v: %v", tt.args, err)
		}
		got := strings.Fields(string(out))
		want := runFleet(t, tt.withImport)
		if tt.want {
			want = append(want, intake)
		}
		if !slices.Equal(got, want) {
			t.Errorf("make procs %v = %v, want %v", tt.args, got, want)
		}
	}
}

// The systemd units, installed by `make install-systemd` into a scratch
// prefix, pass `systemd-analyze verify` for every binary of the fleet.
func TestSystemdUnitsVerify(t *testing.T) {
	if _, err := exec.LookPath("systemd-analyze"); err != nil {
		t.Fatal("systemd-analyze is missing (Debian package systemd)")
	}
	dir := t.TempDir()
	units := filepath.Join(dir, "systemd")
	install := func(args ...string) {
		t.Helper()
		cmd := exec.Command("make", append([]string{"-s", "-C", "..", "install-systemd",
			"BIN=" + filepath.Join(dir, "build"), "PREFIX=" + filepath.Join(dir, "usr"),
			"SYSTEMD_DIR=" + units, "ENV_DIR=" + filepath.Join(dir, "etc"), "SYSTEMD_ENABLE=no"}, args...)...)
		if out, err := cmd.CombinedOutput(); err != nil {
			t.Fatalf("make install-systemd %v: %v\n%s", args, err, out)
		}
	}
	// The intake only when asked, even with INTAKE_API_URL in the repository's .env.
	install("TPI_ENV_FILE=" + writeEnv(t, "INTAKE_API_URL=http://127.0.0.1:8080\n"))
	intakeUnit := filepath.Join(units, "tpi-"+intake+".service")
	if _, err := os.Stat(intakeUnit); err == nil {
		t.Errorf("make install-systemd without INTAKE=1 installed %s", intakeUnit)
	}
	// INTAKE=1: the unit, and intake/ with its dependencies (NPM=true: the
	// npm ci is not run here).
	install("INTAKE=1", "NPM=true")
	intakeDir := filepath.Join(dir, "usr", "lib", "tpi-workers", "intake")
	if _, err := os.Stat(filepath.Join(intakeDir, "src", "main.js")); err != nil {
		t.Errorf("the intake's sources are not installed: %v", err)
	}
	checkIntakeUnit(t, intakeUnit, filepath.Join(dir, "usr", "lib", "tpi-workers", "tpi-exec"), intakeDir, filepath.Join(dir, "etc", "env"))
	tmpl, err := os.ReadFile(filepath.Join(units, "tpi-worker@.service"))
	if err != nil {
		t.Fatal(err)
	}
	unit := parseINI(string(tmpl))
	svc := unit["Service"]
	for k, want := range map[string]string{"Restart": "always", "TimeoutStopSec": "40", "MemoryMax": "1280M",
		"ExecStart": filepath.Join(dir, "usr", "lib", "tpi-workers", "tpi-exec") + " %i"} {
		if svc[k] != want {
			t.Errorf("[Service] %s=%q, want %q", k, svc[k], want)
		}
	}
	if !strings.Contains(string(tmpl), "Environment=TPI_ENV_FILE="+filepath.Join(dir, "etc", "env")) {
		t.Error("the unit does not point at the installed env file")
	}
	if unit["Install"]["WantedBy"] != "tpi-workers.target" {
		t.Errorf("WantedBy %q", unit["Install"]["WantedBy"])
	}
	args := []string{"verify", filepath.Join(units, "tpi-workers.target"), intakeUnit}
	for _, n := range fleet(t) {
		if _, err := os.Stat(filepath.Join(dir, "usr", "bin", n)); err != nil {
			t.Errorf("binary %s not installed: %v", n, err)
		}
		inst := filepath.Join(units, "tpi-worker@"+n+".service")
		if err := os.WriteFile(inst, tmpl, 0o644); err != nil {
			t.Fatal(err)
		}
		args = append(args, inst)
	}
	out, err := exec.Command("systemd-analyze", args...).CombinedOutput()
	if err != nil || len(strings.TrimSpace(string(out))) != 0 {
		t.Errorf("systemd-analyze verify: %v\n%s", err, out)
	}
}

// writeEnv writes an env file in a scratch directory and returns its path.
func writeEnv(t *testing.T, text string) string {
	t.Helper()
	p := filepath.Join(t.TempDir(), "env")
	if err := os.WriteFile(p, []byte(text), 0o600); err != nil {
		t.Fatal(err)
	}
	return p
}

// checkIntakeUnit: the installed tpi-bullmq-intake.service runs node through
// tpi-exec with the fleet's env file, is restarted, stops with SIGTERM within
// a timeout above INTAKE_SHUTDOWN_TIMEOUT, and belongs to tpi-workers.target.
func checkIntakeUnit(t *testing.T, path, tpiExec, intakeDir, envFile string) {
	t.Helper()
	data, err := os.ReadFile(path)
	if err != nil {
		t.Fatalf("make install-systemd INTAKE=1: %v", err)
	}
	unit := parseINI(string(data))
	svc := unit["Service"]
	for k, want := range map[string]string{"Type": "simple", "Restart": "always", "KillSignal": "SIGTERM",
		"ExecStart": tpiExec + " " + intake} {
		if svc[k] != want {
			t.Errorf("%s: [Service] %s=%q, want %q", filepath.Base(path), k, svc[k], want)
		}
	}
	if s, _ := strconv.Atoi(svc["TimeoutStopSec"]); s <= 10 {
		t.Errorf("TimeoutStopSec %q must exceed INTAKE_SHUTDOWN_TIMEOUT (10 s)", svc["TimeoutStopSec"])
	}
	for _, want := range []string{"Environment=TPI_ENV_FILE=" + envFile, "Environment=TPI_INTAKE_DIR=" + intakeDir} {
		if !strings.Contains(string(data), want) {
			t.Errorf("%s lacks %s", filepath.Base(path), want)
		}
	}
	if unit["Unit"]["PartOf"] != "tpi-workers.target" || unit["Install"]["WantedBy"] != "tpi-workers.target" {
		t.Errorf("%s: PartOf %q WantedBy %q, want tpi-workers.target", filepath.Base(path), unit["Unit"]["PartOf"], unit["Install"]["WantedBy"])
	}
}

// The PM2 ecosystem loads in Node.js and runs one Go binary per app,
// without an interpreter, through tpi-exec.
func TestPM2Ecosystem(t *testing.T) {
	if _, err := exec.LookPath("node"); err != nil {
		t.Fatal("node is missing")
	}
	bin := t.TempDir()
	for _, n := range append(fleet(t), "tpictl") {
		if err := os.WriteFile(filepath.Join(bin, n), []byte("#!/bin/sh\n"), 0o755); err != nil {
			t.Fatal(err)
		}
	}
	// Without INTAKE_API_URL in the env file: the fleet; with it, the intake
	// too, stopped with SIGTERM (PM2's default SIGINT is not its drain). The
	// import-worker only with AWS_BUCKET_NAME in the env file, or IMPORT=1.
	for _, tt := range []struct {
		envFile            string
		importSwitch       string
		intake, withImport bool
	}{
		{"/etc/tpi-workers/env", "", false, false},
		{writeEnv(t, "INTAKE_API_URL=http://127.0.0.1:8080\n"), "", true, false},
		{writeEnv(t, "AWS_BUCKET_NAME=testplanit\n"), "", false, true},
		{writeEnv(t, "AWS_BUCKET_NAME=testplanit\nINTAKE_API_URL=http://127.0.0.1:8080\n"), "0", true, false},
		{"/etc/tpi-workers/env", "1", false, true},
	} {
		cmd := exec.Command("node", "-e", `process.stdout.write(JSON.stringify(require("./pm2/ecosystem.config.js")))`)
		cmd.Env = makeEnv("TPI_BIN="+bin, "TPI_ENV_FILE="+tt.envFile, "IMPORT="+tt.importSwitch)
		out, err := cmd.Output()
		if err != nil {
			t.Fatalf("node: %v", err)
		}
		var eco struct {
			Apps []struct {
				Name, Script, Interpreter string
				Args                      []string
				Autorestart               bool   `json:"autorestart"`
				KillTimeout               int    `json:"kill_timeout"`
				KillSignal                string `json:"kill_signal"`
				MaxMemoryRestart          string `json:"max_memory_restart"`
				Env                       map[string]string
			}
		}
		if err := json.Unmarshal(out, &eco); err != nil {
			t.Fatal(err)
		}
		var names []string
		for _, a := range eco.Apps {
			names = append(names, a.Name)
			if a.Interpreter != "none" || !strings.HasSuffix(a.Script, "/deploy/tpi-exec") || !slices.Equal(a.Args, []string{a.Name}) {
				t.Errorf("%s: script %q args %v interpreter %q", a.Name, a.Script, a.Args, a.Interpreter)
			}
			if !a.Autorestart || a.KillTimeout <= 25000 || a.MaxMemoryRestart == "" {
				t.Errorf("%s: autorestart %v kill_timeout %d max_memory_restart %q", a.Name, a.Autorestart, a.KillTimeout, a.MaxMemoryRestart)
			}
			if a.Env["TPI_BIN"] != bin || a.Env["TPI_ENV_FILE"] != tt.envFile {
				t.Errorf("%s: env %v", a.Name, a.Env)
			}
			if a.Name == intake && a.KillSignal != "SIGTERM" {
				t.Errorf("%s: kill_signal %q, want SIGTERM", a.Name, a.KillSignal)
			}
		}
		want := runFleet(t, tt.withImport)
		if tt.intake {
			want = append(want, intake)
		}
		if !slices.Equal(names, want) {
			t.Errorf("env file %s, IMPORT=%s: apps %v, want %v", tt.envFile, tt.importSwitch, names, want)
		}
	}

	cmd := exec.Command("node", "-e", `require("./pm2/ecosystem.config.js")`)
	cmd.Env = append(os.Environ(), "TPI_BIN="+t.TempDir())
	if out, err := cmd.CombinedOutput(); err == nil || !strings.Contains(string(out), "run `make build` first") {
		t.Errorf("an empty bin dir must stop pm2 with a hint: %v %s", err, out)
	}
}

// parseINI reads the key=value sections of a supervisord or systemd file
// (comments and continuation lines aside).
func parseINI(s string) map[string]map[string]string {
	out := map[string]map[string]string{}
	var cur map[string]string
	for _, line := range strings.Split(s, "\n") {
		line = strings.TrimSpace(line)
		switch {
		case line == "" || line[0] == ';' || line[0] == '#':
		case line[0] == '[' && line[len(line)-1] == ']':
			cur = map[string]string{}
			out[line[1:len(line)-1]] = cur
		case cur != nil:
			if k, v, ok := strings.Cut(line, "="); ok {
				cur[strings.TrimSpace(k)] = strings.TrimSpace(v)
			}
		}
	}
	return out
}
