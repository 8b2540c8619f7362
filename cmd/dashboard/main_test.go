package main

import (
	"bufio"
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/testplanit/tpi-workers/internal/dashboard"
	"github.com/testplanit/tpi-workers/internal/testenv"
)

func TestRunRefusesToStartWithoutCredentials(t *testing.T) {
	_, url := testenv.Redis(t)
	for _, tt := range []struct {
		env  map[string]string
		want string
	}{
		{map[string]string{"VALKEY_URL": url}, "config: DASHBOARD_PASSWORD_HASH: no dashboard credentials"},
		{map[string]string{"VALKEY_URL": url, "DASHBOARD_ADDR": "127.0.0.1:0"}, "no dashboard credentials"},
		{map[string]string{"VALKEY_URL": url, "DASHBOARD_INSECURE_OPEN": "true"}, `DASHBOARD_INSECURE_OPEN: refused because DASHBOARD_ADDR ":8080" is not a loopback address`},
		{map[string]string{"VALKEY_URL": url, "DASHBOARD_ADDR": "0.0.0.0:8080", "DASHBOARD_INSECURE_OPEN": "true"}, "is not a loopback address"},
		{map[string]string{"VALKEY_URL": url, "DASHBOARD_USER": "admin", "DASHBOARD_PASSWORD_HASH": "plain-password"}, "DASHBOARD_PASSWORD_HASH: not a bcrypt hash"},
		{map[string]string{"VALKEY_URL": url, "DASHBOARD_INSECURE_OPEN": "maybe"}, "config: DASHBOARD_INSECURE_OPEN:"},
		{map[string]string{"DASHBOARD_TOKEN_HASH": dashboard.HashToken("x")}, "config: VALKEY_URL: required but not set"},
	} {
		err := run(context.Background(), func(k string) string { return tt.env[k] }, io.Discard)
		if err == nil || !strings.Contains(err.Error(), tt.want) {
			t.Errorf("env %v: err %v, want %q", tt.env, err, tt.want)
		}
	}
}

func TestRunServesAndStops(t *testing.T) {
	_, url := testenv.Redis(t)
	addr := freeAddr(t)
	env := map[string]string{"VALKEY_URL": url, "DASHBOARD_ADDR": addr, "DASHBOARD_TOKEN_HASH": dashboard.HashToken("tok-admin")}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- run(ctx, func(k string) string { return env[k] }, io.Discard) }()
	testenv.Eventually(t, 10*time.Second, func() bool {
		resp, err := http.Get("http://" + addr + "/healthz")
		if err != nil {
			return false
		}
		resp.Body.Close()
		return resp.StatusCode == 200
	}, "/healthz")
	// The same JSON health as every process of the fleet, without credentials.
	for path, want := range map[string]string{
		"/healthz": `{"service":"dashboard","status":"ok"}`,
		"/readyz":  `{"state":"running","valkey":"ok"}`,
	} {
		resp, err := http.Get("http://" + addr + path)
		if err != nil {
			t.Fatal(err)
		}
		b, _ := io.ReadAll(resp.Body)
		resp.Body.Close()
		if resp.StatusCode != 200 || strings.TrimSpace(string(b)) != want {
			t.Errorf("%s: %d %s, want 200 %s", path, resp.StatusCode, b, want)
		}
	}
	req, _ := http.NewRequest("GET", "http://"+addr+"/metrics", nil)
	req.Header.Set("Authorization", "Bearer tok-admin")
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	b, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	if resp.StatusCode != 200 || !strings.Contains(string(b), "asynq_") && !strings.Contains(string(b), "go_goroutines") {
		t.Errorf("/metrics %d %.200s", resp.StatusCode, b)
	}
	cancel()
	select {
	case err := <-done:
		if err != nil {
			t.Fatal(err)
		}
	case <-time.After(10 * time.Second):
		t.Fatal("run did not return")
	}
}

// lockedBuffer collects a process's logs, written from several goroutines.
type lockedBuffer struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (l *lockedBuffer) Write(p []byte) (int, error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.b.Write(p)
}

func (l *lockedBuffer) String() string {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.b.String()
}

// startRun runs the dashboard with env until the test ends, and returns
// once it serves /healthz.
func startRun(t *testing.T, env map[string]string, stderr io.Writer) {
	t.Helper()
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- run(ctx, func(k string) string { return env[k] }, stderr) }()
	t.Cleanup(func() {
		cancel()
		select {
		case err := <-done:
			if err != nil {
				t.Errorf("run: %v", err)
			}
		case <-time.After(10 * time.Second):
			t.Error("run did not return")
		}
	})
	testenv.Eventually(t, 10*time.Second, func() bool {
		resp, err := http.Get("http://" + env["DASHBOARD_ADDR"] + "/healthz")
		if err != nil {
			return false
		}
		resp.Body.Close()
		return resp.StatusCode == 200
	}, "/healthz")
}

func TestRunWarnsThatOpenModeIgnoresCredentials(t *testing.T) {
	_, url := testenv.Redis(t)
	var logs lockedBuffer
	startRun(t, map[string]string{"VALKEY_URL": url, "DASHBOARD_ADDR": freeAddr(t), "DASHBOARD_INSECURE_OPEN": "true",
		"DASHBOARD_TOKEN_HASH": dashboard.HashToken("tok-admin")}, &logs)
	testenv.Eventually(t, 5*time.Second, func() bool { return strings.Contains(logs.String(), "dashboard listening") }, "the start logs")
	if !strings.Contains(logs.String(), "credentials are IGNORED") || !strings.Contains(logs.String(), "DASHBOARD_TOKEN_HASH") {
		t.Errorf("no warning that DASHBOARD_TOKEN_HASH is ignored:\n%s", logs.String())
	}
}

// TestServerBoundsHeadersAndClosesIdleAndSlowConnections talks raw HTTP to
// the running binary's server: oversized headers are refused, and neither
// an idle keep-alive connection nor a body that never arrives holds a
// connection open for good.
func TestServerBoundsHeadersAndClosesIdleAndSlowConnections(t *testing.T) {
	_, url := testenv.Redis(t)
	addr := freeAddr(t)
	startRun(t, map[string]string{"VALKEY_URL": url, "DASHBOARD_ADDR": addr, "DASHBOARD_INSECURE_OPEN": "true"}, io.Discard)

	req, _ := http.NewRequest("GET", "http://"+addr+"/healthz", nil)
	req.Header.Set("X-Padding", strings.Repeat("x", 100<<10))
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if resp.StatusCode != http.StatusRequestHeaderFieldsTooLarge {
		t.Errorf("100 KiB of headers: %d, want 431", resp.StatusCode)
	}

	// Both wait for the server's timeouts (15s), so they run side by side.
	const patience = 25 * time.Second
	closedWithin := func(name, request string, readFirst bool) func() error {
		return func() error {
			conn, err := net.Dial("tcp", addr)
			if err != nil {
				return err
			}
			defer conn.Close()
			if _, err := io.WriteString(conn, request); err != nil {
				return err
			}
			br := bufio.NewReader(conn)
			if readFirst {
				resp, err := http.ReadResponse(br, nil)
				if err != nil {
					return fmt.Errorf("%s: %w", name, err)
				}
				_, _ = io.Copy(io.Discard, resp.Body)
				resp.Body.Close()
			}
			start := time.Now()
			_ = conn.SetReadDeadline(start.Add(patience))
			_, err = io.Copy(io.Discard, br)
			var ne net.Error
			if errors.As(err, &ne) && ne.Timeout() {
				return fmt.Errorf("%s: the connection is still open after %s", name, patience)
			}
			t.Logf("%s: closed after %s", name, time.Since(start).Round(time.Second))
			return nil
		}
	}
	checks := []func() error{
		closedWithin("idle keep-alive connection", "GET /healthz HTTP/1.1\r\nHost: 127.0.0.1\r\n\r\n", true),
		closedWithin("body that never arrives", "POST /api/v1/tasks HTTP/1.1\r\nHost: 127.0.0.1\r\nContent-Type: application/json\r\nContent-Length: 1000\r\n\r\n{\"type\":", false),
	}
	errs := make(chan error, len(checks))
	for _, c := range checks {
		go func() { errs <- c() }()
	}
	for range checks {
		if err := <-errs; err != nil {
			t.Error(err)
		}
	}
}
