package config

import (
	"errors"
	"fmt"
	"strconv"
	"strings"
	"time"
)

// ConfigError reports one missing or malformed environment variable. Its
// message is a single line that names the variable, suitable as the last
// thing a process prints before exiting.
type ConfigError struct {
	Var    string
	Reason string
}

func (e *ConfigError) Error() string { return "config: " + e.Var + ": " + e.Reason }

// Env reads typed values from an environment lookup function and remembers
// the first error, so a config loader reads every variable in a row and
// checks [Env.Err] once.
//
// The zero value is not usable; build one with [NewEnv].
type Env struct {
	getenv func(string) string
	err    error
}

// NewEnv returns an Env over getenv (os.Getenv in production, a map lookup in
// tests).
func NewEnv(getenv func(string) string) *Env { return &Env{getenv: getenv} }

// Err returns the first error met while reading, as a *ConfigError.
func (e *Env) Err() error { return e.err }

// Fail records a problem with variable name unless one was recorded
// already; loaders outside this package report their own checks with it.
func (e *Env) Fail(name, format string, args ...any) {
	if e.err == nil {
		e.err = &ConfigError{Var: name, Reason: fmt.Sprintf(format, args...)}
	}
}

func (e *Env) lookup(name string) string { return strings.TrimSpace(e.getenv(name)) }

// String returns the variable or def when it is unset or empty.
func (e *Env) String(name, def string) string {
	if v := e.lookup(name); v != "" {
		return v
	}
	return def
}

// Required returns the variable and records an error when it is unset.
func (e *Env) Required(name string) string {
	v := e.lookup(name)
	if v == "" {
		e.Fail(name, "required but not set")
	}
	return v
}

// Int returns the variable as an integer within [min, max], or def when unset.
func (e *Env) Int(name string, def, min, max int) int {
	raw := e.lookup(name)
	if raw == "" {
		return def
	}
	n, err := strconv.Atoi(raw)
	if err != nil {
		e.Fail(name, "%q is not an integer", raw)
		return def
	}
	if n < min || n > max {
		e.Fail(name, "%d is out of range [%d, %d]", n, min, max)
		return def
	}
	return n
}

// Bool returns the variable parsed by strconv.ParseBool, or def when unset.
func (e *Env) Bool(name string, def bool) bool {
	raw := e.lookup(name)
	if raw == "" {
		return def
	}
	b, err := strconv.ParseBool(raw)
	if err != nil {
		e.Fail(name, "%q is not a boolean (use true or false)", raw)
		return def
	}
	return b
}

// Duration returns the variable parsed by time.ParseDuration ("90s", "5m"),
// or def when unset. A bare integer is read as milliseconds, as the original
// Node workers did.
func (e *Env) Duration(name string, def time.Duration) time.Duration {
	raw := e.lookup(name)
	if raw == "" {
		return def
	}
	if ms, err := strconv.ParseInt(raw, 10, 64); err == nil {
		if ms < 0 {
			e.Fail(name, "%q must not be negative", raw)
			return def
		}
		return time.Duration(ms) * time.Millisecond
	}
	d, err := time.ParseDuration(raw)
	if err != nil || d < 0 {
		e.Fail(name, "%q is not a duration (examples: 500ms, 30s, 5m)", raw)
		return def
	}
	return d
}

// Bytes returns a size such as "1G", "512M", "1GiB", "300MB" or a plain
// number of bytes, or def when unset. Suffixes are binary (K = 1024), as in
// PM2's max_memory_restart.
func (e *Env) Bytes(name string, def uint64) uint64 {
	raw := e.lookup(name)
	if raw == "" {
		return def
	}
	n, err := ParseBytes(raw)
	if err != nil {
		e.Fail(name, "%v", err)
		return def
	}
	return n
}

// ParseBytes parses a size as described at [Env.Bytes].
func ParseBytes(raw string) (uint64, error) {
	s := strings.ToUpper(strings.TrimSpace(raw))
	s = strings.TrimSuffix(strings.TrimSuffix(s, "B"), "I")
	mult := uint64(1)
	if s != "" {
		switch s[len(s)-1] {
		case 'K':
			mult = 1 << 10
		case 'M':
			mult = 1 << 20
		case 'G':
			mult = 1 << 30
		case 'T':
			mult = 1 << 40
		}
		if mult != 1 {
			s = s[:len(s)-1]
		}
	}
	n, err := strconv.ParseUint(strings.TrimSpace(s), 10, 64)
	if err != nil || n == 0 {
		return 0, errors.New("\"" + raw + "\" is not a size (examples: 1G, 512M, 1073741824)")
	}
	return n * mult, nil
}
