package task

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"

	"github.com/hibiken/asynq"
)

// Enqueuer puts tasks in a queue: an [*asynq.Client], or the fleet's runtime
// wrapper around one.
type Enqueuer interface {
	EnqueueContext(ctx context.Context, t *asynq.Task, opts ...asynq.Option) (*asynq.TaskInfo, error)
}

// Enqueued says what [Enqueue] did.
type Enqueued struct {
	// ID is the task's ID: the new task's, or, for a duplicate, the ID that
	// was already taken ("" only when asynq picked a random ID and the
	// enqueue failed, which Enqueue reports as an error).
	ID string
	// Queue is the queue the task went to ("" for a duplicate whose queue
	// the options do not say).
	Queue string
	// Duplicate is true when a task with the same ID already existed: the
	// enqueue is a success, nothing new was queued.
	Duplicate bool
	// Info is the new task's (state, time to process...), nil for a
	// duplicate.
	Info *asynq.TaskInfo
}

// Enqueue enqueues t with opts through e. A task whose deterministic ID is
// already taken (asynq.ErrTaskIDConflict) is not an error: Enqueue returns
// that ID with Duplicate set, so every producer treats a duplicate the same
// way. The ID of a duplicate is the last [asynq.TaskID] option of opts, else
// the contract's ID for t's type and payload ([DefaultOptions]).
func Enqueue(ctx context.Context, e Enqueuer, t *asynq.Task, opts ...asynq.Option) (Enqueued, error) {
	info, err := e.EnqueueContext(ctx, t, opts...)
	if err == nil {
		return Enqueued{ID: info.ID, Queue: info.Queue, Info: info}, nil
	}
	if !errors.Is(err, asynq.ErrTaskIDConflict) {
		return Enqueued{}, err
	}
	id, queue := idOf(t, opts)
	return Enqueued{ID: id, Queue: queue, Duplicate: true}, nil
}

// idOf returns the task ID and queue that opts, else the contract, give t.
func idOf(t *asynq.Task, opts []asynq.Option) (id, queue string) {
	if s, ok := lookupType(t.Type()); ok {
		if p, err := s.decode(t.Type(), t.Payload()); err == nil {
			if o, err := DefaultOptions(t.Type(), p); err == nil {
				id, queue = o.TaskID, o.Queue
			}
		}
	}
	for _, o := range opts {
		switch o.Type() {
		case asynq.TaskIDOpt:
			id, _ = o.Value().(string)
		case asynq.QueueOpt:
			queue, _ = o.Value().(string)
		}
	}
	return id, queue
}

// Tenanted is implemented by every payload of this package: Tenant returns
// its tenantId ("" when the producer set none).
type Tenanted interface {
	Tenant() string
}

// TenantOf returns the tenantId of t's JSON payload, "" when it has none. It
// reads only that field, whatever the type; a payload that is not a JSON
// object is an error.
func TenantOf(t *asynq.Task) (string, error) {
	var p struct {
		TenantID string `json:"tenantId"`
	}
	b := t.Payload()
	if len(b) == 0 {
		return "", nil
	}
	if err := json.Unmarshal(b, &p); err != nil {
		return "", fmt.Errorf("%s: tenantId: %w", t.Type(), err)
	}
	return p.TenantID, nil
}
