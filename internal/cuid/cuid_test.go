package cuid_test

import (
	"crypto/sha256"
	"math/big"
	"regexp"
	"strconv"
	"testing"

	"github.com/testplanit/tpi-workers/internal/cuid"
)

var pattern = regexp.MustCompile(`^c[0-9a-z]{24}$`)

func TestNew(t *testing.T) {
	t.Parallel()
	const n = 100_000
	seen := make(map[string]bool, n)
	for range n {
		id := cuid.New()
		if !pattern.MatchString(id) {
			t.Fatalf("New() = %q, want c + 24 base-36 characters", id)
		}
		if seen[id] {
			t.Fatalf("New() repeated %q", id)
		}
		seen[id] = true
	}
}

func TestNewSortsByTime(t *testing.T) {
	t.Parallel()
	a := cuid.New()
	// The 8 characters after 'c' are the creation millisecond: never decreasing.
	for range 1000 {
		b := cuid.New()
		if b[:9] < a[:9] {
			t.Fatalf("timestamp prefix went back: %q then %q", a, b)
		}
		a = b
	}
}

// notificationIDBefore is the derivation notify.NotificationID used before
// this package existed, copied verbatim: the rows it addressed must keep
// their ids.
func notificationIDBefore(queue, taskID string) string {
	sum := sha256.Sum256([]byte(queue + "\x00" + taskID))
	n := new(big.Int).SetBytes(sum[:])
	s := n.Text(36)
	for len(s) < 24 {
		s = "0" + s
	}
	return "c" + s[:24]
}

func TestDeriveKeepsTheIDsOfNotificationID(t *testing.T) {
	t.Parallel()
	// Fixed values, computed by the original NotificationID: they hold
	// even if the copy above were changed along with Derive.
	for _, tc := range []struct{ queue, taskID, want string }{
		{"notifications", "t1", "c4365ucaz05uta2h32o0l9l87"},
		{"notifications", "kill9-real", "c40wt4d8cqxwzqafj4xk411tw"},
		{"notifications", "acme:milestone-reminder:7:u1:2026-11-26", "c69pozzpdg3gw37g9xeonrpxa"},
		{"", "", "c2qvpysszz2etc94ikevqi7ju"},
	} {
		if got := cuid.Derive(tc.queue, tc.taskID); got != tc.want {
			t.Errorf("Derive(%q, %q) = %q, want %q (the id NotificationID gave)", tc.queue, tc.taskID, got, tc.want)
		}
	}
	for i := range 10_000 {
		taskID := strconv.Itoa(i)
		if i%3 == 0 {
			taskID = "milestone-reminder:" + taskID + ":u1:2026-11-26"
		}
		got, want := cuid.Derive("notifications", taskID), notificationIDBefore("notifications", taskID)
		if got != want {
			t.Fatalf("Derive(notifications, %q) = %q, NotificationID gave %q", taskID, got, want)
		}
		if !pattern.MatchString(got) {
			t.Fatalf("Derive(notifications, %q) = %q, not cuid-shaped", taskID, got)
		}
	}
}
