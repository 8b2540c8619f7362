package worker

import (
	"context"
	"errors"
	"fmt"
	"io"

	"github.com/hibiken/asynq"

	"github.com/testplanit/tpi-workers/internal/tenant"
	"github.com/testplanit/tpi-workers/pkg/task"
)

// HandlerFunc handles one task whose payload was decoded and validated, in a
// context that carries the task's [tenant.Tenant] ([TenantFrom]) and result
// writer ([ResultWriterFrom]).
type HandlerFunc[P any] func(ctx context.Context, p P) error

// Handle registers fn for taskType on mux. Before fn runs, the payload is
// decoded and validated with [task.Decode] (a bad payload is archived with
// the reason) and the tenant it names is resolved by the process's
// [tenant.Resolver] (an unknown, missing or foreign tenant is archived with
// its name; an unreachable tenant database is retried). So no handler
// decodes by hand or looks up a database itself.
//
// The dependency gate (gate.go) runs here too: a task whose dependency is
// down waits without running, and a failure whose dependency does not
// answer right after it spends no attempt.
//
// Outside an [App] (a test calling the handler directly) the context must
// carry a tenant already, set with [WithTenant].
func Handle[P any, PP interface {
	*P
	task.Payload
	task.Tenanted
}](mux *asynq.ServeMux, taskType string, fn HandlerFunc[P]) {
	mux.HandleFunc(taskType, func(ctx context.Context, t *asynq.Task) error {
		p, err := task.Decode[P, PP](t)
		if err != nil {
			return err
		}
		id := PP(&p).Tenant()
		if r, ok := ctx.Value(resolverKey{}).(*tenant.Resolver); ok {
			// An unknown tenant is the task's problem: refuse it before
			// any gate (and its gauge) exists for it.
			if _, _, err := r.Lookup(id); err != nil {
				return Permanent(err)
			}
		}
		gs, _ := ctx.Value(gatesKey{}).(*gates)
		var needs []*gate
		if gs != nil {
			needs = gs.forTask(id)
			if err := admit(needs); err != nil {
				return err
			}
		}
		ctx, err = resolveTenant(ctx, id)
		if err != nil {
			return blame(ctx, needs, err)
		}
		if rw := t.ResultWriter(); rw != nil {
			ctx = context.WithValue(ctx, resultKey{}, io.Writer(rw))
		}
		return blame(ctx, needs, fn(ctx, p))
	})
}

type (
	tenantKey   struct{}
	resolverKey struct{}
	resultKey   struct{}
	gatesKey    struct{}
)

// WithTenant returns ctx carrying tn, for tests and tools that call a
// handler without a server.
func WithTenant(ctx context.Context, tn *tenant.Tenant) context.Context {
	return context.WithValue(ctx, tenantKey{}, tn)
}

// TenantFrom returns the tenant of the task being handled. It panics when
// there is none: a handler registered with [Handle] always has one.
func TenantFrom(ctx context.Context) *tenant.Tenant {
	tn, ok := ctx.Value(tenantKey{}).(*tenant.Tenant)
	if !ok {
		panic("worker: no tenant in the context (register the handler with worker.Handle, or use worker.WithTenant)")
	}
	return tn
}

// ResultWriterFrom returns the task's result writer, nil outside a server.
func ResultWriterFrom(ctx context.Context) io.Writer {
	w, _ := ctx.Value(resultKey{}).(io.Writer)
	return w
}

// withResolver is how [App] hands its resolver to [Handle].
func withResolver(ctx context.Context, r *tenant.Resolver) context.Context {
	return context.WithValue(ctx, resolverKey{}, r)
}

// resolveTenant puts the tenant named id in ctx. Without a resolver in ctx,
// a tenant set by [WithTenant] is used as is.
func resolveTenant(ctx context.Context, id string) (context.Context, error) {
	r, ok := ctx.Value(resolverKey{}).(*tenant.Resolver)
	if !ok {
		if tn, ok := ctx.Value(tenantKey{}).(*tenant.Tenant); ok {
			if id != "" && tn.ID != "" && id != tn.ID {
				return ctx, Permanent(fmt.Errorf("%w: the task names tenant %q, the context holds %q", tenant.ErrForeignTenant, id, tn.ID))
			}
			return ctx, nil
		}
		return ctx, errors.New("worker: no tenant resolver and no tenant in the context")
	}
	tn, err := r.Resolve(ctx, id)
	switch {
	case errors.Is(err, tenant.ErrTenantRequired), errors.Is(err, tenant.ErrUnknownTenant), errors.Is(err, tenant.ErrForeignTenant):
		return ctx, Permanent(err)
	case err != nil:
		return ctx, err
	}
	if tn.ID != "" {
		ctx = WithLogger(ctx, LoggerFrom(ctx).With("tenant", tn.ID))
	}
	return WithTenant(ctx, tn), nil
}

// Client enqueues tasks for handlers: an [asynq.Client] that refuses, as a
// programming error, a task whose payload does not carry the tenant of the
// task being handled, so that no follow-up task loses its tenant (the
// original's defects 1, 3 and 6 of reference section 9).
type Client struct {
	*asynq.Client
}

// NewClient returns a client on the worker's Valkey. Close it.
func NewClient(cfg Config) *Client { return &Client{asynq.NewClient(cfg.Redis)} }

// EnqueueContext enqueues t after checking its tenant against ctx's.
func (c *Client) EnqueueContext(ctx context.Context, t *asynq.Task, opts ...asynq.Option) (*asynq.TaskInfo, error) {
	if tn, ok := ctx.Value(tenantKey{}).(*tenant.Tenant); ok && tn.ID != "" {
		got, err := task.TenantOf(t)
		if err != nil {
			return nil, Permanent(err)
		}
		if got != tn.ID {
			return nil, Permanent(fmt.Errorf("worker: %s enqueued with tenantId %q while handling a task of tenant %q", t.Type(), got, tn.ID))
		}
	}
	return c.Client.EnqueueContext(ctx, t, opts...)
}
