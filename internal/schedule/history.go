package schedule

import (
	"context"
	"fmt"
	"strings"
	"time"

	"github.com/hibiken/asynq"
	"github.com/redis/go-redis/v9"
)

// historyKeyPrefix is where asynq v0.26.0 keeps the enqueue history of each
// scheduler entry (internal/base.SchedulerHistoryKey). Because the provider
// re-registers an entry after each occurrence, every occurrence leaves the
// history key of an entry ID that no scheduler runs any more; asynq deletes
// history only at shutdown. pruneHistory removes those orphans.
const historyKeyPrefix = "asynq:scheduler_history:"

// pruneHistory deletes the enqueue histories of entries that no live
// scheduler has, last written more than minAge ago (an entry that has just
// fired is always published well before that). It returns how many it
// deleted.
func pruneHistory(ctx context.Context, rc redis.UniversalClient, insp *asynq.Inspector, now time.Time, minAge time.Duration) (int, error) {
	entries, err := insp.SchedulerEntries()
	if err != nil {
		return 0, fmt.Errorf("list scheduler entries: %w", err)
	}
	live := make(map[string]bool, len(entries))
	for _, e := range entries {
		live[e.ID] = true
	}
	removed := 0
	var cursor uint64
	for {
		keys, next, err := rc.Scan(ctx, cursor, historyKeyPrefix+"*", 1000).Result()
		if err != nil {
			return removed, fmt.Errorf("scan scheduler histories: %w", err)
		}
		var orphans []string
		for _, k := range keys {
			if live[strings.TrimPrefix(k, historyKeyPrefix)] {
				continue
			}
			last, err := rc.ZRevRangeWithScores(ctx, k, 0, 0).Result()
			if err != nil {
				return removed, fmt.Errorf("read %s: %w", k, err)
			}
			if len(last) == 1 && now.Sub(time.Unix(int64(last[0].Score), 0)) < minAge {
				continue
			}
			orphans = append(orphans, k)
		}
		if len(orphans) > 0 {
			n, err := rc.Del(ctx, orphans...).Result()
			if err != nil {
				return removed, fmt.Errorf("delete scheduler histories: %w", err)
			}
			removed += int(n)
		}
		if cursor = next; cursor == 0 {
			return removed, nil
		}
	}
}
