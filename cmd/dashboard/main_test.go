package main

import (
	"context"
	"io"
	"net/http"
	"strings"
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
