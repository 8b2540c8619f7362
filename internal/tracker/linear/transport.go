package linear

import (
	"bytes"
	"encoding/json"
	"io"
	"net/http"
	"strconv"

	"github.com/testplanit/tpi-workers/internal/tracker"
)

// graphQLStatus is the http.RoundTripper under the client's tracker.HTTP.
// Linear reports rate limiting and refused credentials as GraphQL errors,
// with HTTP 400 or 200; tracker.HTTP decides on the status code alone (and
// keeps no headers of a 400). So this transport reads 200 and 400 answers
// that carry errors and gives them the status that means the same:
//
//   - extensions.code RATELIMITED → 429, so tracker.HTTP waits for the
//     reset the X-RateLimit-Requests-*/Complexity-* headers name, retries,
//     and in the end reports a *tracker.RateLimitError;
//   - AUTHENTICATION_ERROR → 401, so the call ends with
//     tracker.ErrUnauthorized, unretried;
//   - a 400 whose errors all belong to one issue alias (path ["k3", ...]):
//     → 200, so the answer is decoded and only those issues fail.
//
// Other answers pass unchanged. The body is read whole (up to
// tracker.MaxBody) and handed on.
type graphQLStatus struct {
	base http.RoundTripper
}

// RoundTrip implements http.RoundTripper.
func (t graphQLStatus) RoundTrip(req *http.Request) (*http.Response, error) {
	resp, err := t.base.RoundTrip(req)
	if err != nil || (resp.StatusCode != http.StatusOK && resp.StatusCode != http.StatusBadRequest) {
		return resp, err
	}
	body, err := io.ReadAll(io.LimitReader(resp.Body, tracker.MaxBody+1))
	resp.Body.Close()
	if err != nil {
		return nil, err
	}
	resp.Body = io.NopCloser(bytes.NewReader(body))
	if code := reclassify(resp.StatusCode, body); code != resp.StatusCode {
		resp.StatusCode = code
		resp.Status = strconv.Itoa(code) + " " + http.StatusText(code)
	}
	return resp, nil
}

// reclassify is the status an answer with GraphQL errors stands for.
func reclassify(status int, body []byte) int {
	if !bytes.Contains(body, []byte(`"errors"`)) {
		return status
	}
	var a struct {
		Errors []gqlError `json:"errors"`
	}
	if json.Unmarshal(body, &a) != nil || len(a.Errors) == 0 {
		return status
	}
	perIssue := true
	for i := range a.Errors {
		e := &a.Errors[i]
		switch e.code() {
		case codeRateLimited:
			return http.StatusTooManyRequests
		case codeAuth:
			return http.StatusUnauthorized
		}
		if !isAliasName(e.alias()) {
			perIssue = false
		}
	}
	if status == http.StatusBadRequest && perIssue {
		return http.StatusOK
	}
	return status
}

// isAliasName reports whether s is an alias buildQuery writes for an
// identifier (k0, k1, ...).
func isAliasName(s string) bool {
	if len(s) < 2 || s[0] != 'k' {
		return false
	}
	for i := 1; i < len(s); i++ {
		if !isDigit(s[i]) {
			return false
		}
	}
	return true
}
