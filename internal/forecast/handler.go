package forecast

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"time"

	"github.com/hibiken/asynq"
	"github.com/jackc/pgx/v5/pgxpool"

	"github.com/testplanit/tpi-workers/internal/worker"
	"github.com/testplanit/tpi-workers/pkg/task"
)

// Handler serves the forecast-updates queue: the four task types of
// DESIGN section 1. Register it on the worker's mux with [Handler.Register];
// each task runs on its tenant's database ([worker.TenantFrom]).
type Handler struct {
	// Enqueuer receives the milestone reminders
	// (notifications:create-notification): [worker.NewClient] in a worker,
	// which checks that each carries the task's tenant. Required for
	// milestone-due-notifications.
	Enqueuer task.Enqueuer
	// Clock defaults to [worker.SystemClock]; it decides which milestones
	// are due and the reminder day.
	Clock worker.Clock
	// Location is the reminder day's time zone; nil means UTC.
	Location *time.Location
	// BatchSize is the number of cases or runs per write transaction; 0
	// means DefaultBatchSize.
	BatchSize int
}

// Register routes the forecast-updates task types to h.
func (h *Handler) Register(mux *asynq.ServeMux) {
	worker.Handle(mux, task.TypeUpdateSingleCaseForecast, h.UpdateSingleCaseForecast)
	worker.Handle(mux, task.TypeUpdateAllCasesForecast, h.UpdateAllCasesForecast)
	worker.Handle(mux, task.TypeAutoCompleteMilestones, h.AutoCompleteMilestones)
	worker.Handle(mux, task.TypeMilestoneDueNotifications, h.MilestoneDueNotifications)
}

// Result is the JSON result a forecast-updates task leaves in asynq: the
// original's {status, successCount, failCount} plus what was done.
type Result struct {
	Status       string `json:"status"`
	SuccessCount int64  `json:"successCount"`
	FailCount    int64  `json:"failCount"`
	// Forecast tasks.
	Cases        int64 `json:"cases,omitempty"`
	CasesUpdated int64 `json:"casesUpdated,omitempty"`
	Groups       int64 `json:"groups,omitempty"`
	Runs         int64 `json:"runs,omitempty"`
	RunsUpdated  int64 `json:"runsUpdated,omitempty"`
	// Milestone tasks.
	Completed   []int `json:"completedMilestoneIds,omitempty"`
	Due         int   `json:"dueMilestones,omitempty"`
	Enqueued    int   `json:"remindersEnqueued,omitempty"`
	AlreadySent int   `json:"remindersAlreadySent,omitempty"`
}

// tenantDB returns the database of the task's tenant.
func tenantDB(ctx context.Context) (*pgxpool.Pool, error) {
	tn := worker.TenantFrom(ctx)
	if tn.DB == nil {
		return nil, worker.Permanent(fmt.Errorf("forecast: tenant %q has no database", tn.ID))
	}
	return tn.DB, nil
}

// forecaster is the forecast engine of the task's tenant, publishing its
// progress through the task's result.
func (h *Handler) forecaster(ctx context.Context) (*Forecaster, error) {
	db, err := tenantDB(ctx)
	if err != nil {
		return nil, err
	}
	return &Forecaster{DB: db, BatchSize: h.BatchSize,
		Progress: worker.NewProgress(worker.ResultWriterFrom(ctx), h.Clock, 0)}, nil
}

// milestones is the milestone engine of the task's tenant.
func (h *Handler) milestones(ctx context.Context) (*Milestones, error) {
	db, err := tenantDB(ctx)
	if err != nil {
		return nil, err
	}
	return &Milestones{Store: NewStore(db), Enqueuer: h.Enqueuer, Clock: h.Clock, Location: h.Location}, nil
}

// UpdateSingleCaseForecast recomputes one case's link group and the runs
// that contain it. A case that does not exist is a permanent error.
func (h *Handler) UpdateSingleCaseForecast(ctx context.Context, p task.UpdateSingleCaseForecast) error {
	fc, err := h.forecaster(ctx)
	if err != nil {
		return err
	}
	st, err := fc.Case(ctx, p.RepositoryCaseID)
	if errors.Is(err, ErrCaseNotFound) {
		return worker.Permanent(err)
	}
	if err != nil {
		return err
	}
	worker.LoggerFrom(ctx).Info("case forecast updated", "case", p.RepositoryCaseID,
		"cases", st.Cases, "cases_updated", st.CasesUpdated, "runs", st.Runs, "runs_updated", st.RunsUpdated)
	return writeResult(ctx, forecastResult(st))
}

// UpdateAllCasesForecast is the nightly job: every case, then every open run.
// A database failure fails the task, which is retried; every write is
// idempotent, so a retry converges.
func (h *Handler) UpdateAllCasesForecast(ctx context.Context, _ task.UpdateAllCasesForecast) error {
	fc, err := h.forecaster(ctx)
	if err != nil {
		return err
	}
	st, err := fc.All(ctx)
	if err != nil {
		return err
	}
	worker.LoggerFrom(ctx).Info("all forecasts updated", "cases", st.Cases, "cases_updated", st.CasesUpdated,
		"groups", st.Groups, "runs", st.Runs, "runs_updated", st.RunsUpdated,
		"elapsed", st.Elapsed.String(), "scope", st.Scope.String(), "samples", st.Samples.String(),
		"case_writes", st.CaseWrites.String(), "run_writes", st.RunWrites.String())
	return writeResult(ctx, forecastResult(st))
}

// AutoCompleteMilestones completes the due milestones that have automatic
// completion on.
func (h *Handler) AutoCompleteMilestones(ctx context.Context, _ task.AutoCompleteMilestones) error {
	m, err := h.milestones(ctx)
	if err != nil {
		return err
	}
	ids, err := m.AutoComplete(ctx)
	if err != nil {
		return err
	}
	worker.LoggerFrom(ctx).Info("milestones auto-completed", "count", len(ids), "ids", ids)
	return writeResult(ctx, Result{Status: "completed", SuccessCount: int64(len(ids)), Completed: ids})
}

// MilestoneDueNotifications sends the day's milestone reminders, at most one
// per milestone, user and day. The reminders carry the task's resolved
// tenant (the payload's tenantId, or INSTANCE_TENANT_ID when it has none).
func (h *Handler) MilestoneDueNotifications(ctx context.Context, _ task.MilestoneDueNotifications) error {
	m, err := h.milestones(ctx)
	if err != nil {
		return err
	}
	st, err := m.RemindDue(ctx, worker.TenantFrom(ctx).ID)
	if err != nil {
		return err
	}
	worker.LoggerFrom(ctx).Info("milestone reminders", "milestones", st.Milestones, "due", st.Due,
		"recipients", st.Recipients, "enqueued", st.Enqueued, "already_sent", st.AlreadySent)
	return writeResult(ctx, Result{Status: "completed", SuccessCount: int64(st.Enqueued), Due: st.Due,
		Enqueued: st.Enqueued, AlreadySent: st.AlreadySent})
}

func forecastResult(st Stats) Result {
	return Result{Status: "completed", SuccessCount: st.Cases, Cases: st.Cases, CasesUpdated: st.CasesUpdated,
		Groups: st.Groups, Runs: st.Runs, RunsUpdated: st.RunsUpdated}
}

// writeResult stores r as the task's result when the task runs in a server.
func writeResult(ctx context.Context, r Result) error {
	w := worker.ResultWriterFrom(ctx)
	if w == nil {
		return nil
	}
	b, err := json.Marshal(r)
	if err != nil {
		return fmt.Errorf("forecast: encoding the result: %w", err)
	}
	_, _ = w.Write(b) // a lost result is not worth a retry
	return nil
}
