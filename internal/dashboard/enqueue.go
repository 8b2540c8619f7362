package dashboard

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"mime"
	"net/http"
	"strings"
	"time"
	"unicode"
	"unicode/utf8"

	"github.com/hibiken/asynq"

	"github.com/testplanit/tpi-workers/internal/tenant"
	"github.com/testplanit/tpi-workers/pkg/task"
)

// EnqueueRequest is the body of POST /api/v1/tasks.
type EnqueueRequest struct {
	// Type is "<queue>:<job>", e.g. "notifications:create-notification".
	Type string `json:"type"`
	// Tenant is the task's tenant, put into the payload's tenantId (see
	// [WithTenant]); it may be given there instead. In multi-tenant mode
	// every task names a configured tenant.
	Tenant string `json:"tenant,omitempty"`
	// Payload is the job data, the JSON the original passed to queue.add.
	Payload json.RawMessage `json:"payload"`
	// Options override the type's defaults.
	Options EnqueueOptions `json:"options"`
}

// EnqueueOptions are the options a producer may set. BullMQ's jobId and
// delay keep their names so that a call to queue.add maps one to one.
type EnqueueOptions struct {
	// TaskID makes the call idempotent: a second call with the same ID
	// enqueues nothing and answers 200 with "duplicate": true. JobID is
	// BullMQ's name for it.
	TaskID string `json:"taskId,omitempty"`
	JobID  string `json:"jobId,omitempty"`
	// Delay in milliseconds, as BullMQ's.
	Delay *int64 `json:"delay,omitempty"`
	// ProcessAt is an RFC 3339 time; not with Delay.
	ProcessAt *time.Time `json:"processAt,omitempty"`
	// MaxRetry is the number of retries after the first attempt (0..25).
	MaxRetry *int `json:"maxRetry,omitempty"`
	// Timeout bounds one attempt, a Go duration ("90s", "2h"), 1s..24h.
	Timeout string `json:"timeout,omitempty"`
	// Retention keeps the completed task (and its ID taken), 0..90 days.
	Retention string `json:"retention,omitempty"`
}

// EnqueueResponse is the body of a successful answer.
type EnqueueResponse struct {
	ID        string    `json:"id,omitempty"`
	Type      string    `json:"type"`
	Queue     string    `json:"queue"`
	State     string    `json:"state,omitempty"`
	ProcessAt time.Time `json:"processAt,omitzero"`
	// Duplicate is true when a task with this ID already existed.
	Duplicate bool `json:"duplicate,omitempty"`
}

type errorBody struct {
	Error string `json:"error"`
}

// Bounds of the enqueue API's options.
const (
	maxTaskIDLen = 200
	// maxProcessAhead is as far as processAt (and delay) may be; beyond,
	// the task is most likely a mistake (a year 9999, a time in ms).
	maxProcessAhead = 365 * 24 * time.Hour
	// maxProcessBehind is as far in the past as processAt may be (it then
	// runs at once); beyond, the time is most likely wrong.
	maxProcessBehind = 30 * 24 * time.Hour
)

func (s *Server) enqueue(w http.ResponseWriter, r *http.Request) {
	code, body := s.enqueueStatus(w, r)
	s.apiRequests.WithLabelValues(fmt.Sprint(code)).Inc()
	w.Header().Set("Content-Type", "application/json")
	w.Header().Set("Cache-Control", "no-store")
	w.WriteHeader(code)
	_ = json.NewEncoder(w).Encode(body)
}

func (s *Server) enqueueStatus(w http.ResponseWriter, r *http.Request) (int, any) {
	if r.Method != http.MethodPost {
		w.Header().Set("Allow", http.MethodPost)
		return http.StatusMethodNotAllowed, errorBody{"method not allowed: use POST"}
	}
	role, ok := s.authorize(r, RoleProducer)
	if !ok {
		s.authFailed.WithLabelValues("enqueue").Inc()
		s.log.Warn("request refused", "area", "enqueue", "remote", r.RemoteAddr, "role", role.String())
		if role != RoleNone {
			return http.StatusForbidden, errorBody{"forbidden: the enqueue API takes the producer token (DASHBOARD_PRODUCER_TOKEN_HASH)"}
		}
		w.Header().Set("WWW-Authenticate", `Bearer realm="TestPlanIt enqueue API"`)
		if s.cfg.Credentials.ProducerTokenHash == "" {
			return http.StatusUnauthorized, errorBody{"unauthorized: the enqueue API is disabled: DASHBOARD_PRODUCER_TOKEN_HASH is not set"}
		}
		return http.StatusUnauthorized, errorBody{"unauthorized: missing or wrong bearer token"}
	}
	if mt, _, err := mime.ParseMediaType(r.Header.Get("Content-Type")); err != nil || mt != "application/json" {
		return http.StatusUnsupportedMediaType, errorBody{"Content-Type must be application/json"}
	}
	raw, err := io.ReadAll(http.MaxBytesReader(w, r.Body, s.cfg.MaxBodyBytes))
	var tooBig *http.MaxBytesError
	switch {
	case errors.As(err, &tooBig):
		return http.StatusRequestEntityTooLarge, errorBody{fmt.Sprintf("body larger than %d bytes", s.cfg.MaxBodyBytes)}
	case err != nil:
		return http.StatusBadRequest, errorBody{"reading body: " + err.Error()}
	}
	req, opts, err := parseEnqueue(raw, s.clock.Now())
	if err != nil {
		return http.StatusBadRequest, errorBody{err.Error()}
	}
	payload, err := WithTenant(req.Payload, req.Tenant)
	if err != nil {
		return http.StatusBadRequest, errorBody{err.Error()}
	}
	t, err := task.New(req.Type, payload)
	if err != nil {
		return http.StatusBadRequest, errorBody{err.Error()}
	}
	tenantID, err := task.TenantOf(t)
	if err != nil {
		return http.StatusBadRequest, errorBody{err.Error()}
	}
	// Refuse what the workers would archive: a missing or unknown tenant in
	// multi-tenant mode, another instance's tenant in single-tenant mode.
	if _, _, err := s.tenants.Lookup(tenantID); err != nil {
		if errors.Is(err, tenant.ErrTenantRequired) {
			return http.StatusBadRequest, errorBody{err.Error() + `: give "tenant" or payload.tenantId`}
		}
		return http.StatusBadRequest, errorBody{err.Error()}
	}
	// The caller's options go to Enqueue, not into the task, so that a
	// duplicate is answered with the caller's ID (else the contract's).
	enq, err := task.Enqueue(r.Context(), s.client, t, opts...)
	if err != nil {
		s.log.Error("enqueue failed", "type", req.Type, "tenant", tenantID, "err", err)
		return http.StatusServiceUnavailable, errorBody{"cannot reach the queue store; retry later"}
	}
	if enq.Duplicate {
		queue := enq.Queue
		if queue == "" {
			queue, _ = task.QueueOf(req.Type)
		}
		s.log.Info("task already enqueued", "type", req.Type, "queue", queue, "task_id", enq.ID, "tenant", tenantID, "role", role.String())
		return http.StatusOK, EnqueueResponse{ID: enq.ID, Type: req.Type, Queue: queue, Duplicate: true}
	}
	info := enq.Info
	s.log.Info("task enqueued", "type", info.Type, "queue", info.Queue, "task_id", info.ID, "tenant", tenantID, "role", role.String())
	return http.StatusCreated, EnqueueResponse{ID: info.ID, Type: info.Type, Queue: info.Queue, State: info.State.String(), ProcessAt: info.NextProcessAt}
}

// WithTenant returns payload with its tenantId set to tenantID: the rule of
// every producer that takes the tenant beside the payload (the enqueue API's
// "tenant", tpictl's --tenant). An empty tenantID leaves payload as it is; a
// payload that names the same tenant is returned unchanged, one that names
// another is an error. Other fields are kept (re-encoded, in key order).
func WithTenant(payload json.RawMessage, tenantID string) (json.RawMessage, error) {
	if tenantID == "" {
		return payload, nil
	}
	if !utf8.ValidString(tenantID) {
		return nil, errors.New("tenant: not valid UTF-8")
	}
	var fields map[string]json.RawMessage
	if len(bytes.TrimSpace(payload)) > 0 {
		if err := json.Unmarshal(payload, &fields); err != nil {
			return nil, fmt.Errorf("payload: a JSON object is needed to set the tenant: %s", strings.TrimPrefix(err.Error(), "json: "))
		}
	}
	if raw, ok := fields["tenantId"]; ok && string(bytes.TrimSpace(raw)) != "null" {
		var named string
		if err := json.Unmarshal(raw, &named); err != nil {
			return nil, errors.New("payload.tenantId: must be a string")
		}
		switch named {
		case tenantID:
			return payload, nil
		case "":
		default:
			return nil, fmt.Errorf("tenant %q: the payload names another tenant (tenantId %q)", tenantID, named)
		}
	}
	if fields == nil {
		fields = map[string]json.RawMessage{}
	}
	id, err := json.Marshal(tenantID)
	if err != nil {
		return nil, fmt.Errorf("tenant: %w", err)
	}
	fields["tenantId"] = id
	var b bytes.Buffer
	enc := json.NewEncoder(&b)
	enc.SetEscapeHTML(false) // keep the producer's text as it was
	if err := enc.Encode(fields); err != nil {
		return nil, fmt.Errorf("payload: %w", err)
	}
	return bytes.TrimSuffix(b.Bytes(), []byte("\n")), nil
}

// parseEnqueue decodes and checks a request body received at now, returning
// the asynq options it asks for. Errors are the 400 message.
func parseEnqueue(raw []byte, now time.Time) (EnqueueRequest, []asynq.Option, error) {
	var req EnqueueRequest
	// encoding/json would replace invalid UTF-8 with U+FFFD without a word:
	// the task would not hold what the producer sent.
	if !utf8.Valid(raw) {
		return req, nil, fmt.Errorf("%s: not valid UTF-8", invalidUTF8Field(raw))
	}
	dec := json.NewDecoder(bytes.NewReader(raw))
	dec.DisallowUnknownFields()
	if err := dec.Decode(&req); err != nil {
		return req, nil, fmt.Errorf("body: %s", strings.TrimPrefix(err.Error(), "json: "))
	}
	if dec.More() {
		return req, nil, errors.New("body: one JSON object expected")
	}
	if req.Type == "" {
		return req, nil, errors.New("type: required")
	}
	if _, ok := task.QueueOf(req.Type); !ok {
		return req, nil, fmt.Errorf("type: %v %q (known: %s)", task.ErrUnknownType, req.Type, strings.Join(task.Types(), ", "))
	}
	if len(bytes.TrimSpace(req.Payload)) == 0 || string(bytes.TrimSpace(req.Payload)) == "null" {
		req.Payload = json.RawMessage("{}")
	}
	o := &req.Options
	var opts []asynq.Option
	switch {
	case o.TaskID != "" && o.JobID != "" && o.TaskID != o.JobID:
		return req, nil, errors.New("options: taskId and jobId differ; give one")
	case o.TaskID == "":
		o.TaskID = o.JobID
	}
	if o.TaskID != "" {
		if err := checkTaskID(o.TaskID); err != nil {
			return req, nil, err
		}
		opts = append(opts, asynq.TaskID(o.TaskID))
	}
	if o.Delay != nil && o.ProcessAt != nil {
		return req, nil, errors.New("options: give delay or processAt, not both")
	}
	if o.Delay != nil {
		if *o.Delay < 0 || *o.Delay > 365*24*3600*1000 {
			return req, nil, fmt.Errorf("options.delay: %d ms is out of range (0 to one year)", *o.Delay)
		}
		opts = append(opts, asynq.ProcessIn(time.Duration(*o.Delay)*time.Millisecond))
	}
	if o.ProcessAt != nil {
		at := *o.ProcessAt
		if at.After(now.Add(maxProcessAhead)) || at.Before(now.Add(-maxProcessBehind)) {
			return req, nil, fmt.Errorf("options.processAt: %s is out of range (from 30 days ago to one year ahead)", at.Format(time.RFC3339))
		}
		opts = append(opts, asynq.ProcessAt(at))
	}
	if o.MaxRetry != nil {
		if *o.MaxRetry < 0 || *o.MaxRetry > 25 {
			return req, nil, fmt.Errorf("options.maxRetry: %d is out of range (0 to 25)", *o.MaxRetry)
		}
		opts = append(opts, task.MaxRetry(*o.MaxRetry))
	}
	if o.Timeout != "" {
		d, err := time.ParseDuration(o.Timeout)
		if err != nil || d < time.Second || d > 24*time.Hour {
			return req, nil, fmt.Errorf("options.timeout: %q is not a duration from 1s to 24h", o.Timeout)
		}
		opts = append(opts, asynq.Timeout(d))
	}
	if o.Retention != "" {
		d, err := time.ParseDuration(o.Retention)
		if err != nil || d < 0 || d > 90*24*time.Hour {
			return req, nil, fmt.Errorf("options.retention: %q is not a duration from 0s to 2160h (90 days)", o.Retention)
		}
		opts = append(opts, asynq.Retention(d))
	}
	return req, opts, nil
}

func checkTaskID(id string) error {
	if len(id) > maxTaskIDLen {
		return fmt.Errorf("options.taskId: longer than %d bytes", maxTaskIDLen)
	}
	if strings.TrimSpace(id) == "" {
		return errors.New("options.taskId: blank")
	}
	for _, r := range id {
		if unicode.IsControl(r) || unicode.IsSpace(r) {
			return errors.New("options.taskId: must not contain spaces or control characters")
		}
	}
	// asynqmon puts the ID in its URLs' paths: a / or .. there would name
	// another resource, and the task could be neither seen nor deleted.
	for _, r := range id {
		if !isTaskIDChar(r) {
			return fmt.Errorf("options.taskId: %q is not allowed: use letters, digits and . _ : -", r)
		}
	}
	if strings.Contains(id, "..") {
		return errors.New(`options.taskId: must not contain ".."`)
	}
	return nil
}

func isTaskIDChar(r rune) bool {
	return 'a' <= r && r <= 'z' || 'A' <= r && r <= 'Z' || '0' <= r && r <= '9' || r == '.' || r == '_' || r == ':' || r == '-'
}

// maxUTF8Depth bounds how deep invalidUTF8Field looks into nested JSON: it
// re-parses each level, so a deeply nested body would cost quadratic time.
const maxUTF8Depth = 8

// invalidUTF8Field names where raw, a body that is not valid UTF-8, holds
// the first invalid bytes: "payload.title", "options.taskId", "tenant", or
// "body" when it cannot tell (a key, or a body that does not parse).
func invalidUTF8Field(raw []byte) string {
	name := utf8FieldIn("", raw, 0)
	if name == "" {
		return "body"
	}
	return name
}

// utf8FieldIn returns the path, below prefix, of the first value of raw
// holding invalid UTF-8; prefix itself when raw is not an object or array
// (or maxUTF8Depth is reached).
func utf8FieldIn(prefix string, raw []byte, depth int) string {
	if depth == maxUTF8Depth {
		return prefix
	}
	join := func(k string) string {
		if prefix == "" {
			return k
		}
		return prefix + "." + k
	}
	dec := json.NewDecoder(bytes.NewReader(raw))
	tok, err := dec.Token()
	if err != nil {
		return prefix
	}
	switch tok {
	case json.Delim('{'):
		for dec.More() {
			start := dec.InputOffset()
			kt, err := dec.Token()
			if err != nil {
				return prefix
			}
			if key := raw[start:dec.InputOffset()]; !utf8.Valid(key) {
				return prefix // the key itself
			}
			var v json.RawMessage
			if err := dec.Decode(&v); err != nil {
				return prefix
			}
			if !utf8.Valid(v) {
				return utf8FieldIn(join(kt.(string)), v, depth+1)
			}
		}
	case json.Delim('['):
		for i := 0; dec.More(); i++ {
			var v json.RawMessage
			if err := dec.Decode(&v); err != nil {
				return prefix
			}
			if !utf8.Valid(v) {
				return utf8FieldIn(fmt.Sprintf("%s[%d]", prefix, i), v, depth+1)
			}
		}
	}
	return prefix
}
