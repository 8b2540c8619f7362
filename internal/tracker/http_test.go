package tracker_test

import (
	"context"
	"errors"
	"io"
	"net"
	"net/http"
	"net/http/httptest"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/testplanit/tpi-workers/internal/tracker"
)

// answer is one scripted reply of the test server.
type answer struct {
	status int
	header map[string]string
	body   string
}

// script is an httptest server that replies with its answers in order (the
// last one repeated) and counts the requests it saw.
type script struct {
	srv      *httptest.Server
	requests atomic.Int32
	mu       sync.Mutex
	bodies   []string // request bodies, in order
}

func newScript(t *testing.T, answers ...answer) *script {
	t.Helper()
	s := &script{}
	s.srv = httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		n := int(s.requests.Add(1)) - 1
		b, _ := io.ReadAll(r.Body)
		s.mu.Lock()
		s.bodies = append(s.bodies, string(b))
		s.mu.Unlock()
		a := answers[min(n, len(answers)-1)]
		for k, v := range a.header {
			w.Header().Set(k, v)
		}
		w.WriteHeader(a.status)
		io.WriteString(w, a.body)
	}))
	t.Cleanup(s.srv.Close)
	return s
}

// sleeps records the waits HTTP asks for instead of sleeping.
type sleeps struct {
	mu sync.Mutex
	d  []time.Duration
}

func (s *sleeps) sleep(ctx context.Context, d time.Duration) error {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.d = append(s.d, d)
	return ctx.Err()
}

func (s *sleeps) all() []time.Duration {
	s.mu.Lock()
	defer s.mu.Unlock()
	return append([]time.Duration(nil), s.d...)
}

// countingBudget counts Wait calls; err, when set, is returned by Wait.
type countingBudget struct {
	n   atomic.Int32
	err error
}

func (b *countingBudget) Wait(ctx context.Context) error {
	b.n.Add(1)
	return b.err
}

func newHTTP(sl *sleeps) *tracker.HTTP {
	return &tracker.HTTP{Provider: "test", BaseDelay: 100 * time.Millisecond, Sleep: sl.sleep}
}

func get(url string) func(context.Context) (*http.Request, error) {
	return func(ctx context.Context) (*http.Request, error) {
		req, err := http.NewRequestWithContext(ctx, http.MethodGet, url, nil)
		if err != nil {
			return nil, err
		}
		req.Header.Set("Authorization", "Bearer s3cr3t-header-token")
		return req, nil
	}
}

// between fails unless lo <= d <= hi.
func between(t *testing.T, what string, d, lo, hi time.Duration) {
	t.Helper()
	if d < lo || d > hi {
		t.Errorf("%s = %v, want between %v and %v", what, d, lo, hi)
	}
}

func TestDoSuccess(t *testing.T) {
	s := newScript(t, answer{status: 200, header: map[string]string{"X-Test": "yes"}, body: `{"ok":true}`})
	var sl sleeps
	b := &countingBudget{}
	h := newHTTP(&sl)
	h.Budget = b
	resp, err := h.Do(context.Background(), get(s.srv.URL))
	if err != nil {
		t.Fatal(err)
	}
	if resp.Status != 200 || string(resp.Body) != `{"ok":true}` || resp.Header.Get("X-Test") != "yes" {
		t.Errorf("got %d %q %v", resp.Status, resp.Body, resp.Header)
	}
	if got := s.requests.Load(); got != 1 {
		t.Errorf("requests = %d, want 1", got)
	}
	if got := b.n.Load(); got != 1 {
		t.Errorf("Budget.Wait calls = %d, want 1", got)
	}
	if len(sl.all()) != 0 {
		t.Errorf("slept %v, want no wait", sl.all())
	}
}

func TestDoRetryAfterSecondsThenSuccess(t *testing.T) {
	s := newScript(t,
		answer{status: 429, header: map[string]string{"Retry-After": "7"}, body: "slow down"},
		answer{status: 200, body: "ok"},
	)
	var sl sleeps
	resp, err := newHTTP(&sl).Do(context.Background(), get(s.srv.URL))
	if err != nil {
		t.Fatal(err)
	}
	if string(resp.Body) != "ok" {
		t.Errorf("body = %q", resp.Body)
	}
	if got := sl.all(); len(got) != 1 || got[0] != 7*time.Second {
		t.Errorf("waits = %v, want [7s]", got)
	}
	if got := s.requests.Load(); got != 2 {
		t.Errorf("requests = %d, want 2", got)
	}
}

func TestDoRetryAfterHTTPDateThenSuccess(t *testing.T) {
	at := time.Now().Add(20 * time.Second).UTC().Format(http.TimeFormat)
	s := newScript(t,
		answer{status: 429, header: map[string]string{"Retry-After": at}},
		answer{status: 200, body: "ok"},
	)
	var sl sleeps
	if _, err := newHTTP(&sl).Do(context.Background(), get(s.srv.URL)); err != nil {
		t.Fatal(err)
	}
	got := sl.all()
	if len(got) != 1 {
		t.Fatalf("waits = %v, want one", got)
	}
	// HTTP dates have a one-second resolution.
	between(t, "wait", got[0], 18*time.Second, 20*time.Second)
}

func TestDo5xxThenSuccess(t *testing.T) {
	t.Run("backoff doubles", func(t *testing.T) {
		s := newScript(t,
			answer{status: 503, body: "unavailable"},
			answer{status: 502},
			answer{status: 500},
			answer{status: 200, body: "ok"},
		)
		var sl sleeps
		if _, err := newHTTP(&sl).Do(context.Background(), get(s.srv.URL)); err != nil {
			t.Fatal(err)
		}
		got := sl.all()
		if len(got) != 3 {
			t.Fatalf("waits = %v, want 3", got)
		}
		for i, base := range []time.Duration{100, 200, 400} {
			base *= time.Millisecond
			between(t, "wait "+strconv.Itoa(i), got[i], base-base/5, base+base/5)
		}
	})
	t.Run("503 with Retry-After", func(t *testing.T) {
		s := newScript(t,
			answer{status: 503, header: map[string]string{"Retry-After": "3"}},
			answer{status: 200, body: "ok"},
		)
		var sl sleeps
		if _, err := newHTTP(&sl).Do(context.Background(), get(s.srv.URL)); err != nil {
			t.Fatal(err)
		}
		if got := sl.all(); len(got) != 1 || got[0] != 3*time.Second {
			t.Errorf("waits = %v, want [3s]", got)
		}
	})
	t.Run("persistent 5xx", func(t *testing.T) {
		s := newScript(t, answer{status: 500, body: "boom"})
		var sl sleeps
		h := newHTTP(&sl)
		h.Attempts = 3
		_, err := h.Do(context.Background(), get(s.srv.URL))
		se, ok := errors.AsType[*tracker.StatusError](err)
		if !ok || se.Status != 500 || se.Body != "boom" {
			t.Fatalf("err = %v, want *StatusError 500 boom", err)
		}
		if got := s.requests.Load(); got != 3 {
			t.Errorf("requests = %d, want 3", got)
		}
		if got := sl.all(); len(got) != 2 {
			t.Errorf("waits = %v, want 2 (none after the last attempt)", got)
		}
	})
}

func TestDoPersistent429(t *testing.T) {
	s := newScript(t, answer{status: 429, header: map[string]string{"Retry-After": "5"}, body: "too many"})
	var sl sleeps
	h := newHTTP(&sl)
	h.Attempts = 3
	_, err := h.Do(context.Background(), get(s.srv.URL))
	rl, ok := errors.AsType[*tracker.RateLimitError](err)
	if !ok {
		t.Fatalf("err = %v, want *RateLimitError", err)
	}
	if rl.RetryAfter != 5*time.Second || rl.Provider != "test" {
		t.Errorf("RetryAfter = %v, Provider = %q", rl.RetryAfter, rl.Provider)
	}
	if se, ok := errors.AsType[*tracker.StatusError](err); !ok || se.Status != 429 {
		t.Errorf("cause = %v, want the 429 StatusError", rl.Err)
	}
	if got := s.requests.Load(); got != 3 {
		t.Errorf("requests = %d, want 3", got)
	}
	if got := sl.all(); len(got) != 2 {
		t.Errorf("waits = %v, want 2", got)
	}
}

func TestDoRetryAfterLongerThanMaxWait(t *testing.T) {
	for _, tc := range []struct {
		name   string
		header string
		want   time.Duration
	}{
		{"seconds", "120", 120 * time.Second},
		{"huge", "1e300", 24 * time.Hour},
		{"infinite", "Inf", 24 * time.Hour},
	} {
		t.Run(tc.name, func(t *testing.T) {
			s := newScript(t, answer{status: 429, header: map[string]string{"Retry-After": tc.header}})
			var sl sleeps
			h := newHTTP(&sl)
			h.MaxWait = 30 * time.Second
			_, err := h.Do(context.Background(), get(s.srv.URL))
			rl, ok := errors.AsType[*tracker.RateLimitError](err)
			if !ok || rl.RetryAfter != tc.want {
				t.Fatalf("err = %v, want *RateLimitError after %v", err, tc.want)
			}
			if got := s.requests.Load(); got != 1 {
				t.Errorf("requests = %d, want 1", got)
			}
			if got := sl.all(); len(got) != 0 {
				t.Errorf("waits = %v, want none", got)
			}
		})
	}
}

func TestDoGitHubRateLimit(t *testing.T) {
	t.Run("primary: 403 with X-RateLimit-Remaining 0", func(t *testing.T) {
		reset := strconv.FormatInt(time.Now().Add(12*time.Second).Unix(), 10)
		s := newScript(t,
			answer{status: 403, header: map[string]string{"X-RateLimit-Remaining": "0", "X-RateLimit-Reset": reset},
				body: `{"message":"API rate limit exceeded for user ID 1."}`},
			answer{status: 200, body: "ok"},
		)
		var sl sleeps
		if _, err := newHTTP(&sl).Do(context.Background(), get(s.srv.URL)); err != nil {
			t.Fatal(err)
		}
		got := sl.all()
		if len(got) != 1 {
			t.Fatalf("waits = %v, want one", got)
		}
		between(t, "wait", got[0], 10*time.Second, 12*time.Second)
	})
	t.Run("secondary: 403 with Retry-After", func(t *testing.T) {
		s := newScript(t,
			answer{status: 403, header: map[string]string{"Retry-After": "2"}, body: `{"message":"You have exceeded a secondary rate limit."}`},
			answer{status: 200, body: "ok"},
		)
		var sl sleeps
		if _, err := newHTTP(&sl).Do(context.Background(), get(s.srv.URL)); err != nil {
			t.Fatal(err)
		}
		if got := sl.all(); len(got) != 1 || got[0] != 2*time.Second {
			t.Errorf("waits = %v, want [2s]", got)
		}
	})
	t.Run("secondary: 403 without headers waits a minute", func(t *testing.T) {
		s := newScript(t, answer{status: 403, body: `{"message":"You have exceeded a secondary rate limit. Please wait a few minutes before you try again."}`})
		var sl sleeps
		_, err := newHTTP(&sl).Do(context.Background(), get(s.srv.URL))
		rl, ok := errors.AsType[*tracker.RateLimitError](err)
		if !ok || rl.RetryAfter != time.Minute {
			t.Fatalf("err = %v, want *RateLimitError after 1m", err)
		}
		if errors.Is(err, tracker.ErrUnauthorized) {
			t.Error("a rate limit must not read as ErrUnauthorized")
		}
	})
	t.Run("403 refusal", func(t *testing.T) {
		s := newScript(t, answer{status: 403, header: map[string]string{"X-RateLimit-Remaining": "4999"},
			body: `{"message":"Resource not accessible by personal access token"}`})
		var sl sleeps
		_, err := newHTTP(&sl).Do(context.Background(), get(s.srv.URL))
		if !errors.Is(err, tracker.ErrUnauthorized) {
			t.Fatalf("err = %v, want ErrUnauthorized", err)
		}
		if !strings.Contains(err.Error(), "Resource not accessible") {
			t.Errorf("err = %v, want the provider's message", err)
		}
		if got := s.requests.Load(); got != 1 {
			t.Errorf("requests = %d, want 1", got)
		}
	})
}

func TestDoLinearRateLimit(t *testing.T) {
	for _, status := range []int{429, 400} {
		t.Run(strconv.Itoa(status), func(t *testing.T) {
			reset := strconv.FormatInt(time.Now().Add(3*time.Second).UnixMilli(), 10)
			s := newScript(t,
				answer{status: status, header: map[string]string{
					"X-RateLimit-Requests-Remaining": "0",
					"X-RateLimit-Requests-Reset":     reset,
				}, body: `{"errors":[{"message":"Rate limit exceeded","extensions":{"code":"RATELIMITED"}}]}`},
				answer{status: 200, body: "ok"},
			)
			var sl sleeps
			if _, err := newHTTP(&sl).Do(context.Background(), get(s.srv.URL)); err != nil {
				t.Fatal(err)
			}
			got := sl.all()
			if len(got) != 1 {
				t.Fatalf("waits = %v, want one", got)
			}
			between(t, "wait", got[0], 2*time.Second, 3*time.Second)
		})
	}
	t.Run("complexity", func(t *testing.T) {
		reset := strconv.FormatInt(time.Now().Add(5*time.Second).UnixMilli(), 10)
		s := newScript(t,
			answer{status: 429, header: map[string]string{
				"X-RateLimit-Requests-Remaining":   "100",
				"X-RateLimit-Complexity-Remaining": "0",
				"X-RateLimit-Complexity-Reset":     reset,
			}},
			answer{status: 200, body: "ok"},
		)
		var sl sleeps
		if _, err := newHTTP(&sl).Do(context.Background(), get(s.srv.URL)); err != nil {
			t.Fatal(err)
		}
		got := sl.all()
		if len(got) != 1 {
			t.Fatalf("waits = %v, want one", got)
		}
		between(t, "wait", got[0], 4*time.Second, 5*time.Second)
	})
}

func TestDoJiraRateLimitResetISO(t *testing.T) {
	reset := time.Now().Add(10 * time.Second).UTC().Format(time.RFC3339)
	s := newScript(t,
		answer{status: 429, header: map[string]string{"X-RateLimit-Remaining": "0", "X-RateLimit-Reset": reset}},
		answer{status: 200, body: "ok"},
	)
	var sl sleeps
	if _, err := newHTTP(&sl).Do(context.Background(), get(s.srv.URL)); err != nil {
		t.Fatal(err)
	}
	got := sl.all()
	if len(got) != 1 {
		t.Fatalf("waits = %v, want one", got)
	}
	between(t, "wait", got[0], 8*time.Second, 10*time.Second)
}

func TestDoPermanentErrors(t *testing.T) {
	for _, tc := range []struct {
		status int
		check  func(error) bool
		want   string
	}{
		{401, func(err error) bool { return errors.Is(err, tracker.ErrUnauthorized) }, "ErrUnauthorized"},
		{404, func(err error) bool { return errors.Is(err, tracker.ErrNotFound) }, "ErrNotFound"},
		{410, func(err error) bool { return errors.Is(err, tracker.ErrNotFound) }, "ErrNotFound"},
		{400, func(err error) bool {
			se, ok := errors.AsType[*tracker.StatusError](err)
			return ok && se.Status == 400 && se.Provider == "test" && se.Body == `{"errorMessages":["bad JQL"]}`
		}, "*StatusError 400 with the body"},
		{422, func(err error) bool {
			se, ok := errors.AsType[*tracker.StatusError](err)
			return ok && se.Status == 422
		}, "*StatusError 422"},
	} {
		t.Run(strconv.Itoa(tc.status), func(t *testing.T) {
			s := newScript(t, answer{status: tc.status, body: `{"errorMessages":["bad JQL"]}`})
			var sl sleeps
			b := &countingBudget{}
			h := newHTTP(&sl)
			h.Budget = b
			_, err := h.Do(context.Background(), get(s.srv.URL))
			if !tc.check(err) {
				t.Fatalf("err = %v, want %s", err, tc.want)
			}
			if errors.Is(err, tracker.ErrNotFound) && tc.status != 404 && tc.status != 410 {
				t.Errorf("err = %v is ErrNotFound", err)
			}
			var rl *tracker.RateLimitError
			if errors.As(err, &rl) {
				t.Errorf("err = %v is a rate limit", err)
			}
			if got := s.requests.Load(); got != 1 {
				t.Errorf("requests = %d, want 1 (not retried)", got)
			}
			if got := b.n.Load(); got != 1 {
				t.Errorf("Budget.Wait calls = %d, want 1", got)
			}
		})
	}
}

func TestDoBudget(t *testing.T) {
	t.Run("once per attempt", func(t *testing.T) {
		s := newScript(t, answer{status: 503}, answer{status: 429, header: map[string]string{"Retry-After": "0"}}, answer{status: 200})
		var sl sleeps
		b := &countingBudget{}
		h := newHTTP(&sl)
		h.Budget = b
		if _, err := h.Do(context.Background(), get(s.srv.URL)); err != nil {
			t.Fatal(err)
		}
		if got, want := b.n.Load(), s.requests.Load(); got != 3 || want != 3 {
			t.Errorf("Budget.Wait calls = %d, requests = %d, want 3 and 3", got, want)
		}
	})
	t.Run("refusal sends nothing", func(t *testing.T) {
		s := newScript(t, answer{status: 200})
		refusal := &tracker.RateLimitError{Provider: "test", RetryAfter: time.Minute, Err: errors.New("budget spent")}
		h := newHTTP(&sleeps{})
		h.Budget = &countingBudget{err: refusal}
		_, err := h.Do(context.Background(), get(s.srv.URL))
		if rl, ok := errors.AsType[*tracker.RateLimitError](err); !ok || rl.RetryAfter != time.Minute {
			t.Fatalf("err = %v, want the budget's RateLimitError", err)
		}
		if got := s.requests.Load(); got != 0 {
			t.Errorf("requests = %d, want 0", got)
		}
	})
}

func TestDoReplaysBody(t *testing.T) {
	s := newScript(t, answer{status: 502}, answer{status: 200})
	h := newHTTP(&sleeps{})
	_, err := h.Do(context.Background(), func(ctx context.Context) (*http.Request, error) {
		return http.NewRequestWithContext(ctx, http.MethodPost, s.srv.URL, strings.NewReader(`{"q":1}`))
	})
	if err != nil {
		t.Fatal(err)
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	if len(s.bodies) != 2 || s.bodies[0] != `{"q":1}` || s.bodies[1] != `{"q":1}` {
		t.Errorf("bodies = %q, want the same body twice", s.bodies)
	}
}

// TestDoErrorsHideSecrets checks that neither the Authorization header nor
// the URL's query (where some APIs take a token) reach an error.
func TestDoErrorsHideSecrets(t *testing.T) {
	const headerSecret, querySecret = "s3cr3t-header-token", "q5ecret-query-token"
	dead := httptest.NewServer(http.NotFoundHandler())
	deadURL := dead.URL
	dead.Close()
	for _, tc := range []struct {
		name string
		base string
		a    answer
	}{
		{"400", "", answer{status: 400, body: "bad"}},
		{"401", "", answer{status: 401}},
		{"403", "", answer{status: 403, body: "no"}},
		{"404", "", answer{status: 404}},
		{"429", "", answer{status: 429, header: map[string]string{"Retry-After": "1"}}},
		{"429 beyond MaxWait", "", answer{status: 429, header: map[string]string{"Retry-After": "3600"}}},
		{"500", "", answer{status: 500}},
		{"transport", deadURL, answer{}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			base := tc.base
			if base == "" {
				base = newScript(t, tc.a).srv.URL
			}
			u := base + "/rest/api/3/issue/X-1?access_token=" + querySecret
			h := newHTTP(&sleeps{})
			h.Attempts = 2
			_, err := h.Do(context.Background(), get(u))
			if err == nil {
				t.Fatal("no error")
			}
			msg := err.Error()
			for _, secret := range []string{headerSecret, querySecret, "access_token"} {
				if strings.Contains(msg, secret) {
					t.Errorf("error %q contains %q", msg, secret)
				}
			}
		})
	}
}

func TestDoTransportErrorRetried(t *testing.T) {
	// A listener that accepts and immediately closes: each attempt fails
	// in transport.
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	var accepted atomic.Int32
	go func() {
		for {
			c, err := ln.Accept()
			if err != nil {
				return
			}
			accepted.Add(1)
			c.Close()
		}
	}()
	t.Cleanup(func() { ln.Close() })
	var sl sleeps
	h := newHTTP(&sl)
	h.Attempts = 3
	_, err = h.Do(context.Background(), get("http://"+ln.Addr().String()+"/x?token=abc"))
	if err == nil {
		t.Fatal("no error")
	}
	if strings.Contains(err.Error(), "token=abc") {
		t.Errorf("error %q shows the query", err)
	}
	if got := sl.all(); len(got) != 2 {
		t.Errorf("waits = %v, want 2 (none after the last attempt)", got)
	}
	if got := accepted.Load(); got != 3 {
		t.Errorf("connections = %d, want 3", got)
	}
}

func TestDoContextDoneDuringWait(t *testing.T) {
	s := newScript(t, answer{status: 503})
	ctx, cancel := context.WithCancel(context.Background())
	h := newHTTP(nil)
	h.Sleep = func(ctx context.Context, d time.Duration) error {
		cancel()
		return ctx.Err()
	}
	_, err := h.Do(ctx, get(s.srv.URL))
	if !errors.Is(err, context.Canceled) {
		t.Fatalf("err = %v, want context.Canceled", err)
	}
	if got := s.requests.Load(); got != 1 {
		t.Errorf("requests = %d, want 1", got)
	}
}

func TestDoBodyLargerThanMaxBody(t *testing.T) {
	var requests atomic.Int32
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		requests.Add(1)
		w.WriteHeader(200)
		chunk := make([]byte, 1<<20)
		for i := range chunk {
			chunk[i] = 'a'
		}
		for written := 0; written <= tracker.MaxBody; written += len(chunk) {
			if _, err := w.Write(chunk); err != nil {
				return
			}
		}
	}))
	t.Cleanup(srv.Close)
	var sl sleeps
	_, err := newHTTP(&sl).Do(context.Background(), get(srv.URL))
	se, ok := errors.AsType[*tracker.StatusError](err)
	if !ok || !strings.Contains(se.Body, "larger than") {
		t.Fatalf("err = %v, want *StatusError about the size", err)
	}
	if got := requests.Load(); got != 1 {
		t.Errorf("requests = %d, want 1 (the same answer would come back)", got)
	}
	if strings.Contains(err.Error(), "aaaa") {
		t.Error("the error holds the body")
	}
}

func TestDoBodyAtMaxBody(t *testing.T) {
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		io.Copy(w, io.LimitReader(zeros{}, tracker.MaxBody))
	}))
	t.Cleanup(srv.Close)
	resp, err := newHTTP(&sleeps{}).Do(context.Background(), get(srv.URL))
	if err != nil {
		t.Fatal(err)
	}
	if len(resp.Body) != tracker.MaxBody {
		t.Errorf("len(body) = %d, want %d", len(resp.Body), tracker.MaxBody)
	}
}

type zeros struct{}

func (zeros) Read(p []byte) (int, error) {
	clear(p)
	return len(p), nil
}
