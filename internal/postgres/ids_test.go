package postgres_test

import (
	"regexp"
	"testing"

	"github.com/testplanit/tpi-workers/internal/postgres"
)

var (
	cuidPattern = regexp.MustCompile(`^c[0-9a-z]{24}$`)
	uuidPattern = regexp.MustCompile(`^[0-9a-f]{8}-[0-9a-f]{4}-4[0-9a-f]{3}-[89ab][0-9a-f]{3}-[0-9a-f]{12}$`)
)

func TestNewCUID(t *testing.T) {
	t.Parallel()
	const n = 100_000
	seen := make(map[string]bool, n)
	for range n {
		id := postgres.NewCUID()
		if !cuidPattern.MatchString(id) {
			t.Fatalf("NewCUID() = %q, want c + 24 base-36 characters", id)
		}
		if seen[id] {
			t.Fatalf("NewCUID() repeated %q", id)
		}
		seen[id] = true
	}
}

func TestNewCUIDSortsByTime(t *testing.T) {
	t.Parallel()
	a := postgres.NewCUID()
	// The 8 characters after 'c' are the creation millisecond: never decreasing.
	for range 1000 {
		b := postgres.NewCUID()
		if b[:9] < a[:9] {
			t.Fatalf("timestamp prefix went back: %q then %q", a, b)
		}
		a = b
	}
}

func TestNewUUID(t *testing.T) {
	t.Parallel()
	seen := make(map[string]bool)
	for range 10_000 {
		id := postgres.NewUUID()
		if !uuidPattern.MatchString(id) {
			t.Fatalf("NewUUID() = %q, want a version 4 UUID", id)
		}
		if seen[id] {
			t.Fatalf("NewUUID() repeated %q", id)
		}
		seen[id] = true
	}
}
