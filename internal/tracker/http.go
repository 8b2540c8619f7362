package tracker

import (
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
// replayed) and returns a 2xx answer. Errors: [ErrUnauthorized] for 401,
// [ErrNotFound] for 404 and 410, a [*RateLimitError] when 429 persists or
// the wait asked for is longer than MaxWait, a [*StatusError] for other 4xx,
// and the last 5xx or transport error when retries run out. Credentials never
// appear in the errors.
func (h *HTTP) Do(ctx context.Context, newReq func(context.Context) (*http.Request, error)) (*Response, error) {
	attempts := orDefault(h.Attempts, DefaultAttempts)
	var last error
	for attempt := 0; attempt < attempts; attempt++ {
		if h.Budget != nil {
			if err := h.Budget.Wait(ctx); err != nil {
				return nil, err
			}
		}
		req, err := newReq(ctx)
		if err != nil {
			return nil, fmt.Errorf("%s: building request: %w", h.Provider, err)
		}
		resp, err := h.client().Do(req)
		if err != nil {
			if ctx.Err() != nil {
				return nil, ctx.Err()
			}
			// The URL is ours (base URL and ids), never a credential;
			// the transport's own message is kept.
			last = fmt.Errorf("%s: %s %s: %w", h.Provider, req.Method, redactURL(req), unwrapURLError(err))
			if err := h.wait(ctx, h.backoff(attempt), last); err != nil {
				return nil, err
			}
			continue
		}
		body, readErr := io.ReadAll(io.LimitReader(resp.Body, MaxBody+1))
		resp.Body.Close()
		if readErr == nil && len(body) > MaxBody {
			readErr = fmt.Errorf("answer larger than %d bytes", MaxBody)
		}
		switch code := resp.StatusCode; {
		case code >= 200 && code < 300:
			if readErr != nil {
				last = fmt.Errorf("%s: reading answer: %w", h.Provider, readErr)
				if err := h.wait(ctx, h.backoff(attempt), last); err != nil {
					return nil, err
				}
				continue
			}
			return &Response{Status: code, Header: resp.Header, Body: body}, nil
		case code == http.StatusTooManyRequests || (code == http.StatusForbidden && rateLimited(resp.Header)):
			d, named := retryAfter(resp.Header, time.Now())
			if !named {
				d = h.backoff(attempt)
			}
			last = &RateLimitError{Provider: h.Provider, RetryAfter: d, Err: h.status(code, body)}
			if attempt == attempts-1 {
				return nil, last
			}
			if err := h.wait(ctx, d, last); err != nil {
				return nil, err
			}
		case code >= 500:
			last = h.status(code, body)
			d, named := retryAfter(resp.Header, time.Now())
			if !named {
				d = h.backoff(attempt)
			}
			if attempt == attempts-1 {
				break
			}
			if err := h.wait(ctx, d, last); err != nil {
				return nil, err
			}
		case code == http.StatusUnauthorized:
			return nil, fmt.Errorf("%w (%s: HTTP 401)", ErrUnauthorized, h.Provider)
		case code == http.StatusNotFound || code == http.StatusGone:
			return nil, fmt.Errorf("%w (%s: HTTP %d)", ErrNotFound, h.Provider, code)
		default:
			return nil, h.status(code, body)
		}
	}
	return nil, last
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

// rateLimited reports whether a 403 is GitHub's primary or secondary rate
// limit rather than a refusal.
func rateLimited(h http.Header) bool {
	return h.Get("Retry-After") != "" || h.Get("X-RateLimit-Remaining") == "0"
}

// retryAfter reads how long the provider asks us to wait: Retry-After
// (seconds or an HTTP date), then the reset time of an exhausted window
// (GitHub X-RateLimit-Reset in Unix seconds; Linear X-RateLimit-Requests-Reset
// and X-RateLimit-Complexity-Reset in Unix milliseconds).
func retryAfter(h http.Header, now time.Time) (time.Duration, bool) {
	if v := strings.TrimSpace(h.Get("Retry-After")); v != "" {
		if secs, err := strconv.ParseFloat(v, 64); err == nil && secs >= 0 {
			return time.Duration(secs * float64(time.Second)), true
		}
		if t, err := http.ParseTime(v); err == nil {
			return max(0, t.Sub(now)), true
		}
	}
	if h.Get("X-RateLimit-Remaining") == "0" {
		if secs, err := strconv.ParseInt(h.Get("X-RateLimit-Reset"), 10, 64); err == nil {
			return max(0, time.Unix(secs, 0).Sub(now)), true
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
