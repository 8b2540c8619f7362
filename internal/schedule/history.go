package schedule

import (
	"context"
	"fmt"
	"strings"
	"sync/atomic"
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

// schedulersKey is asynq's sorted set of the schedulers' entry lists
// (internal/base.AllSchedulers), each scored with the time its list
// expires; asynq drops a member only when it lists the entries or when its
// scheduler shuts down cleanly.
const schedulersKey = "asynq:schedulers"

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
	var removed atomic.Int64
	err = scanHistories(ctx, rc, func(keys []string) error {
		var orphans []string
		for _, k := range keys {
			if live[strings.TrimPrefix(k, historyKeyPrefix)] {
				continue
			}
			last, err := rc.ZRevRangeWithScores(ctx, k, 0, 0).Result()
			if err != nil {
				return fmt.Errorf("read %s: %w", k, err)
			}
			if len(last) == 1 && now.Sub(time.Unix(int64(last[0].Score), 0)) < minAge {
				continue
			}
			orphans = append(orphans, k)
		}
		if len(orphans) == 0 {
			return nil
		}
		// One DEL per key: the keys hash to different slots, and a
		// multi-key DEL across slots fails on a cluster (CROSSSLOT). The
		// pipeline is still one round trip per node.
		dels := make([]*redis.IntCmd, len(orphans))
		if _, err := rc.Pipelined(ctx, func(p redis.Pipeliner) error {
			for i, k := range orphans {
				dels[i] = p.Del(ctx, k)
			}
			return nil
		}); err != nil {
			return fmt.Errorf("delete scheduler histories: %w", err)
		}
		for _, c := range dels {
			removed.Add(c.Val())
		}
		return nil
	})
	return int(removed.Load()), err
}

// expireHistory sets ttl on every enqueue history key that has no expiry
// (asynq writes them with none), leaving the others as they are. It returns
// how many it set. TTL then EXPIRE rather than EXPIRE NX, which needs
// Redis 7.
func expireHistory(ctx context.Context, rc redis.UniversalClient, ttl time.Duration) (int, error) {
	var set atomic.Int64
	err := scanHistories(ctx, rc, func(keys []string) error {
		ttls := make([]*redis.DurationCmd, len(keys))
		if _, err := rc.Pipelined(ctx, func(p redis.Pipeliner) error {
			for i, k := range keys {
				ttls[i] = p.TTL(ctx, k)
			}
			return nil
		}); err != nil {
			return fmt.Errorf("read the expiry of scheduler histories: %w", err)
		}
		var bare []string
		for i, c := range ttls {
			if c.Val() == -1 { // exists, no expiry (-2: gone meanwhile)
				bare = append(bare, keys[i])
			}
		}
		if len(bare) == 0 {
			return nil
		}
		if _, err := rc.Pipelined(ctx, func(p redis.Pipeliner) error {
			for _, k := range bare {
				p.Expire(ctx, k, ttl)
			}
			return nil
		}); err != nil {
			return fmt.Errorf("set the expiry of scheduler histories: %w", err)
		}
		set.Add(int64(len(bare)))
		return nil
	})
	return int(set.Load()), err
}

// scanHistories calls f with each batch of enqueue history keys. SCAN sees
// the keys of the node it is sent to only, and the history keys have no
// hash tag, so they are spread over a cluster's nodes: on a cluster it scans
// every primary, concurrently (f must allow that). f works on the keys
// through rc, which follows a key to its node.
func scanHistories(ctx context.Context, rc redis.UniversalClient, f func(keys []string) error) error {
	scan := func(ctx context.Context, node redis.Cmdable) error {
		var cursor uint64
		for {
			keys, next, err := node.Scan(ctx, cursor, historyKeyPrefix+"*", 1000).Result()
			if err != nil {
				return fmt.Errorf("scan scheduler histories: %w", err)
			}
			if len(keys) > 0 {
				if err := f(keys); err != nil {
					return err
				}
			}
			if cursor = next; cursor == 0 {
				return nil
			}
		}
	}
	if cc, ok := rc.(*redis.ClusterClient); ok {
		return cc.ForEachMaster(ctx, func(ctx context.Context, node *redis.Client) error { return scan(ctx, node) })
	}
	return scan(ctx, rc)
}

// dropExpiredSchedulers removes from asynq:schedulers the schedulers whose
// entry list expired (they stopped without shutting down), so that the set
// disappears once no scheduler runs.
func dropExpiredSchedulers(ctx context.Context, rc redis.UniversalClient, now time.Time) error {
	if err := rc.ZRemRangeByScore(ctx, schedulersKey, "-inf", fmt.Sprint(now.Unix()-1)).Err(); err != nil {
		return fmt.Errorf("drop expired schedulers: %w", err)
	}
	return nil
}
