package schedule

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"sync"
	"time"

	"github.com/hibiken/asynq"
	"github.com/prometheus/client_golang/prometheus"
	"github.com/redis/go-redis/v9"

	"github.com/testplanit/tpi-workers/internal/worker"
)

// Options configure a [Scheduler].
type Options struct {
	// Redis is the Valkey connection. Required.
	Redis asynq.RedisConnOpt
	// Provider supplies the entries. Required.
	Provider *Provider
	// Timing must be the Provider's.
	Timing Timing
	// HeartbeatInterval is how often the entries are written for the
	// dashboard's Schedulers view. Default 10s.
	HeartbeatInterval time.Duration
	// Logger defaults to slog.Default().
	Logger *slog.Logger
	// Registerer receives the scheduler's metrics; nil registers none.
	Registerer prometheus.Registerer
	// HistoryPruneInterval is how often the enqueue histories of replaced
	// entries are deleted (see pruneHistory). Default 10m; negative
	// disables.
	HistoryPruneInterval time.Duration
	// HistoryTTL is the expiry given to every enqueue history key
	// (asynq:scheduler_history:<entry id>) that has none: asynq writes them
	// without one and deletes only its live entries' at shutdown, so the
	// histories of replaced entries, or all of them after a crash, would
	// stay forever. It is set at start, at each prune (or every 10m) and at
	// shutdown. Default 24h; negative disables.
	HistoryTTL time.Duration
}

// Scheduler runs the periodic entries on asynq's PeriodicTaskManager.
type Scheduler struct {
	mgr      *asynq.PeriodicTaskManager
	provider *Provider
	log      *slog.Logger

	redis      asynq.RedisConnOpt
	prune      time.Duration
	pruneMin   time.Duration
	historyTTL time.Duration
	stopPrune  context.CancelFunc
	prunerDone chan struct{}

	// Occurrences asynq's scheduler could not enqueue (Valkey unreachable,
	// a failover under way) are enqueued again by retryEnqueue.
	client      *asynq.Client
	retryCtx    context.Context
	stopRetries context.CancelFunc
	retries     sync.WaitGroup
	retrySlots  chan struct{}

	enqueued *prometheus.CounterVec
	already  *prometheus.CounterVec
	failed   *prometheus.CounterVec
}

// New builds a scheduler; [Scheduler.Start] starts it.
func New(o Options) (*Scheduler, error) {
	if o.Redis == nil || o.Provider == nil {
		return nil, errors.New("schedule: Options.Redis and Options.Provider are required")
	}
	timing := o.Timing.WithDefaults()
	s := &Scheduler{provider: o.Provider, log: o.Logger, redis: o.Redis, prune: o.HistoryPruneInterval, historyTTL: o.HistoryTTL}
	if s.prune == 0 {
		s.prune = defaultMaintenanceInterval
	}
	if s.historyTTL == 0 {
		s.historyTTL = defaultHistoryTTL
	}
	hb := o.HeartbeatInterval
	if hb <= 0 {
		hb = 10 * time.Second
	}
	s.pruneMin = 3 * hb
	if s.log == nil {
		s.log = slog.Default()
	}
	s.enqueued = prometheus.NewCounterVec(prometheus.CounterOpts{
		Name: "tpi_scheduler_enqueued_total",
		Help: "Occurrences this scheduler enqueued, by entry.",
	}, []string{"entry"})
	s.already = prometheus.NewCounterVec(prometheus.CounterOpts{
		Name: "tpi_scheduler_already_enqueued_total",
		Help: "Occurrences found already enqueued (by another scheduler), by entry.",
	}, []string{"entry"})
	s.failed = prometheus.NewCounterVec(prometheus.CounterOpts{
		Name: "tpi_scheduler_enqueue_errors_total",
		Help: "Occurrences this scheduler could not enqueue, by entry.",
	}, []string{"entry"})
	if o.Registerer != nil {
		for _, c := range []prometheus.Collector{s.enqueued, s.already, s.failed} {
			if err := o.Registerer.Register(c); err != nil {
				return nil, fmt.Errorf("schedule: register metrics: %w", err)
			}
		}
	}
	mgr, err := asynq.NewPeriodicTaskManager(asynq.PeriodicTaskManagerOpts{
		PeriodicTaskConfigProvider: o.Provider,
		RedisConnOpt:               o.Redis,
		SyncInterval:               timing.SyncInterval,
		SchedulerOpts: &asynq.SchedulerOpts{
			HeartbeatInterval: o.HeartbeatInterval,
			Location:          time.UTC, // each spec carries its own CRON_TZ
			Logger:            worker.AsynqLogger(s.log),
			LogLevel:          asynq.WarnLevel,
			PostEnqueueFunc:   s.postEnqueue,
			// EnqueueErrorHandler is the only hook that sees the options
			// (hence the task ID) of a failed enqueue.
			//lint:ignore SA1019 PostEnqueueFunc gets no task ID on error.
			EnqueueErrorHandler: s.enqueueError,
		},
	})
	if err != nil {
		return nil, fmt.Errorf("schedule: %w", err)
	}
	s.mgr = mgr
	s.client = asynq.NewClient(o.Redis)
	s.retryCtx, s.stopRetries = context.WithCancel(context.Background())
	s.retrySlots = make(chan struct{}, maxEnqueueRetries)
	return s, nil
}

// Start registers the entries and starts firing them. It fails if the
// configuration or the tenant list is invalid.
func (s *Scheduler) Start() error {
	if _, err := s.provider.Current(); err != nil {
		return err
	}
	if _, err := s.provider.Tenants(); err != nil {
		return err
	}
	if err := s.mgr.Start(); err != nil {
		return fmt.Errorf("schedule: %w", err)
	}
	if s.prune > 0 || s.historyTTL > 0 {
		ctx, cancel := context.WithCancel(context.Background())
		s.stopPrune, s.prunerDone = cancel, make(chan struct{})
		go s.maintain(ctx)
	}
	return nil
}

// Shutdown stops firing and removes the entries from the dashboard; the
// enqueue histories left behind get their expiry (see Options.HistoryTTL).
func (s *Scheduler) Shutdown() {
	started := s.stopPrune != nil
	if started {
		s.stopPrune()
		<-s.prunerDone
	}
	s.mgr.Shutdown()
	s.stopRetries()
	s.retries.Wait()
	_ = s.client.Close()
	if started {
		// asynq has closed its connection: the last sweep takes its own,
		// bounded, since a shutdown must not hang on an unreachable Valkey.
		ctx, cancel := context.WithTimeout(context.Background(), shutdownSweepTimeout)
		defer cancel()
		s.withRedis(func(rc redis.UniversalClient, insp *asynq.Inspector) { s.sweep(ctx, rc, insp) })
	}
}

// Timing of the history maintenance.
const (
	defaultMaintenanceInterval = 10 * time.Minute
	defaultHistoryTTL          = 24 * time.Hour
	// An occurrence that could not be enqueued is tried again for this
	// long (a Sentinel failover takes about 3 s, a Valkey restart a few),
	// at most maxEnqueueRetries occurrences at a time.
	enqueueRetryWindow   = 2 * time.Minute
	maxEnqueueRetries    = 256
	shutdownSweepTimeout = 5 * time.Second
)

// maintain prunes the histories of replaced entries and sets the expiry of
// every history, at start and then every prune interval, until ctx ends.
func (s *Scheduler) maintain(ctx context.Context) {
	defer close(s.prunerDone)
	every := s.prune
	if every <= 0 {
		every = defaultMaintenanceInterval
	}
	s.withRedis(func(rc redis.UniversalClient, insp *asynq.Inspector) {
		// A scheduler that crashed left histories without expiry.
		s.expire(ctx, rc)
		t := time.NewTicker(every)
		defer t.Stop()
		for {
			select {
			case <-ctx.Done():
				return
			case <-t.C:
				s.sweep(ctx, rc, insp)
			}
		}
	})
}

// withRedis runs f with a connection of its own, closed after.
func (s *Scheduler) withRedis(f func(redis.UniversalClient, *asynq.Inspector)) {
	c := s.redis.MakeRedisClient()
	rc, ok := c.(redis.UniversalClient)
	if !ok {
		s.log.Warn("cannot maintain the scheduler histories: unexpected Valkey client", "type", fmt.Sprintf("%T", c))
		return
	}
	defer rc.Close()
	f(rc, asynq.NewInspectorFromRedisClient(rc))
}

// sweep prunes (if enabled) then sets expiries (if enabled).
func (s *Scheduler) sweep(ctx context.Context, rc redis.UniversalClient, insp *asynq.Inspector) {
	if s.prune > 0 {
		n, err := pruneHistory(ctx, rc, insp, time.Now(), s.pruneMin)
		if err != nil && ctx.Err() == nil {
			s.log.Warn("cannot prune the histories of replaced scheduler entries", "err", err)
		} else if n > 0 {
			s.log.Debug("pruned the histories of replaced scheduler entries", "deleted", n)
		}
	}
	s.expire(ctx, rc)
}

// expire gives every history key without expiry s.historyTTL, and drops the
// dashboard registrations of schedulers that stopped without saying so.
func (s *Scheduler) expire(ctx context.Context, rc redis.UniversalClient) {
	if s.historyTTL <= 0 {
		return
	}
	n, err := expireHistory(ctx, rc, s.historyTTL)
	if err == nil {
		err = dropExpiredSchedulers(ctx, rc, time.Now())
	}
	if err != nil && ctx.Err() == nil {
		s.log.Warn("cannot set the expiry of the scheduler histories", "err", err)
	} else if n > 0 {
		s.log.Debug("set the expiry of scheduler histories", "keys", n, "ttl", s.historyTTL.String())
	}
}

func (s *Scheduler) postEnqueue(info *asynq.TaskInfo, err error) {
	if err != nil || info == nil {
		return // enqueueError reports it
	}
	s.provider.fired(info.ID)
	o, _ := parseOccurrenceID(info.ID)
	s.enqueued.WithLabelValues(o.entry).Inc()
	s.log.Info("occurrence enqueued", "entry", o.entry, "tenant", o.tenant, "task_id", info.ID, "type", info.Type, "queue", info.Queue)
}

// enqueueError handles a failed enqueue of asynq's scheduler. asynq
// enqueues the registered entries itself, so this is where a duplicate
// occurrence (asynq.ErrTaskIDConflict) is told from a failure, rather than
// through task.Enqueue: a conflict on the occurrence's own ID is another
// scheduler's enqueue, a success; on a stale ID it is a missed occurrence.
func (s *Scheduler) enqueueError(t *asynq.Task, opts []asynq.Option, err error) {
	id := ""
	for _, o := range opts {
		if o.Type() == asynq.TaskIDOpt {
			id, _ = o.Value().(string)
		}
	}
	o, _ := parseOccurrenceID(id)
	s.provider.fired(id)
	conflict := errors.Is(err, asynq.ErrTaskIDConflict)
	switch {
	case conflict && s.provider.stale(id, time.Now()):
		// The entry fired long after the occurrence its ID names: the
		// configuration sync lagged and this occurrence was not enqueued.
		s.failed.WithLabelValues(o.entry).Inc()
		s.log.Error("occurrence not enqueued: its task ID is stale (configuration sync lagged)", "entry", o.entry, "tenant", o.tenant, "task_id", id, "type", t.Type())
	case conflict:
		s.already.WithLabelValues(o.entry).Inc()
		s.log.Info("occurrence already enqueued (by another scheduler)", "entry", o.entry, "tenant", o.tenant, "task_id", id, "type", t.Type())
	case id == "":
		// Not one of ours (every occurrence carries its ID): a retry could
		// enqueue it twice.
		s.failed.WithLabelValues(o.entry).Inc()
		s.log.Error("occurrence not enqueued", "entry", o.entry, "task_id", id, "type", t.Type(), "err", err)
	default:
		select {
		case s.retrySlots <- struct{}{}:
		default:
			s.failed.WithLabelValues(o.entry).Inc()
			s.log.Error("occurrence not enqueued (too many retries under way)", "entry", o.entry, "tenant", o.tenant, "task_id", id, "type", t.Type(), "err", err)
			return
		}
		s.log.Warn("occurrence not enqueued yet; retrying", "entry", o.entry, "tenant", o.tenant, "task_id", id, "type", t.Type(), "err", err)
		s.retries.Add(1)
		go s.retryEnqueue(t, opts, id, err)
	}
}

// retryEnqueue enqueues again an occurrence that asynq's scheduler could not
// enqueue, with backoff (250 ms doubling to 5 s) for up to
// enqueueRetryWindow or until Shutdown. The occurrence's task ID makes this
// safe: if an earlier attempt did reach Valkey (only its answer was lost) or
// another scheduler enqueued it, the retry meets a conflict and stops.
func (s *Scheduler) retryEnqueue(t *asynq.Task, opts []asynq.Option, id string, err error) {
	defer func() { <-s.retrySlots; s.retries.Done() }()
	o, _ := parseOccurrenceID(id)
	ctx := s.retryCtx
	deadline := time.Now().Add(enqueueRetryWindow)
	for delay := 250 * time.Millisecond; time.Now().Before(deadline); delay = min(2*delay, 5*time.Second) {
		timer := time.NewTimer(delay)
		select {
		case <-ctx.Done():
			timer.Stop()
			s.failed.WithLabelValues(o.entry).Inc()
			s.log.Error("occurrence not enqueued (scheduler stopping)", "entry", o.entry, "tenant", o.tenant, "task_id", id, "type", t.Type(), "err", err)
			return
		case <-timer.C:
		}
		info, e := s.client.EnqueueContext(ctx, t, opts...)
		switch {
		case e == nil:
			s.postEnqueue(info, nil)
			return
		case errors.Is(e, asynq.ErrTaskIDConflict):
			s.already.WithLabelValues(o.entry).Inc()
			s.log.Info("occurrence already enqueued", "entry", o.entry, "tenant", o.tenant, "task_id", id, "type", t.Type())
			return
		}
		err = e
	}
	s.failed.WithLabelValues(o.entry).Inc()
	s.log.Error("occurrence not enqueued", "entry", o.entry, "tenant", o.tenant, "task_id", id, "type", t.Type(), "err", err)
}
