package worker

import (
	"context"
	"fmt"
	"io"
	"log/slog"
	"slices"
	"strings"
	"sync"

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

// withLazyAttrs returns l with attrs added when it first writes a line, not
// now: a task's logger carries its queue, type, ID and retries, and a busy
// worker's tasks mostly write no line (successes are logged at debug), so
// formatting the attributes up front for every task cost more CPU than the
// rest of the runtime's per-task work together.
func withLazyAttrs(l *slog.Logger, attrs ...slog.Attr) *slog.Logger {
	return slog.New(&lazyAttrs{inner: l.Handler(), attrs: attrs})
}

// lazyAttrs is a slog.Handler that adds attrs to inner on first use.
type lazyAttrs struct {
	inner slog.Handler
	attrs []slog.Attr

	once sync.Once
	h    slog.Handler
}

func (l *lazyAttrs) handler() slog.Handler {
	l.once.Do(func() { l.h = l.inner.WithAttrs(l.attrs) })
	return l.h
}

func (l *lazyAttrs) Enabled(ctx context.Context, level slog.Level) bool {
	return l.inner.Enabled(ctx, level)
}

func (l *lazyAttrs) Handle(ctx context.Context, r slog.Record) error {
	return l.handler().Handle(ctx, r)
}

func (l *lazyAttrs) WithAttrs(attrs []slog.Attr) slog.Handler {
	return &lazyAttrs{inner: l.inner, attrs: append(slices.Clip(l.attrs), attrs...)}
}

func (l *lazyAttrs) WithGroup(name string) slog.Handler { return l.handler().WithGroup(name) }

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
