package task_test

import (
	"context"
	"errors"
	"fmt"
	"log"

	"github.com/hibiken/asynq"

	"github.com/testplanit/tpi-workers/pkg/task"
)

// A producer builds a task with a typed constructor and enqueues it. The task
// carries its queue, retries, timeout and retention; enqueue-time options
// override them.
func ExampleNewCreateNotification() {
	client := asynq.NewClient(asynq.RedisClientOpt{Addr: "127.0.0.1:6379"})
	defer client.Close()

	t, err := task.NewCreateNotification(task.CreateNotification{
		UserID:  "clx0user0000000000000000",
		Type:    task.NotificationTypeWorkAssigned,
		Title:   "Test case assigned",
		Message: "Login works was assigned to you in Release 2.0",
		Data:    []byte(`{"projectId":1,"testRunId":42,"testCaseId":7}`),
	})
	if err != nil {
		log.Fatal(err) // a programming error: the payload is invalid
	}
	info, err := client.EnqueueContext(context.Background(), t)
	if err != nil {
		log.Fatal(err) // Valkey is unreachable: try again later
	}
	log.Printf("enqueued %s on %s", info.ID, info.Queue)
}

// Tasks whose duplicates would be harmful get a deterministic task ID. An ID
// conflict on enqueue means the task is already there: that is success.
func ExampleNewSendNotificationEmail() {
	client := asynq.NewClient(asynq.RedisClientOpt{Addr: "127.0.0.1:6379"})
	defer client.Close()

	t, err := task.NewSendNotificationEmail(task.SendNotificationEmail{
		NotificationID: "clx0notification00000000",
		UserID:         "clx0user0000000000000000",
		Immediate:      true,
	})
	if err != nil {
		log.Fatal(err)
	}
	_, err = client.Enqueue(t)
	switch {
	case errors.Is(err, asynq.ErrTaskIDConflict):
		// Already enqueued (a retried producer): nothing to do.
	case err != nil:
		log.Fatal(err)
	}
}

// New builds a task from raw JSON, as the operator CLI and the HTTP enqueue
// API do, and reports a bad payload precisely.
func ExampleNew() {
	_, err := task.New(task.TypeSendNotificationEmail, []byte(`{"userId":"u1","immediate":true}`))
	fmt.Println(err)
	fmt.Println(errors.Is(err, task.ErrInvalidPayload))

	_, err = task.New(task.TypeUpdateSingleCaseForecast, []byte(`{"repositoryCaseId":"12"}`))
	fmt.Println(err)

	_, err = task.New("emails:send-email", []byte(`{}`))
	fmt.Println(err, errors.Is(err, task.ErrUnknownType))

	t, err := task.New(task.TypeProcessTestmoImport, []byte(`{"jobId":"ck1","mode":"import"}`))
	fmt.Println(t.Type(), err)
	// Output:
	// emails:send-notification-email: invalid payload: notificationId: required
	// true
	// forecast-updates:update-single-case-forecast: invalid payload: repositoryCaseId: must be an integer, got string
	// unknown task type "emails:send-email" true
	// testmo-imports:process-testmo-import <nil>
}

// A worker decodes the payload with Decode and returns its error as is: it
// wraps asynq.SkipRetry, so a bad payload is archived, not retried.
func ExampleDecode() {
	handler := func(ctx context.Context, t *asynq.Task) error {
		p, err := task.Decode[task.SendNotificationEmail](t)
		if err != nil {
			return err
		}
		fmt.Println("send notification", p.NotificationID, "to", p.UserID)
		return nil
	}

	good, _ := task.NewSendNotificationEmail(task.SendNotificationEmail{NotificationID: "n1", UserID: "u1"})
	fmt.Println(handler(context.Background(), good))

	bad := asynq.NewTask(task.TypeSendNotificationEmail, []byte(`{"notificationId":"n1"}`))
	err := handler(context.Background(), bad)
	fmt.Println(err)
	fmt.Println(errors.Is(err, asynq.SkipRetry))
	// Output:
	// send notification n1 to u1
	// <nil>
	// emails:send-notification-email: invalid payload: userId: required
	// true
}

// DefaultOptions shows what a task gets by default.
func ExampleDefaultOptions() {
	o, _ := task.DefaultOptions(task.TypeReindex, task.Reindex{EntityType: task.EntityAll, ImportJobID: "ck1"})
	fmt.Printf("%s retries=%d timeout=%s retention=%s id=%s\n", o.Queue, o.MaxRetry, o.Timeout, o.Retention, o.TaskID)
	// Output:
	// elasticsearch-reindex retries=0 timeout=6h0m0s retention=168h0m0s id=reindex:after-import:ck1
}

// Workers use RetryDelay as the server's RetryDelayFunc and take each queue's
// concurrency from its variable.
func ExampleRetryDelay() {
	q, _ := task.LookupQueue(task.QueueEmails)
	srv := asynq.NewServer(asynq.RedisClientOpt{Addr: "127.0.0.1:6379"}, asynq.Config{
		Queues:         map[string]int{q.Name: 1},
		Concurrency:    q.DefaultConcurrency, // or the value of q.ConcurrencyEnv
		RetryDelayFunc: task.RetryDelay,
	})
	_ = srv
}
