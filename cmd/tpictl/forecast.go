package main

import (
	"context"
	"flag"
	"fmt"
	"time"

	"github.com/hibiken/asynq"

	"github.com/testplanit/tpi-workers/internal/forecast"
	"github.com/testplanit/tpi-workers/internal/forecast/forecastgen"
	"github.com/testplanit/tpi-workers/internal/postgres"
	"github.com/testplanit/tpi-workers/pkg/task"
)

// cmdForecast enqueues the nightly forecast job (or one case's) for a
// tenant, or with --inline computes it in this process against DATABASE_URL.
func cmdForecast(ctx context.Context, c *cli, args []string) error {
	fs := flag.NewFlagSet("forecast", flag.ContinueOnError)
	caseID := fs.Int("case", 0, "only this repository case's link group and its runs")
	inline := fs.Bool("inline", false, "compute now in this process (DATABASE_URL) instead of enqueuing")
	tenantID := fs.String("tenant", "", "the tenant whose forecasts to update (tenantId of the task)")
	pos, err := parseFlags(fs, args)
	if err != nil || len(pos) != 0 || *caseID < 0 {
		return errUsage
	}
	if *inline {
		pool, _, err := c.openDB(ctx)
		if err != nil {
			return err
		}
		defer pool.Close()
		fc := &forecast.Forecaster{DB: pool}
		var st forecast.Stats
		if *caseID > 0 {
			st, err = fc.Case(ctx, *caseID)
		} else {
			st, err = fc.All(ctx)
		}
		if err != nil {
			return err
		}
		fmt.Fprintf(c.out, "forecasts: %d cases (%d changed) in %d link groups, %d runs (%d changed), %s "+
			"(groups and runs %s, means %s, case writes %s, run writes %s)\n",
			st.Cases, st.CasesUpdated, st.Groups, st.Runs, st.RunsUpdated, st.Elapsed.Round(time.Millisecond),
			st.Scope.Round(time.Millisecond), st.Samples.Round(time.Millisecond), st.CaseWrites.Round(time.Millisecond), st.RunWrites.Round(time.Millisecond))
		return nil
	}

	var t *asynq.Task
	if *caseID > 0 {
		t, err = task.NewUpdateSingleCaseForecast(task.UpdateSingleCaseForecast{RepositoryCaseID: *caseID, TenantID: *tenantID})
	} else {
		t, err = task.NewUpdateAllCasesForecast(task.UpdateAllCasesForecast{TenantID: *tenantID})
	}
	if err != nil {
		return err
	}
	if err := c.checkTenant(t); err != nil {
		return err
	}
	e, err := c.submit(ctx, t)
	switch {
	case err != nil:
		return err
	case e.Duplicate:
		fmt.Fprintf(c.out, "already enqueued: %s (task ID %s exists)\n", t.Type(), e.ID)
		return nil
	}
	fmt.Fprintf(c.out, "enqueued %s on %s: id=%s\n", t.Type(), e.Queue, e.ID)
	return nil
}

// cmdGenForecastData seeds DATABASE_URL (idempotent) and adds a generated
// forecast data set, by default the benchmark's.
func cmdGenForecastData(ctx context.Context, c *cli, args []string) error {
	s := forecastgen.Nightly
	fs := flag.NewFlagSet("gen-forecast-data", flag.ContinueOnError)
	fs.IntVar(&s.Cases, "cases", s.Cases, "repository cases")
	fs.IntVar(&s.Links, "links", s.Links, "SAME_TEST_DIFFERENT_SOURCE links")
	fs.IntVar(&s.Results, "results", s.Results, "results (manual and JUnit)")
	fs.IntVar(&s.Runs, "runs", s.Runs, "test runs")
	fs.Uint64Var(&s.Seed, "seed", s.Seed, "random seed")
	pos, err := parseFlags(fs, args)
	if err != nil || len(pos) != 0 {
		return errUsage
	}
	pool, _, err := c.openDB(ctx)
	if err != nil {
		return err
	}
	defer pool.Close()
	if err := postgres.Seed(ctx, pool); err != nil {
		return err
	}
	base, err := forecastgen.LoadBase(ctx, pool)
	if err != nil {
		return err
	}
	rep, err := forecastgen.Generate(ctx, pool, base, s)
	if err != nil {
		return err
	}
	fmt.Fprintf(c.out, "generated %d cases, %d links, %d runs, %d run cases, %d results, %d JUnit results in %s\n",
		rep.Cases, rep.Links, rep.Runs, rep.RunCases, rep.Results, rep.JUnitResults, rep.Elapsed.Round(time.Millisecond))
	return nil
}
