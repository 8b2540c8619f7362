package issuesync

import (
	"context"
	"errors"
	"slices"
	"sync"
	"testing"
	"time"

	"github.com/redis/go-redis/v9"

	"github.com/testplanit/tpi-workers/internal/testenv"
	"github.com/testplanit/tpi-workers/internal/tracker"
)

// maxInWindow is the largest number of instants within any window of
// length w.
func maxInWindow(at []time.Time, w time.Duration) int {
	slices.SortFunc(at, func(a, b time.Time) int { return a.Compare(b) })
	best, j := 0, 0
	for i := range at {
		for at[i].Sub(at[j]) >= w {
			j++
		}
		best = max(best, i-j+1)
	}
	return best
}

// TestBudgetIsSharedByProcesses: two Budgets on one Valkey (two worker
// processes), four goroutines each, one integration at 20 requests/s: no
// second sees more than 21 grants (one at each edge), and the whole takes
// about as long as 20/s allows. Another tenant's equal integration id has a
// budget of its own.
func TestBudgetIsSharedByProcesses(t *testing.T) {
	ropt, _ := testenv.Redis(t)
	var grants []time.Time
	var mu sync.Mutex
	var wg sync.WaitGroup
	start := time.Now()
	for range 2 {
		rdb := redis.NewClient(&redis.Options{Addr: ropt.Addr, DB: ropt.DB})
		defer rdb.Close()
		b := NewBudgets(rdb, map[string]float64{ProviderJira: 20})
		w := b.For("acme", 7, ProviderJira)
		for range 4 {
			wg.Go(func() {
				for range 10 {
					if err := w.Wait(context.Background()); err != nil {
						t.Error(err)
						return
					}
					mu.Lock()
					grants = append(grants, time.Now())
					mu.Unlock()
				}
			})
		}
	}
	wg.Wait()
	elapsed := time.Since(start)
	if n := maxInWindow(grants, time.Second); n > 21 {
		t.Errorf("%d requests within one second, budget 20/s", n)
	}
	// 80 requests at 20/s: 79 intervals of 50 ms.
	if elapsed < 3800*time.Millisecond {
		t.Errorf("80 requests in %s: faster than 20/s", elapsed)
	}

	rdb := redis.NewClient(&redis.Options{Addr: ropt.Addr, DB: ropt.DB})
	defer rdb.Close()
	other := NewBudgets(rdb, map[string]float64{ProviderJira: 20}).For("globex", 7, ProviderJira)
	t0 := time.Now()
	if err := other.Wait(context.Background()); err != nil || time.Since(t0) > 40*time.Millisecond {
		t.Errorf("another tenant's integration 7 waited %s (%v)", time.Since(t0), err)
	}
	if n, _ := rdb.Exists(context.Background(), "rate:acme:issue-sync:budget:7", "rate:globex:issue-sync:budget:7").Result(); n != 2 {
		t.Errorf("%d budget keys, want rate:acme:… and rate:globex:…", n)
	}
}

// TestBudgetWaitIsBounded: a wait beyond MaxWait is a RateLimitError naming
// the time still needed, without sleeping it; a provider without a rate is
// unpaced.
func TestBudgetWaitIsBounded(t *testing.T) {
	ropt, _ := testenv.Redis(t)
	rdb := redis.NewClient(&redis.Options{Addr: ropt.Addr, DB: ropt.DB})
	defer rdb.Close()
	b := NewBudgets(rdb, map[string]float64{ProviderLinear: 0.1}) // one request per 10 s
	b.MaxWait = time.Second
	var slept time.Duration
	b.Sleep = func(_ context.Context, d time.Duration) error { slept += d; return nil }
	w := b.For("", 3, ProviderLinear)
	if err := w.Wait(context.Background()); err != nil {
		t.Fatal(err)
	}
	err := w.Wait(context.Background())
	rl, ok := errors.AsType[*tracker.RateLimitError](err)
	if !ok || rl.RetryAfter < 8*time.Second || rl.RetryAfter > 10*time.Second || slept != 0 {
		t.Fatalf("second request: %v (slept %s), want a RateLimitError of about 10s", err, slept)
	}
	if b.For("", 3, ProviderGitHub) != nil {
		t.Error("a provider without a rate got a budget")
	}
}
