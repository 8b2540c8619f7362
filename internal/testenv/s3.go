package testenv

import (
	"fmt"
	"go/build"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"testing"
	"time"
)

// VersityGWVersion is the versitygw that tests run and docker-compose.yml
// pins (scripts/ci-services.sh installs it).
const VersityGWVersion = "v1.8.0"

// S3Bucket is the bucket that [StartS3] creates.
const S3Bucket = "testplanit"

// S3 is a private versitygw for one test: a real S3 server (SigV4 signed
// requests only, unsigned ones refused) whose posix backend keeps each
// bucket as a directory of a temporary directory, on a free loopback port.
// It is stopped at cleanup.
type S3 struct {
	// Endpoint is its URL, http://127.0.0.1:<port> (path-style addressing).
	Endpoint string
	// AccessKey and SecretKey are its root account's credentials.
	AccessKey, SecretKey string
	// Region is the region to sign for.
	Region string
	// Bucket is an empty bucket made at start ([S3Bucket]).
	Bucket string
	// Dir is the posix backend's root: Dir/<bucket>/<key> is an object.
	Dir string
	// Proc is the server's process.
	Proc *Proc
}

// VersityGWBinary finds versitygw in PATH or in $(go env GOPATH)/bin.
func VersityGWBinary() (string, error) {
	if p, err := exec.LookPath("versitygw"); err == nil {
		return p, nil
	}
	for _, dir := range filepath.SplitList(build.Default.GOPATH) {
		p := filepath.Join(dir, "bin", "versitygw")
		if fi, err := os.Stat(p); err == nil && !fi.IsDir() {
			return p, nil
		}
	}
	return "", fmt.Errorf("versitygw not found in PATH or $(go env GOPATH)/bin; install it with scripts/ci-services.sh (go install github.com/versity/versitygw/cmd/versitygw@%s)", VersityGWVersion)
}

// StartS3 starts a private versitygw with the bucket [S3Bucket] and waits
// until it answers. A missing binary fails the test (never skips).
func StartS3(t testing.TB) *S3 {
	t.Helper()
	bin, err := VersityGWBinary()
	if err != nil {
		t.Fatalf("testenv: %v", err)
	}
	s := &S3{AccessKey: "tpi-test-access", SecretKey: "tpi-test-secret-key", Region: "us-east-1", Bucket: S3Bucket, Dir: t.TempDir()}
	// A directory at the root is a bucket of the posix backend, owned by
	// the root account.
	if err := os.Mkdir(filepath.Join(s.Dir, s.Bucket), 0o755); err != nil {
		t.Fatal(err)
	}
	// The port was free a moment ago: another process may take it first,
	// then versitygw exits and another port is tried.
	for range 3 {
		port := FreePortIn(t, 40000, 50000)
		addr := fmt.Sprintf("127.0.0.1:%d", port)
		s.Endpoint = "http://" + addr
		s.Proc = StartProc(t, fmt.Sprintf("versitygw-%d", port), bin,
			[]string{"--access", s.AccessKey, "--secret", s.SecretKey, "--region", s.Region, "--port", addr, "posix", s.Dir},
			[]string{"PATH=" + os.Getenv("PATH"), "HOME=" + s.Dir})
		if s.waitReady() {
			return s
		}
		if s.Proc.Alive() {
			t.Fatalf("testenv: versitygw on %s does not answer after 15s:\n%s", addr, s.Proc.Output(t))
		}
		t.Logf("testenv: versitygw on %s exited at start:\n%s", addr, s.Proc.Output(t))
	}
	t.Fatal("testenv: versitygw did not start")
	return nil
}

// waitReady waits for any HTTP answer (an unsigned request gets a 403)
// while the process lives.
func (s *S3) waitReady() bool {
	c := http.Client{Timeout: time.Second}
	deadline := time.Now().Add(15 * time.Second)
	for time.Now().Before(deadline) && s.Proc.Alive() {
		if resp, err := c.Get(s.Endpoint + "/"); err == nil {
			resp.Body.Close()
			return true
		}
		time.Sleep(20 * time.Millisecond)
	}
	return false
}

// Env is the environment that points a child process (a worker, tpictl) at
// this server, with TestPlanIt's variables.
func (s *S3) Env() []string {
	return []string{
		"AWS_ENDPOINT_URL=" + s.Endpoint,
		"AWS_REGION=" + s.Region,
		"AWS_ACCESS_KEY_ID=" + s.AccessKey,
		"AWS_SECRET_ACCESS_KEY=" + s.SecretKey,
		"AWS_BUCKET_NAME=" + s.Bucket,
		"AWS_EC2_METADATA_DISABLED=true",
	}
}
