package linear

import (
	"bytes"
	"encoding/json"
	"net/http"
)

// reclassify is the client's tracker.HTTP Classify: Linear reports rate
// limiting and refused credentials as GraphQL errors, with HTTP 400 or 200,
// and tracker.HTTP decides on the status code. So an answer carrying
// errors gets the status that means the same:
//
//   - extensions.code RATELIMITED → 429, so tracker.HTTP waits for the
//     reset the X-RateLimit-Requests-*/Complexity-* headers name, retries,
//     and in the end reports a *tracker.RateLimitError;
//   - AUTHENTICATION_ERROR → 401, so the call ends with
//     tracker.ErrUnauthorized, unretried;
//   - a 400 whose errors all belong to one issue alias (path ["k3", ...]):
//     → 200, so the answer is decoded and only those issues fail.
//
// Other answers keep their status.
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
