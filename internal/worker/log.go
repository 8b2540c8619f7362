package worker

import (
	"context"
	"fmt"
	"io"
	"log/slog"
	"strings"

	"github.com/hibiken/asynq"
)

// NewLogger returns a slog logger writing JSON (format "json", the default)
// or human-readable text (format "text") at level, with the service name on
// every line.
func NewLogger(w io.Writer, format string, level slog.Level, service string) *slog.Logger {
	opts := &slog.HandlerOptions{Level: level}
	var h slog.Handler
	if format == "text" {
		h = slog.NewTextHandler(w, opts)
	} else {
		h = slog.NewJSONHandler(w, opts)
	}
	return slog.New(h).With("service", service)
}

func parseLevel(s string) (slog.Level, error) {
	var l slog.Level
	err := l.UnmarshalText([]byte(strings.ToUpper(s)))
	return l, err
}

type loggerKey struct{}

// LoggerFrom returns the logger the runtime attached to a task's context,
// already tagged with queue, type, task ID and retry count. Outside a task it
// returns slog.Default().
func LoggerFrom(ctx context.Context) *slog.Logger {
	if l, ok := ctx.Value(loggerKey{}).(*slog.Logger); ok {
		return l
	}
	return slog.Default()
}

// WithLogger returns ctx carrying l, for tests that call handlers directly.
func WithLogger(ctx context.Context, l *slog.Logger) context.Context {
	return context.WithValue(ctx, loggerKey{}, l)
}

// AsynqLogger adapts l to asynq's Logger interface, for the asynq servers,
// schedulers and managers of the fleet; each line carries component=asynq.
//
// It drops asynq's "Retry exhausted for task id=..." line: asynq writes it
// for every task it archives, also one refused at its first attempt by a
// permanent error, and the runtime's error handler logs "task archived" with
// the task's reason instead (logArchived, the error handler of [App]'s
// servers).
func AsynqLogger(l *slog.Logger) asynq.Logger { return asynqLogger{l} }

type asynqLogger struct{ l *slog.Logger }

// asynqArchiveLine starts the line asynq's processor logs, at warn, before
// archiving a task.
const asynqArchiveLine = "Retry exhausted for task"

func (a asynqLogger) Debug(args ...any) { a.l.Debug(fmt.Sprint(args...), "component", "asynq") }
func (a asynqLogger) Info(args ...any)  { a.l.Info(fmt.Sprint(args...), "component", "asynq") }
func (a asynqLogger) Warn(args ...any) {
	msg := fmt.Sprint(args...)
	if strings.HasPrefix(msg, asynqArchiveLine) {
		return
	}
	a.l.Warn(msg, "component", "asynq")
}
func (a asynqLogger) Error(args ...any) { a.l.Error(fmt.Sprint(args...), "component", "asynq") }
func (a asynqLogger) Fatal(args ...any) {
	a.l.Error(fmt.Sprint(args...), "component", "asynq", "fatal", true)
}

var _ asynq.Logger = asynqLogger{}

func asynqLevel(l slog.Level) asynq.LogLevel {
	switch {
	case l <= slog.LevelDebug:
		return asynq.DebugLevel
	case l <= slog.LevelInfo:
		return asynq.InfoLevel
	case l <= slog.LevelWarn:
		return asynq.WarnLevel
	default:
		return asynq.ErrorLevel
	}
}
