package cluster

import (
	"context"
	"io"
	"math/rand/v2"
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"syscall"
	"testing"
	"time"

	"github.com/redis/go-redis/v9"

	"github.com/testplanit/tpi-workers/internal/testenv"
)

// proc is a child process of the test: a redis-server, a sentinel or one of
// the fleet's binaries. Its output goes to a log file, dumped when the test
// fails. It is stopped at cleanup (SIGTERM, then SIGKILL).
type proc struct {
	name string
	cmd  *exec.Cmd
	log  string
	done chan struct{} // closed when the process has exited
}

func startProc(t *testing.T, name, bin string, args, env []string) *proc {
	t.Helper()
	p := &proc{name: name, log: filepath.Join(t.TempDir(), name+".log"), done: make(chan struct{})}
	logf, err := os.Create(p.log)
	if err != nil {
		t.Fatal(err)
	}
	p.cmd = exec.Command(bin, args...)
	p.cmd.Env = env
	p.cmd.Stdout, p.cmd.Stderr = logf, logf
	if err := p.cmd.Start(); err != nil {
		logf.Close()
		t.Fatalf("start %s: %v", name, err)
	}
	go func() {
		_ = p.cmd.Wait()
		logf.Close()
		close(p.done)
	}()
	t.Cleanup(func() {
		p.stop(10 * time.Second)
		if t.Failed() {
			dumpFile(t, p.log)
		}
	})
	return p
}

// alive reports whether the process has not exited.
func (p *proc) alive() bool {
	select {
	case <-p.done:
		return false
	default:
		return true
	}
}

// kill9 sends SIGKILL and waits for the exit.
func (p *proc) kill9() {
	_ = p.cmd.Process.Signal(syscall.SIGKILL)
	<-p.done
}

// stop sends SIGTERM and waits up to grace before SIGKILL.
func (p *proc) stop(grace time.Duration) {
	if !p.alive() {
		return
	}
	_ = p.cmd.Process.Signal(syscall.SIGTERM)
	select {
	case <-p.done:
	case <-time.After(grace):
		p.kill9()
	}
}

// logText is the process's output so far.
func (p *proc) logText(t *testing.T) string {
	t.Helper()
	b, err := os.ReadFile(p.log)
	if err != nil {
		t.Fatal(err)
	}
	return string(b)
}

func dumpFile(t *testing.T, path string) {
	b, err := os.ReadFile(path)
	if err != nil {
		return
	}
	if len(b) > 8000 {
		b = b[len(b)-8000:]
	}
	t.Logf("---- %s (tail) ----\n%s", filepath.Base(path), b)
}

// freePort returns a port in [lo, hi) on 127.0.0.1 that was free a moment
// ago, picked at random so that parallel test binaries rarely collide.
func freePort(t *testing.T, lo, hi int) int {
	t.Helper()
	for range 200 {
		port := lo + rand.IntN(hi-lo)
		ln, err := net.Listen("tcp", "127.0.0.1:"+strconv.Itoa(port))
		if err == nil {
			ln.Close()
			return port
		}
	}
	t.Fatalf("no free port in [%d, %d)", lo, hi)
	return 0
}

func addr(port int) string { return "127.0.0.1:" + strconv.Itoa(port) }

func waitPing(t *testing.T, port int) {
	t.Helper()
	c := redis.NewClient(&redis.Options{Addr: addr(port), MaxRetries: -1, DialTimeout: 200 * time.Millisecond})
	defer c.Close()
	testenv.Eventually(t, 10*time.Second, func() bool {
		return c.Ping(context.Background()).Err() == nil
	}, "redis on port %d answers PING", port)
}

// httpGet returns the status and body of http://addr/path; 0 when the
// request fails.
func httpGet(addr, path string) (int, string) {
	c := http.Client{Timeout: 3 * time.Second}
	resp, err := c.Get("http://" + addr + path)
	if err != nil {
		return 0, ""
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	return resp.StatusCode, string(b)
}

// buildFleet builds the named binaries of cmd/ into a temporary directory.
func buildFleet(t *testing.T, names ...string) string {
	t.Helper()
	dir := t.TempDir()
	args := []string{"build", "-o", dir + "/"}
	for _, n := range names {
		args = append(args, "./cmd/"+n)
	}
	build := exec.Command("go", args...)
	build.Dir = "../.."
	build.Env = append(os.Environ(), "CGO_ENABLED=0")
	if out, err := build.CombinedOutput(); err != nil {
		t.Fatalf("building %v: %v\n%s", names, err, out)
	}
	return dir
}
