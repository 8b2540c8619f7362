package dashboard

import (
	"encoding/json"
	"log/slog"
	"net/http"
	"reflect"
	"strings"
	"testing"
	"time"
	"unicode/utf8"

	"github.com/hibiken/asynq"

	"github.com/testplanit/tpi-workers/pkg/task"
)

// FuzzParseEnqueue feeds arbitrary bodies to the enqueue API's parser: it
// must not panic, and what it accepts is valid UTF-8 and names a known type
// and valid options.
func FuzzParseEnqueue(f *testing.F) {
	now := time.Date(2029, 6, 1, 12, 0, 0, 0, time.UTC)
	for _, s := range []string{
		benchBody,
		`{"type":"notifications:send-daily-digest"}`,
		`{"type":"elasticsearch-reindex:reindex","payload":{"entityType":"all"},"options":{"jobId":"x","delay":5,"maxRetry":1,"timeout":"2s","retention":"1h"}}`,
		`{"type":"x","options":{"processAt":"2030-01-01T00:00:00Z"}}`,
		`{"type":`, `[]`, `null`, `{"type":"notifications:send-daily-digest","options":{"taskId":"\u0000"}}`,
		`{"type":"notifications:send-daily-digest","options":{"taskId":"a/../b","processAt":"9999-01-01T00:00:00Z"}}`,
		"{\"type\":\"notifications:send-daily-digest\",\"payload\":{\"a\":[\"\xff\"]}}",
	} {
		f.Add([]byte(s))
	}
	f.Fuzz(func(t *testing.T, body []byte) {
		req, opts, err := parseEnqueue(body, now)
		if err != nil {
			return
		}
		if !utf8.Valid(body) {
			t.Fatalf("accepted invalid UTF-8 %q", body)
		}
		if at := req.Options.ProcessAt; at != nil && (at.After(now.Add(maxProcessAhead)) || at.Before(now.Add(-maxProcessBehind))) {
			t.Fatalf("accepted processAt %s", at)
		}
		if _, ok := task.QueueOf(req.Type); !ok {
			t.Fatalf("accepted unknown type %q", req.Type)
		}
		if req.Options.TaskID != "" && checkTaskID(req.Options.TaskID) != nil {
			t.Fatalf("accepted task ID %q", req.Options.TaskID)
		}
		_, _ = task.New(req.Type, req.Payload, opts...) // must not panic
	})
}

// FuzzAuthorization feeds arbitrary Authorization headers: only the exact
// credentials grant a role.
func FuzzAuthorization(f *testing.F) {
	creds := Credentials{AdminUser: "admin", AdminPasswordHash: dummyHash, AdminTokenHash: HashToken(adminToken), ProducerTokenHash: HashToken(producerToken)}
	a := newAuthenticator(creds, false)
	for _, s := range []string{"Bearer " + adminToken, "Bearer " + producerToken, "Basic YWRtaW46eA==", "Basic", "Bearer", "", "bearer  " + adminToken} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, h string) {
		r, _ := http.NewRequest(http.MethodGet, "/", nil)
		r.Header.Set("Authorization", h)
		switch role := a.role(r); role {
		case RoleNone:
		case RoleAdmin:
			if strings.TrimSpace(h[strings.IndexByte(h, ' ')+1:]) != adminToken {
				t.Fatalf("%q granted admin", h)
			}
		case RoleProducer:
			if strings.TrimSpace(h[strings.IndexByte(h, ' ')+1:]) != producerToken {
				t.Fatalf("%q granted producer", h)
			}
		default:
			t.Fatalf("%q granted %s", h, role)
		}
	})
}

// FuzzWithTenant feeds arbitrary payloads and tenants: no panic, and an
// accepted payload is a JSON object naming the tenant, with the other
// fields kept.
func FuzzWithTenant(f *testing.F) {
	for _, s := range []struct{ payload, tenant string }{
		{`{}`, "acme"}, {`{"userId":"u1","tenantId":"acme"}`, "acme"}, {`{"tenantId":"globex"}`, "acme"},
		{`{"tenantId":null,"a":[1,{"b":"<&>"}]}`, "acme"}, {`[]`, "acme"}, {`"x"`, "a\u0000"}, {`{"tenantId":5}`, "acme"}, {``, "acme"},
	} {
		f.Add([]byte(s.payload), s.tenant)
	}
	f.Fuzz(func(t *testing.T, payload []byte, tenant string) {
		out, err := WithTenant(payload, tenant)
		if err != nil || tenant == "" {
			return
		}
		var got map[string]any
		if err := json.Unmarshal(out, &got); err != nil {
			t.Fatalf("%q -> %q: %v", payload, out, err)
		}
		if got["tenantId"] != tenant {
			t.Fatalf("%q -> %q: tenantId %v, want %q", payload, out, got["tenantId"], tenant)
		}
		var in map[string]any
		if json.Unmarshal(payload, &in) == nil {
			delete(in, "tenantId")
			delete(got, "tenantId")
			if !reflect.DeepEqual(in, got) {
				t.Fatalf("%q -> %q: other fields changed", payload, out)
			}
		}
	})
}

// FuzzNewRootPath feeds arbitrary DASHBOARD_PATH values to New: it must
// never panic (http.ServeMux panics on a pattern it cannot parse), and a
// path it refuses is named in a one-line error.
func FuzzNewRootPath(f *testing.F) {
	for _, s := range []string{"/admin/queues", "//", "/a b", "/{x}", "/a/{$}", "/a/../b", "/..", "/api", "/a/", "GET /a", "/%2F", "/é", "/a\n", ""} {
		f.Add(s)
	}
	opt := asynq.RedisClientOpt{Addr: "127.0.0.1:6379"}
	f.Fuzz(func(t *testing.T, p string) {
		s, err := New(Config{Addr: ":8080", RootPath: p, Redis: opt, Credentials: Credentials{AdminTokenHash: HashToken("a")}}, slog.New(slog.DiscardHandler))
		if err != nil {
			if !strings.HasPrefix(err.Error(), "config: DASHBOARD_PATH: ") || strings.Count(err.Error(), "\n") > 0 {
				t.Fatalf("%q: %v", p, err)
			}
			return
		}
		s.Close()
		if checkRootPath(p) != nil {
			t.Fatalf("%q: New accepted what checkRootPath refuses", p)
		}
	})
}
