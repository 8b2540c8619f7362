package config

import (
	"testing"
	"time"
)

func mapEnv(m map[string]string) func(string) string {
	return func(k string) string { return m[k] }
}

func TestEnvReadsTypedValues(t *testing.T) {
	e := NewEnv(mapEnv(map[string]string{
		"N": "7", "B": "true", "D": "1500", "D2": "2m", "S": " x ", "SZ": "512M",
	}))
	if got := e.Int("N", 1, 1, 10); got != 7 {
		t.Errorf("Int = %d", got)
	}
	if got := e.Bool("B", false); !got {
		t.Errorf("Bool = %v", got)
	}
	if got := e.Duration("D", 0); got != 1500*time.Millisecond {
		t.Errorf("Duration(ms) = %v", got)
	}
	if got := e.Duration("D2", 0); got != 2*time.Minute {
		t.Errorf("Duration = %v", got)
	}
	if got := e.String("S", "def"); got != "x" {
		t.Errorf("String = %q", got)
	}
	if got := e.String("UNSET", "def"); got != "def" {
		t.Errorf("String default = %q", got)
	}
	if got := e.Bytes("SZ", 0); got != 512<<20 {
		t.Errorf("Bytes = %d", got)
	}
	if err := e.Err(); err != nil {
		t.Fatal(err)
	}
}

func TestEnvErrorsNameTheVariable(t *testing.T) {
	cases := []struct {
		name string
		read func(*Env)
		want string
	}{
		{"required", func(e *Env) { e.Required("VALKEY_URL") }, "config: VALKEY_URL: required but not set"},
		{"int", func(e *Env) { e.Int("EMAIL_CONCURRENCY", 3, 1, 100) }, `config: EMAIL_CONCURRENCY: "abc" is not an integer`},
		{"range", func(e *Env) { e.Int("RANGE", 3, 1, 100) }, "config: RANGE: 0 is out of range [1, 100]"},
		{"bool", func(e *Env) { e.Bool("FLAG", false) }, `config: FLAG: "maybe" is not a boolean (use true or false)`},
		{"duration", func(e *Env) { e.Duration("SHUTDOWN_TIMEOUT", 0) }, `config: SHUTDOWN_TIMEOUT: "soon" is not a duration (examples: 500ms, 30s, 5m)`},
		{"bytes", func(e *Env) { e.Bytes("MAX_MEMORY_RESTART", 0) }, `config: MAX_MEMORY_RESTART: "lots" is not a size (examples: 1G, 512M, 1073741824)`},
	}
	env := map[string]string{"EMAIL_CONCURRENCY": "abc", "RANGE": "0", "FLAG": "maybe", "SHUTDOWN_TIMEOUT": "soon", "MAX_MEMORY_RESTART": "lots"}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			e := NewEnv(mapEnv(env))
			tc.read(e)
			e.Required("ALSO_MISSING") // only the first error is kept
			if e.Err() == nil || e.Err().Error() != tc.want {
				t.Fatalf("err = %v, want %q", e.Err(), tc.want)
			}
		})
	}
}

func TestParseBytes(t *testing.T) {
	for in, want := range map[string]uint64{"1G": 1 << 30, "1GiB": 1 << 30, "1gb": 1 << 30, "300M": 300 << 20, "64k": 64 << 10, "1073741824": 1 << 30} {
		got, err := ParseBytes(in)
		if err != nil || got != want {
			t.Errorf("ParseBytes(%q) = %d, %v; want %d", in, got, err, want)
		}
	}
	for _, in := range []string{"", "0", "G", "-1G", "1.5G", "1X"} {
		if _, err := ParseBytes(in); err == nil {
			t.Errorf("ParseBytes(%q) succeeded", in)
		}
	}
}
