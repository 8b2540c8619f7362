package tracker

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"math/rand/v2"
	"net/http"
	"net/url"
	"strconv"
	"strings"
	"time"
	"unicode/utf8"
)

// Budget paces the requests sent for one integration. The sync worker's
// budget lives in Valkey and is shared by every sync process.
type Budget interface {
	// Wait blocks until one more request may be sent, or returns an error
	// (ctx done, or a [*RateLimitError] when the wait would be too long).
	Wait(ctx context.Context) error
}

// Defaults of [HTTP].
const (
	DefaultAttempts  = 4
	DefaultBaseDelay = time.Second
	DefaultMaxWait   = 30 * time.Second
	DefaultTimeout   = 30 * time.Second
	// MaxBody bounds what is read of one answer.
	MaxBody = 32 << 20
)

// HTTP sends a provider's requests: paced by Budget, 429 and 5xx (and
// transport errors) retried with exponential backoff that honours
// Retry-After and the rate-limit reset headers (GitHub's X-RateLimit-*,
// Linear's X-RateLimit-Requests-* and X-RateLimit-Complexity-*). The zero
// value works, unpaced, with the defaults above.
type HTTP struct {
	// Provider names the provider in errors ("jira", "github", ...).
	Provider string
	// Client sends the requests; nil means a client with DefaultTimeout.
	Client *http.Client
	// Budget paces requests; nil means unpaced.
	Budget Budget
	// Attempts is the number of tries of one request; 0 means
	// DefaultAttempts.
	Attempts int
	// BaseDelay is the first backoff when the provider names no wait; it
	// doubles per attempt, with jitter. 0 means DefaultBaseDelay.
	BaseDelay time.Duration
	// MaxWait is the longest wait honoured inside one call; a provider
	// asking for longer ends the call with a [*RateLimitError] so the task
	// is retried later. 0 means DefaultMaxWait.
	MaxWait time.Duration
	// Classify, when set, returns the status an answer stands for, given
	// its status and body: for providers that report rate limits or
	// refused credentials in the body of a 200 or 400 (Linear's GraphQL
	// errors). Do then treats the answer as if it had that status.
	Classify func(status int, body []byte) int
	// Sleep waits d or until ctx is done; nil means a timer (tests replace
	// it).
	Sleep func(ctx context.Context, d time.Duration) error
}

// Response is a provider's successful answer, read whole.
type Response struct {
	Status int
	Header http.Header
	Body   []byte
}

// Do sends the request newReq builds (once per attempt, so bodies can be
// replayed) and returns a 2xx answer. Errors: [ErrUnauthorized] for 401 and
// for a 403 that is not a rate limit, [ErrNotFound] for 404 and 410, a
// [*RateLimitError] when 429 (or a 403 or 400 that signals a rate limit)
// persists or the wait asked for is longer than MaxWait, a [*StatusError]
// for other 4xx and for a 2xx answer larger than [MaxBody], and the last 5xx
// or transport error when retries run out. Credentials never appear in the
// errors.
func (h *HTTP) Do(ctx context.Context, newReq func(context.Context) (*http.Request, error)) (*Response, error) {
	attempts := orDefault(h.Attempts, DefaultAttempts)
	for attempt := 0; ; attempt++ {
		if h.Budget != nil {
			if err := h.Budget.Wait(ctx); err != nil {
				return nil, err
			}
		}
		req, err := newReq(ctx)
		if err != nil {
			return nil, fmt.Errorf("%s: building request: %w", h.Provider, err)
		}
		// last is this attempt's retryable failure, d the wait before the
		// next attempt.
		var last error
		var d time.Duration
		resp, err := h.client().Do(req)
		if err != nil {
			if ctx.Err() != nil {
				return nil, ctx.Err()
			}
			// The URL is ours (base URL and ids), never a credential;
			// the transport's own message is kept.
			last = fmt.Errorf("%s: %s %s: %w", h.Provider, req.Method, redactURL(req), unwrapURLError(err))
			d = h.backoff(attempt)
		} else {
			body, readErr := io.ReadAll(io.LimitReader(resp.Body, MaxBody+1))
			resp.Body.Close()
			tooBig := readErr == nil && len(body) > MaxBody
			code := resp.StatusCode
			if h.Classify != nil && readErr == nil && !tooBig {
				code = h.Classify(code, body)
			}
			switch {
			case code >= 200 && code < 300 && tooBig:
				// The same answer would come back: not retried.
				return nil, &StatusError{Provider: h.Provider, Status: code, Body: fmt.Sprintf("answer larger than %d bytes", MaxBody)}
			case code >= 200 && code < 300 && readErr != nil:
				if ctx.Err() != nil {
					return nil, ctx.Err()
				}
				last = fmt.Errorf("%s: %s %s: reading answer: %w", h.Provider, req.Method, redactURL(req), readErr)
				d = h.backoff(attempt)
			case code >= 200 && code < 300:
				return &Response{Status: code, Header: resp.Header, Body: body}, nil
			case rateLimited(code, resp.Header, body):
				var named bool
				d, named = retryAfter(resp.Header, time.Now())
				if !named {
					d = h.backoff(attempt)
					if code == http.StatusForbidden {
						// GitHub's secondary limit without headers: "wait
						// at least one minute".
						d = time.Minute
					}
				}
				last = &RateLimitError{Provider: h.Provider, RetryAfter: d, Err: h.status(code, body)}
			case code >= 500:
				last = h.status(code, body)
				var named bool
				if d, named = retryAfter(resp.Header, time.Now()); !named {
					d = h.backoff(attempt)
				}
			case code == http.StatusUnauthorized:
				return nil, fmt.Errorf("%w (%s: HTTP 401)", ErrUnauthorized, h.Provider)
			case code == http.StatusForbidden:
				if s := snippet(body); s != "" {
					return nil, fmt.Errorf("%w (%s: HTTP 403: %s)", ErrUnauthorized, h.Provider, s)
				}
				return nil, fmt.Errorf("%w (%s: HTTP 403)", ErrUnauthorized, h.Provider)
			case code == http.StatusNotFound || code == http.StatusGone:
				return nil, fmt.Errorf("%w (%s: HTTP %d)", ErrNotFound, h.Provider, code)
			default:
				return nil, h.status(code, body)
			}
		}
		if attempt >= attempts-1 {
			return nil, last
		}
		if err := h.wait(ctx, d, last); err != nil {
			return nil, err
		}
	}
}

func (h *HTTP) client() *http.Client {
	if h.Client != nil {
		return h.Client
	}
	return &http.Client{Timeout: DefaultTimeout}
}

func (h *HTTP) status(code int, body []byte) *StatusError {
	return &StatusError{Provider: h.Provider, Status: code, Body: snippet(body)}
}

// wait sleeps d before the next attempt, unless d exceeds MaxWait: then the
// call ends with a RateLimitError carrying d, so the task is retried later.
func (h *HTTP) wait(ctx context.Context, d time.Duration, cause error) error {
	if d > orDefault(h.MaxWait, DefaultMaxWait) {
		var rl *RateLimitError
		if errors.As(cause, &rl) {
			return &RateLimitError{Provider: h.Provider, RetryAfter: d, Err: rl.Err}
		}
		return &RateLimitError{Provider: h.Provider, RetryAfter: d, Err: cause}
	}
	sleep := h.Sleep
	if sleep == nil {
		sleep = Sleep
	}
	return sleep(ctx, d)
}

// backoff is BaseDelay·2^attempt with ±20 % jitter.
func (h *HTTP) backoff(attempt int) time.Duration {
	d := orDefault(h.BaseDelay, DefaultBaseDelay) << min(attempt, 10)
	return d - d/5 + rand.N(d*2/5+1)
}

// Sleep waits d or until ctx is done.
func Sleep(ctx context.Context, d time.Duration) error {
	if d <= 0 {
		return ctx.Err()
	}
	t := time.NewTimer(d)
	defer t.Stop()
	select {
	case <-ctx.Done():
		return ctx.Err()
	case <-t.C:
		return nil
	}
}

// rateLimited reports whether an answer that is not a success asks us to
// slow down: any 429; a 403 that is GitHub's primary or secondary rate limit
// (Retry-After, an exhausted X-RateLimit-Remaining, or a message saying so)
// rather than a refusal; a 400 with an exhausted window, which is how Linear
// answers RATELIMITED.
func rateLimited(code int, h http.Header, body []byte) bool {
	exhausted := h.Get("X-RateLimit-Remaining") == "0" ||
		h.Get("X-RateLimit-Requests-Remaining") == "0" ||
		h.Get("X-RateLimit-Complexity-Remaining") == "0"
	msg := bytes.ToLower(body[:min(len(body), 4096)])
	switch code {
	case http.StatusTooManyRequests:
		return true
	case http.StatusForbidden:
		return exhausted || h.Get("Retry-After") != "" || bytes.Contains(msg, []byte("rate limit"))
	case http.StatusBadRequest:
		return exhausted || bytes.Contains(msg, []byte("ratelimited"))
	}
	return false
}

// maxRetryAfter bounds a Retry-After in seconds.
const maxRetryAfter = 24 * time.Hour

// retryAfter reads how long the provider asks us to wait: Retry-After
// (seconds or an HTTP date), then the reset time of an exhausted window
// (GitHub X-RateLimit-Reset in Unix seconds, Jira's in ISO 8601; Linear
// X-RateLimit-Requests-Reset and X-RateLimit-Complexity-Reset in Unix
// milliseconds).
func retryAfter(h http.Header, now time.Time) (time.Duration, bool) {
	if v := strings.TrimSpace(h.Get("Retry-After")); v != "" {
		if secs, err := strconv.ParseFloat(v, 64); err == nil && secs >= 0 {
			// min also keeps "Inf" or "1e300" from overflowing.
			return time.Duration(min(secs, maxRetryAfter.Seconds()) * float64(time.Second)), true
		}
		if t, err := http.ParseTime(v); err == nil {
			return max(0, t.Sub(now)), true
		}
	}
	if h.Get("X-RateLimit-Remaining") == "0" {
		reset := strings.TrimSpace(h.Get("X-RateLimit-Reset"))
		if secs, err := strconv.ParseInt(reset, 10, 64); err == nil {
			return max(0, time.Unix(secs, 0).Sub(now)), true
		}
		// Jira Cloud sends an ISO 8601 time.
		if t, err := time.Parse(time.RFC3339, reset); err == nil {
			return max(0, t.Sub(now)), true
		}
	}
	for _, kind := range []string{"Requests", "Complexity"} {
		if h.Get("X-RateLimit-"+kind+"-Remaining") == "0" {
			if ms, err := strconv.ParseInt(h.Get("X-RateLimit-"+kind+"-Reset"), 10, 64); err == nil {
				return max(0, time.UnixMilli(ms).Sub(now)), true
			}
		}
	}
	return 0, false
}

// snippet is a short, printable prefix of a provider's answer for errors.
func snippet(body []byte) string {
	const limit = 200
	s := strings.TrimSpace(strings.ToValidUTF8(string(body[:min(len(body), limit+4)]), "?"))
	if len(s) > limit {
		s = s[:limit]
		for !utf8.ValidString(s) {
			s = s[:len(s)-1]
		}
		s += "…"
	}
	return strings.Join(strings.Fields(s), " ")
}

// redactURL is the request's URL without query or user info.
func redactURL(req *http.Request) string {
	u := *req.URL
	u.User, u.RawQuery, u.Fragment = nil, "", ""
	return u.String()
}

// unwrapURLError drops *url.Error's repetition of method and URL (the URL may
// carry a query we do not print).
func unwrapURLError(err error) error {
	if ue, ok := errors.AsType[*url.Error](err); ok {
		return ue.Err
	}
	return err
}

func orDefault[T int | time.Duration](v, def T) T {
	if v > 0 {
		return v
	}
	return def
}
