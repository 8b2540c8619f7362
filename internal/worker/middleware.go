package worker

import (
	"context"
	"fmt"
	"log/slog"
	"time"

	"github.com/hibiken/asynq"
	"github.com/prometheus/client_golang/prometheus"

	"github.com/testplanit/tpi-workers/internal/tenant"
	"github.com/testplanit/tpi-workers/pkg/task"
)

// Metrics are the per-task Prometheus metrics of a worker process.
type Metrics struct {
	processed *prometheus.CounterVec
	failed    *prometheus.CounterVec
	duration  *prometheus.HistogramVec
	inFlight  *prometheus.GaugeVec
	archived  *prometheus.CounterVec
}

// NewMetrics registers the task metrics on reg (never on the global
// registry) and returns them.
func NewMetrics(reg prometheus.Registerer) (*Metrics, error) {
	m := &Metrics{
		processed: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "tpi_tasks_processed_total",
			Help: "Tasks handled, by queue, type and outcome (success, transient, permanent, rate_limited, unavailable).",
		}, []string{"queue", "type", "outcome"}),
		failed: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "tpi_tasks_failed_total",
			Help: "Tasks whose handler returned an error, by queue, type and class.",
		}, []string{"queue", "type", "class"}),
		duration: prometheus.NewHistogramVec(prometheus.HistogramOpts{
			Name:    "tpi_task_duration_seconds",
			Help:    "Handler duration by queue and type.",
			Buckets: []float64{.001, .005, .01, .05, .1, .5, 1, 5, 30, 120, 600, 3600},
		}, []string{"queue", "type"}),
		inFlight: prometheus.NewGaugeVec(prometheus.GaugeOpts{
			Name: "tpi_tasks_in_flight",
			Help: "Tasks being handled right now, by queue.",
		}, []string{"queue"}),
	}
	m.archived = prometheus.NewCounterVec(prometheus.CounterOpts{
		Name: "tpi_tasks_archived_total",
		Help: "Tasks archived (no retry: asynq keeps them for inspection and tpictl retry), by queue, type and reason (invalid, tenant, exhausted, permanent).",
	}, []string{"queue", "type", "reason"})
	for _, c := range []prometheus.Collector{m.processed, m.failed, m.duration, m.inFlight, m.archived} {
		if err := reg.Register(c); err != nil {
			return nil, fmt.Errorf("register metrics: %w", err)
		}
	}
	return m, nil
}

// slowTask is the duration from which a successful task is logged at info.
const slowTask = time.Second

// dispatch is the runtime's root handler: it routes through mux, turns an
// unknown type into a permanent error (asynq's ServeMux would retry it),
// attaches a tagged logger to ctx, and records logs and metrics.
//
// It also spends the failure budget: asynq's MaxRetry holds one retry in
// reserve for rate limits (task.RateLimitReserve), so a failure once the
// task's own retries are spent is archived here, and a rate-limited attempt
// can always wait and try again. A panic is a failure like any other.
func dispatch(mux *asynq.ServeMux, m *Metrics, base *slog.Logger, tenants *tenant.Resolver, gs *gates) asynq.Handler {
	return asynq.HandlerFunc(func(ctx context.Context, t *asynq.Task) error {
		id, _ := asynq.GetTaskID(ctx)
		queue, _ := asynq.GetQueueName(ctx)
		retry, _ := asynq.GetRetryCount(ctx)
		maxRetry, _ := asynq.GetMaxRetry(ctx)
		log := withLazyAttrs(base, slog.String("queue", queue), slog.String("type", t.Type()), slog.String("task_id", id),
			slog.Int("retry", retry), slog.Int("max_retry", maxRetry))
		ctx = WithLogger(ctx, log)
		if tenants != nil {
			ctx = withResolver(ctx, tenants)
		}
		if gs != nil {
			ctx = context.WithValue(ctx, gatesKey{}, gs)
		}

		g := m.inFlight.WithLabelValues(queue)
		g.Inc()
		start := time.Now()
		err := route(ctx, mux, t)
		if budget := task.FailureRetries(maxRetry); err != nil && retry >= budget && Class(err) == "transient" && ctx.Err() == nil {
			err = Permanent(fmt.Errorf("%w (attempt %d of %d, %w)", err, retry+1, budget+1, errExhausted))
		}
		elapsed := time.Since(start)
		g.Dec()

		class := Class(err)
		m.duration.WithLabelValues(queue, t.Type()).Observe(elapsed.Seconds())
		m.processed.WithLabelValues(queue, t.Type(), class).Inc()
		if class == "permanent" {
			m.archived.WithLabelValues(queue, t.Type(), archiveReason(err)).Inc()
		}
		switch {
		case err == nil:
			// A success is counted in the metrics and kept by asynq for
			// the queue's retention; its log line is for slow tasks, or
			// with LOG_LEVEL=debug (formatting one per task costs a
			// noticeable share of a busy worker's CPU).
			lvl := slog.LevelDebug
			if elapsed >= slowTask {
				lvl = slog.LevelInfo
			}
			log.Log(ctx, lvl, "task done", "duration_ms", elapsed.Milliseconds())
		case class == "unavailable":
			log.Warn("task waits for its dependency", "duration_ms", elapsed.Milliseconds(), "error", err.Error())
		case ctx.Err() != nil:
			m.failed.WithLabelValues(queue, t.Type(), class).Inc()
			log.Warn("task interrupted; it will run again", "duration_ms", elapsed.Milliseconds(), "error", err.Error())
		case class == "permanent":
			// Archived: the servers' error handler (logArchived) logs
			// it once, as "task archived", with the reason.
			m.failed.WithLabelValues(queue, t.Type(), class).Inc()
		default:
			m.failed.WithLabelValues(queue, t.Type(), class).Inc()
			log.Warn("task failed", "class", class, "duration_ms", elapsed.Milliseconds(), "error", err.Error())
		}
		return err
	})
}

func route(ctx context.Context, mux *asynq.ServeMux, t *asynq.Task) (err error) {
	defer func() {
		if r := recover(); r != nil {
			err = fmt.Errorf("panic in the %s handler: %v", t.Type(), r)
		}
	}()
	h, pattern := mux.Handler(t)
	if pattern == "" {
		return Permanent(fmt.Errorf("no handler for task type %q on this worker", t.Type()))
	}
	return h.ProcessTask(ctx, t)
}
