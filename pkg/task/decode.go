package task

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"reflect"
	"strings"
	"time"

	"github.com/hibiken/asynq"
)

// ErrInvalidPayload is wrapped by every error about a payload that is not
// valid JSON for its type or fails validation. Such errors are
// [*PayloadError] values and also wrap [asynq.SkipRetry].
var ErrInvalidPayload = errors.New("invalid payload")

// PayloadError reports a payload that cannot be decoded or fails validation.
// It matches both [ErrInvalidPayload] and [asynq.SkipRetry] with errors.Is,
// so a handler that returns it gets the task archived at once, not retried.
//
// Its message reads "<type>: invalid payload: <field>: <problem>", e.g.
// "emails:send-notification-email: invalid payload: notificationId: required";
// the type is absent when the error comes from a payload's Validate method,
// the field when the problem concerns the document as a whole.
type PayloadError struct {
	// Type is the task type, or "" when no task type was involved.
	Type string
	// Field is the JSON name of the offending field, dotted for nested
	// fields ("notifications.id") or indexed where the index is known
	// ("notificationIds[2]"); "" for the document as a whole.
	Field string
	// Problem says what is wrong, e.g. "required".
	Problem string
	// Err is the underlying error (a *json.SyntaxError, say), or nil.
	Err error
}

// Error implements error.
func (e *PayloadError) Error() string {
	var b strings.Builder
	if e.Type != "" {
		b.WriteString(e.Type)
		b.WriteString(": ")
	}
	b.WriteString(ErrInvalidPayload.Error())
	if e.Field != "" {
		b.WriteString(": ")
		b.WriteString(e.Field)
	}
	b.WriteString(": ")
	b.WriteString(e.Problem)
	return b.String()
}

// Unwrap returns [ErrInvalidPayload], [asynq.SkipRetry] and, when set, Err.
func (e *PayloadError) Unwrap() []error {
	if e.Err != nil {
		return []error{ErrInvalidPayload, asynq.SkipRetry, e.Err}
	}
	return []error{ErrInvalidPayload, asynq.SkipRetry}
}

// Payload is implemented by every payload struct of this package.
type Payload interface {
	// Validate reports the first problem of the payload as a *PayloadError,
	// or nil. Payloads shared by several task types (SyncJob) have a
	// ValidateFor(taskType) method too, which Decode and the constructors use.
	Validate() error
}

// typeValidator is implemented by payloads whose rules depend on the task type.
type typeValidator interface {
	ValidateFor(taskType string) error
}

// normalizer is implemented by payloads that tidy themselves after decoding.
type normalizer interface {
	normalize()
}

// Decode unmarshals t's payload into a P and validates it.
//
// Decoding is lenient where producers may evolve and strict where a mistake
// would be silent: unknown fields are ignored, and an empty payload reads as
// {}; but malformed JSON, a value of the wrong JSON type (the string "12"
// where a number is expected) and a failed validation are errors. The error is
// a [*PayloadError] naming t's type and the field; it wraps both
// [ErrInvalidPayload] and [asynq.SkipRetry], so a handler can return it as is.
// On error the returned P is the zero value.
//
// Call it with the payload type only, PP is inferred:
//
//	p, err := task.Decode[task.SendNotificationEmail](t)
func Decode[P any, PP interface {
	*P
	Validate() error
}](t *asynq.Task) (P, error) {
	var p P
	if t == nil {
		return p, &PayloadError{Problem: "nil task"}
	}
	if err := decodeInto(t.Type(), t.Payload(), PP(&p)); err != nil {
		var zero P
		return zero, err
	}
	return p, nil
}

// decodeInto unmarshals b into p (a pointer), normalizes and validates it.
func decodeInto(taskType string, b []byte, p Payload) error {
	if len(bytes.TrimSpace(b)) == 0 {
		b = []byte("{}")
	}
	if err := json.Unmarshal(b, p); err != nil {
		return jsonError(taskType, err)
	}
	if n, ok := p.(normalizer); ok {
		n.normalize()
	}
	return validate(taskType, p)
}

// validate runs p's rules for taskType and stamps the type on the error.
func validate(taskType string, p Payload) error {
	var err error
	if tv, ok := p.(typeValidator); ok {
		err = tv.ValidateFor(taskType)
	} else {
		err = p.Validate()
	}
	if err == nil {
		return nil
	}
	var pe *PayloadError
	if errors.As(err, &pe) {
		c := *pe
		c.Type = taskType
		return &c
	}
	return &PayloadError{Type: taskType, Problem: err.Error(), Err: err}
}

// jsonError turns an encoding/json error into a PayloadError.
func jsonError(taskType string, err error) error {
	var (
		syn *json.SyntaxError
		typ *json.UnmarshalTypeError
		tpe *time.ParseError
	)
	switch {
	case errors.As(err, &syn):
		return &PayloadError{Type: taskType, Problem: fmt.Sprintf("malformed JSON at offset %d: %v", syn.Offset, syn), Err: err}
	case errors.As(err, &typ) && typ.Field == "":
		return &PayloadError{Type: taskType, Problem: "must be a JSON object, got " + typ.Value, Err: err}
	case errors.As(err, &typ):
		return &PayloadError{Type: taskType, Field: typ.Field, Problem: "must be " + kindName(typ.Type) + ", got " + typ.Value, Err: err}
	case errors.As(err, &tpe), strings.HasPrefix(err.Error(), "Time.UnmarshalJSON"):
		return &PayloadError{Type: taskType, Problem: "a timestamp must be an RFC 3339 string: " + err.Error(), Err: err}
	default:
		return &PayloadError{Type: taskType, Problem: err.Error(), Err: err}
	}
}

// kindName describes the JSON a Go type expects.
func kindName(t reflect.Type) string {
	for t != nil && t.Kind() == reflect.Pointer {
		t = t.Elem()
	}
	if t == nil {
		return "a value"
	}
	switch t.Kind() {
	case reflect.String:
		return "a string"
	case reflect.Int, reflect.Int8, reflect.Int16, reflect.Int32, reflect.Int64,
		reflect.Uint, reflect.Uint8, reflect.Uint16, reflect.Uint32, reflect.Uint64:
		return "an integer"
	case reflect.Float32, reflect.Float64:
		return "a number"
	case reflect.Bool:
		return "a boolean"
	case reflect.Struct, reflect.Map:
		return "an object"
	case reflect.Slice, reflect.Array:
		return "an array"
	default:
		return "of type " + t.String()
	}
}
