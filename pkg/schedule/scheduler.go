package schedule

import (
	"errors"
	"fmt"
	"log/slog"
	"time"

	"github.com/hibiken/asynq"
	"github.com/prometheus/client_golang/prometheus"
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
}

// Scheduler runs the periodic entries on asynq's PeriodicTaskManager.
type Scheduler struct {
	mgr      *asynq.PeriodicTaskManager
	provider *Provider
	log      *slog.Logger

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
	s := &Scheduler{provider: o.Provider, log: o.Logger}
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
			Logger:            asynqLogger{s.log},
			LogLevel:          asynq.WarnLevel,
			PostEnqueueFunc:   s.postEnqueue,
			// EnqueueErrorHandler is the only hook that sees the options
			// (hence the task ID) of a failed enqueue.
			EnqueueErrorHandler: s.enqueueError,
		},
	})
	if err != nil {
		return nil, fmt.Errorf("schedule: %w", err)
	}
	s.mgr = mgr
	return s, nil
}

// Start registers the entries and starts firing them. It fails if the
// configuration is invalid.
func (s *Scheduler) Start() error {
	if _, err := s.provider.Current(); err != nil {
		return err
	}
	if err := s.mgr.Start(); err != nil {
		return fmt.Errorf("schedule: %w", err)
	}
	return nil
}

// Shutdown stops firing and removes the entries from the dashboard.
func (s *Scheduler) Shutdown() { s.mgr.Shutdown() }

func (s *Scheduler) postEnqueue(info *asynq.TaskInfo, err error) {
	if err != nil || info == nil {
		return // enqueueError reports it
	}
	name, _ := EntryOf(info.ID)
	s.enqueued.WithLabelValues(name).Inc()
	s.log.Info("occurrence enqueued", "entry", name, "task_id", info.ID, "type", info.Type, "queue", info.Queue)
}

func (s *Scheduler) enqueueError(t *asynq.Task, opts []asynq.Option, err error) {
	id := ""
	for _, o := range opts {
		if o.Type() == asynq.TaskIDOpt {
			id, _ = o.Value().(string)
		}
	}
	name, _ := EntryOf(id)
	if errors.Is(err, asynq.ErrTaskIDConflict) {
		s.already.WithLabelValues(name).Inc()
		s.log.Info("occurrence already enqueued (by another scheduler)", "entry", name, "task_id", id, "type", t.Type())
		return
	}
	s.failed.WithLabelValues(name).Inc()
	s.log.Error("occurrence not enqueued", "entry", name, "task_id", id, "type", t.Type(), "err", err)
}

// asynqLogger adapts slog to asynq's logger.
type asynqLogger struct{ l *slog.Logger }

func (a asynqLogger) Debug(args ...any) { a.l.Debug(fmt.Sprint(args...), "component", "asynq") }
func (a asynqLogger) Info(args ...any)  { a.l.Info(fmt.Sprint(args...), "component", "asynq") }
func (a asynqLogger) Warn(args ...any)  { a.l.Warn(fmt.Sprint(args...), "component", "asynq") }
func (a asynqLogger) Error(args ...any) { a.l.Error(fmt.Sprint(args...), "component", "asynq") }
func (a asynqLogger) Fatal(args ...any) { a.l.Error(fmt.Sprint(args...), "component", "asynq") }
