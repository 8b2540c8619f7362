package failover

import (
	"fmt"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/testplanit/tpi-workers/internal/testenv"
)

func addr(port int) string { return "127.0.0.1:" + strconv.Itoa(port) }

// redisServer starts a private redis-server on a free loopback port, with
// no persistence and its working directory in a temporary directory. A
// replica's first synchronisation starts at once (not after the 5 s that a
// primary waits by default for more replicas to share it).
func redisServer(t *testing.T, name string, extra ...string) (*testenv.Proc, int) {
	t.Helper()
	port := testenv.FreePortIn(t, 30000, 40000)
	args := append([]string{"--port", strconv.Itoa(port), "--bind", "127.0.0.1", "--save", "", "--appendonly", "no",
		"--dir", t.TempDir(), "--protected-mode", "no", "--repl-diskless-sync-delay", "0"}, extra...)
	p := testenv.StartProc(t, name, "redis-server", args, os.Environ())
	testenv.WaitRedisPing(t, port)
	return p, port
}

// sentinel starts a redis-server in sentinel mode monitoring master, with
// quorum 2, down after 1 s, and failoverTimeout. Sentinel rewrites its
// configuration file, so the file lives in a temporary directory.
func sentinel(t *testing.T, name, master string, masterPort int, failoverTimeout time.Duration) (*testenv.Proc, int) {
	t.Helper()
	port := testenv.FreePortIn(t, 30000, 40000)
	dir := t.TempDir()
	conf := filepath.Join(dir, "sentinel.conf")
	body := fmt.Sprintf(`port %d
bind 127.0.0.1
dir %s
protected-mode no
sentinel monitor %s 127.0.0.1 %d 2
sentinel down-after-milliseconds %s 1000
sentinel failover-timeout %s %d
sentinel parallel-syncs %s 1
`, port, dir, master, masterPort, master, master, failoverTimeout.Milliseconds(), master)
	if err := os.WriteFile(conf, []byte(body), 0o644); err != nil {
		t.Fatal(err)
	}
	p := testenv.StartProc(t, name, "redis-server", []string{conf, "--sentinel"}, os.Environ())
	testenv.WaitRedisPing(t, port)
	return p, port
}

// metric returns the value of the first /metrics line that starts with
// series, -1 when there is none.
func metric(body, series string) float64 {
	for line := range strings.SplitSeq(body, "\n") {
		if rest, ok := strings.CutPrefix(line, series+" "); ok {
			v, err := strconv.ParseFloat(strings.TrimSpace(rest), 64)
			if err == nil {
				return v
			}
		}
	}
	return -1
}
