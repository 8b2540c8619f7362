package dashboard

import (
	"bytes"
	"context"
	"io"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"testing"

	"github.com/hibiken/asynq"
	"golang.org/x/crypto/bcrypt"

	"github.com/testplanit/tpi-workers/internal/testenv"
	"github.com/testplanit/tpi-workers/pkg/task"
)

const benchBody = `{"type":"notifications:create-notification","payload":{"userId":"u1","type":"WORK_ASSIGNED","title":"Assigned","message":"Login works was assigned to you"}}`

// BenchmarkEnqueue compares a producer's two ways in: the asynq client in
// Go (the baseline) and POST /api/v1/tasks over loopback HTTP, both into
// the real Redis.
func BenchmarkEnqueue(b *testing.B) {
	opt, _ := testenv.Redis(b)
	b.Run("asynq-client", func(b *testing.B) {
		client := asynq.NewClient(opt)
		defer client.Close()
		for b.Loop() {
			t, err := task.New(task.TypeCreateNotification, []byte(`{"userId":"u1","type":"WORK_ASSIGNED","title":"Assigned","message":"Login works was assigned to you"}`))
			if err != nil {
				b.Fatal(err)
			}
			if _, err := client.EnqueueContext(context.Background(), t); err != nil {
				b.Fatal(err)
			}
		}
	})
	b.Run("http-api", func(b *testing.B) {
		s, err := New(Config{Addr: ":8080", RootPath: "/admin/queues", Redis: opt,
			Credentials: Credentials{AdminTokenHash: HashToken("a"), ProducerTokenHash: HashToken(producerToken)}}, slog.New(slog.DiscardHandler))
		if err != nil {
			b.Fatal(err)
		}
		defer s.Close()
		hs := httptest.NewServer(s.Handler())
		defer hs.Close()
		client := hs.Client()
		for b.Loop() {
			req, _ := http.NewRequest(http.MethodPost, hs.URL+"/api/v1/tasks", bytes.NewReader([]byte(benchBody)))
			req.Header.Set("Content-Type", "application/json")
			req.Header.Set("Authorization", "Bearer "+producerToken)
			resp, err := client.Do(req)
			if err != nil {
				b.Fatal(err)
			}
			_, _ = io.Copy(io.Discard, resp.Body)
			resp.Body.Close()
			if resp.StatusCode != http.StatusCreated {
				b.Fatalf("status %d", resp.StatusCode)
			}
		}
	})
}

// BenchmarkAuth is the cost of checking one request's credentials: a bearer
// token (SHA-256), a basic-auth password checked with bcrypt at the default
// cost, and the same once cached.
func BenchmarkAuth(b *testing.B) {
	hash, err := bcrypt.GenerateFromPassword([]byte("s3cret-admin"), bcrypt.DefaultCost)
	if err != nil {
		b.Fatal(err)
	}
	creds := Credentials{AdminUser: "admin", AdminPasswordHash: string(hash), AdminTokenHash: HashToken(adminToken)}
	bearer, _ := http.NewRequest(http.MethodGet, "/", nil)
	bearer.Header.Set("Authorization", "Bearer "+adminToken)
	basic, _ := http.NewRequest(http.MethodGet, "/", nil)
	basic.SetBasicAuth("admin", "s3cret-admin")
	for _, bc := range []struct {
		name  string
		req   *http.Request
		fresh bool // a new authenticator each time: no cache
	}{
		{"bearer-sha256", bearer, false},
		{"basic-bcrypt-uncached", basic, true},
		{"basic-bcrypt-cached", basic, false},
	} {
		b.Run(bc.name, func(b *testing.B) {
			a := newAuthenticator(creds, false)
			a.role(bc.req) // warm the cache (for the cached case)
			for b.Loop() {
				if bc.fresh {
					a = newAuthenticator(creds, false)
				}
				if a.role(bc.req) != RoleAdmin {
					b.Fatal("refused")
				}
			}
		})
	}
}
