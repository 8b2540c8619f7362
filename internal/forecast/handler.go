package forecast

import (
	"context"
	"encoding/json"
	"errors"
	"io"
	"time"

	"github.com/hibiken/asynq"
	"github.com/jackc/pgx/v5/pgxpool"

	"github.com/testplanit/tpi-workers/internal/worker"
	"github.com/testplanit/tpi-workers/pkg/task"
)

// Handler serves the forecast-updates queue: the four task types of
// DESIGN section 1. Register it on the worker's mux with [Handler.Register].
type Handler struct {
	// DB is TestPlanIt's database, with the worker schema. Required.
	DB *pgxpool.Pool
	// Enqueuer receives the milestone reminders
	// (notifications:create-notification). Required.
	Enqueuer Enqueuer
	// Clock defaults to the wall clock; it decides which milestones are due
	// and the reminder day.
	Clock worker.Clock
	// Location is the reminder day's time zone; nil means UTC.
	Location *time.Location
	// BatchSize is the number of cases or runs per write transaction; 0
	// means DefaultBatchSize.
	BatchSize int
}

// Register routes the forecast-updates task types to h.
func (h *Handler) Register(mux *asynq.ServeMux) {
	mux.HandleFunc(task.TypeUpdateSingleCaseForecast, h.UpdateSingleCaseForecast)
	mux.HandleFunc(task.TypeUpdateAllCasesForecast, h.UpdateAllCasesForecast)
	mux.HandleFunc(task.TypeAutoCompleteMilestones, h.AutoCompleteMilestones)
	mux.HandleFunc(task.TypeMilestoneDueNotifications, h.MilestoneDueNotifications)
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

func (h *Handler) forecaster(t *asynq.Task) *Forecaster {
	var w io.Writer
	if rw := t.ResultWriter(); rw != nil {
		w = rw
	}
	return &Forecaster{DB: h.DB, BatchSize: h.BatchSize, Progress: worker.NewProgress(w, h.Clock, 0)}
}

func (h *Handler) milestones() *Milestones {
	return &Milestones{DB: h.DB, Enqueuer: h.Enqueuer, Clock: h.Clock, Location: h.Location}
}

// UpdateSingleCaseForecast recomputes one case's link group and the runs
// that contain it. A case that does not exist is a permanent error.
func (h *Handler) UpdateSingleCaseForecast(ctx context.Context, t *asynq.Task) error {
	p, err := task.Decode[task.UpdateSingleCaseForecast](t)
	if err != nil {
		return err
	}
	st, err := h.forecaster(t).Case(ctx, p.RepositoryCaseID)
	if errors.Is(err, ErrCaseNotFound) {
		return worker.Permanent(err)
	}
	if err != nil {
		return err
	}
	worker.LoggerFrom(ctx).Info("case forecast updated", "case", p.RepositoryCaseID,
		"cases", st.Cases, "cases_updated", st.CasesUpdated, "runs", st.Runs, "runs_updated", st.RunsUpdated)
	return writeResult(t, forecastResult(st))
}

// UpdateAllCasesForecast is the nightly job: every case, then every open run.
// A database failure fails the task, which is retried; every write is
// idempotent, so a retry converges.
func (h *Handler) UpdateAllCasesForecast(ctx context.Context, t *asynq.Task) error {
	if _, err := task.Decode[task.UpdateAllCasesForecast](t); err != nil {
		return err
	}
	st, err := h.forecaster(t).All(ctx)
	if err != nil {
		return err
	}
	worker.LoggerFrom(ctx).Info("all forecasts updated", "cases", st.Cases, "cases_updated", st.CasesUpdated,
		"groups", st.Groups, "runs", st.Runs, "runs_updated", st.RunsUpdated,
		"elapsed", st.Elapsed.String(), "scope", st.Scope.String(), "samples", st.Samples.String(),
		"case_writes", st.CaseWrites.String(), "run_writes", st.RunWrites.String())
	return writeResult(t, forecastResult(st))
}

// AutoCompleteMilestones completes the due milestones that have automatic
// completion on.
func (h *Handler) AutoCompleteMilestones(ctx context.Context, t *asynq.Task) error {
	if _, err := task.Decode[task.AutoCompleteMilestones](t); err != nil {
		return err
	}
	ids, err := h.milestones().AutoComplete(ctx)
	if err != nil {
		return err
	}
	worker.LoggerFrom(ctx).Info("milestones auto-completed", "count", len(ids), "ids", ids)
	return writeResult(t, Result{Status: "completed", SuccessCount: int64(len(ids)), Completed: ids})
}

// MilestoneDueNotifications sends the day's milestone reminders, at most one
// per milestone, user and day.
func (h *Handler) MilestoneDueNotifications(ctx context.Context, t *asynq.Task) error {
	p, err := task.Decode[task.MilestoneDueNotifications](t)
	if err != nil {
		return err
	}
	st, err := h.milestones().RemindDue(ctx, p.TenantID)
	if err != nil {
		return err
	}
	worker.LoggerFrom(ctx).Info("milestone reminders", "milestones", st.Milestones, "due", st.Due,
		"recipients", st.Recipients, "enqueued", st.Enqueued, "already_sent", st.AlreadySent)
	return writeResult(t, Result{Status: "completed", SuccessCount: int64(st.Enqueued), Due: st.Due,
		Enqueued: st.Enqueued, AlreadySent: st.AlreadySent})
}

func forecastResult(st Stats) Result {
	return Result{Status: "completed", SuccessCount: st.Cases, Cases: st.Cases, CasesUpdated: st.CasesUpdated,
		Groups: st.Groups, Runs: st.Runs, RunsUpdated: st.RunsUpdated}
}

// writeResult stores r as the task's result when the task runs in a server.
func writeResult(t *asynq.Task, r Result) error {
	rw := t.ResultWriter()
	if rw == nil {
		return nil
	}
	b, err := json.Marshal(r)
	if err != nil {
		return err
	}
	_, _ = rw.Write(b) // a lost result is not worth a retry
	return nil
}
