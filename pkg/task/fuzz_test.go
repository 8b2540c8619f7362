package task_test

import (
	"bytes"
	"encoding/json"
	"errors"
	"testing"

	"github.com/hibiken/asynq"

	"github.com/testplanit/tpi-workers/pkg/task"
)

// FuzzDecode feeds arbitrary bytes to the decoder of every task type. Decoding
// never panics; it either fails with an invalid-payload error that also stops
// retries, or returns a payload that validates again, encodes, and decodes to
// the same encoding. New agrees with Decode.
func FuzzDecode(f *testing.F) {
	seeds := map[string][]string{
		task.TypeCreateNotification: {
			`{"userId":"u1","type":"WORK_ASSIGNED","title":"t","message":"m","data":{"testRunId":3}}`,
			`{"userId":"u1","type":"SYSTEM_ANNOUNCEMENT","title":"t","data":{"htmlContent":"<p>\ud83d\ude00</p>"}}`,
			`{"userId":"u1","type":"NOPE","title":"t"}`,
			`{"userId":"u1","type":"WORK_ASSIGNED","title":"t","data":[{"a":"\u0000"}]}`,
			`{"userId":"u1","type":"WORK_ASSIGNED","title":"t","data":{"a":"\udc00"}}`,
		},
		task.TypeSendDailyDigest:       {`{}`, `{"tenantId":"acme"}`, ``, `null`, `{"tenantId":null}`},
		task.TypeSendNotificationEmail: {`{"notificationId":"n1","userId":"u1","immediate":true}`, `{"notificationId":1}`},
		task.TypeSendDigestEmail: {
			`{"userId":"u1","notifications":[{"id":"n1","title":"t","message":"m","createdAt":"2025-03-04T05:06:07.008Z"}]}`,
			`{"userId":"u1","notificationIds":["n1","n2"],"day":"2025-03-04"}`,
			`{"userId":"u1","notifications":[{"id":"n1","createdAt":"2025-03-04T05:06:07+23:59"}]}`,
			`{"userId":"u1","notifications":[{"id":"n1","createdAt":"bad"}]}`,
		},
		task.TypeUpdateSingleCaseForecast: {`{"repositoryCaseId":12}`, `{"repositoryCaseId":"12"}`, `{"repositoryCaseId":-1}`, `{"repositoryCaseId":9223372036854775808}`},
		task.TypeUpdateAllCasesForecast:   {`{}`, `[]`},
		task.TypeAutoCompleteMilestones:   {`{"tenantId":"t"}`},
		task.TypeMilestoneDueNotifications: {
			`{"tenantId":"t\u0000"}`,
		},
		task.TypeSyncIssues:        {`{"userId":"u","integrationId":1,"action":"sync","data":{"forceRefresh":true}}`, `{"userId":"u","integrationId":1,"data":"\ud800\udc00"}`},
		task.TypeSyncProjectIssues: {`{"userId":"u","integrationId":1,"projectId":"5"}`, `{"userId":"u","integrationId":1,"projectId":"05"}`},
		task.TypeRefreshIssue:      {`{"userId":"u","integrationId":1,"issueId":"P-1","action":"refresh"}`, `{"userId":"u","integrationId":1}`},
		task.TypeProcessTestmoImport: {
			`{"jobId":"ck1"}`, `{"jobId":"ck1","mode":"import","tenantId":"t"}`, `{"jobId":"ck1","mode":"x"}`,
		},
		task.TypeReindex: {`{"entityType":"all","userId":"u"}`, `{"entityType":"issues","projectId":3}`, `{"projectId":null,"importJobId":"j"}`, `{"entityType":"x"}`},
		task.TypeAuditEvent: {
			`{"event":{"action":"UPDATE","entityType":"RepositoryCases","entityId":"12","entityName":"Login","changes":{"name":{"old":"a","new":"b"}},"projectId":3,"userId":"u1","metadata":{"n":1e400}},"context":{"ipAddress":"10.0.0.1","userAgent":"curl","requestId":"r1"},"queuedAt":"2025-03-04T05:06:07.008Z","tenantId":"acme"}`,
			`{"event":{"action":"LOGIN","entityType":"User","entityId":"u1"},"context":null,"queuedAt":"2025-03-04T05:06:07Z"}`,
			`{"event":{"action":"login","entityType":"User","entityId":"u1"},"queuedAt":"2025-03-04T05:06:07Z"}`,
			`{"event":{"action":"LOGIN","entityType":"User","entityId":"u1","changes":[1]},"queuedAt":"2025-03-04T05:06:07Z"}`,
			`{"event":{"action":"LOGIN","entityType":"User","entityId":"u1","metadata":{"a":"\ud800"}},"queuedAt":"2025-03-04T05:06:07Z"}`,
			`{"event":{"action":"LOGIN","entityType":"User","entityId":"u1","projectId":1.5},"queuedAt":"2025-03-04T05:06:07Z"}`,
			`{"event":{"action":"LOGIN","entityType":"User","entityId":"u1"},"queuedAt":"yesterday"}`,
		},
	}
	types := task.Types()
	for i, typ := range types {
		for _, s := range seeds[typ] {
			f.Add(uint8(i), []byte(s))
		}
		f.Add(uint8(i), []byte(`{"a":`))
	}

	f.Fuzz(func(t *testing.T, idx uint8, data []byte) {
		typ := types[int(idx)%len(types)]
		decode := decoderFor(typ)
		got, err := decode(asynq.NewTask(typ, data))
		_, newErr := task.New(typ, data)
		if (err == nil) != (newErr == nil) || (err != nil && err.Error() != newErr.Error()) {
			t.Fatalf("Decode and New disagree: %v / %v", err, newErr)
		}
		if err != nil {
			var pe *task.PayloadError
			if !errors.Is(err, task.ErrInvalidPayload) || !errors.Is(err, asynq.SkipRetry) || !errors.As(err, &pe) || pe.Type != typ {
				t.Fatalf("error %v (%T) is not a *PayloadError for %s wrapping ErrInvalidPayload and SkipRetry", err, err, typ)
			}
			return
		}

		p := got.(task.Payload)
		verr := p.Validate()
		if sj, ok := p.(task.SyncJob); ok {
			verr = sj.ValidateFor(typ)
		}
		if verr != nil {
			t.Fatalf("decoded payload %+v does not validate: %v", p, verr)
		}
		if _, err := task.DefaultOptions(typ, p); err != nil {
			t.Fatalf("DefaultOptions: %v", err)
		}
		enc, err := json.Marshal(p)
		if err != nil {
			t.Fatalf("cannot encode decoded payload %+v: %v", p, err)
		}
		tk, err := task.New(typ, enc)
		if err != nil {
			t.Fatalf("re-encoded payload %s rejected: %v", enc, err)
		}
		again, err := decode(tk)
		if err != nil {
			t.Fatalf("re-encoded payload %s does not decode: %v", enc, err)
		}
		enc2, err := json.Marshal(again)
		if err != nil {
			t.Fatal(err)
		}
		if !bytes.Equal(enc, enc2) {
			t.Fatalf("encoding not stable:\n%s\n%s", enc, enc2)
		}
	})
}
