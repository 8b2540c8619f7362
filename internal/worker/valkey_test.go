package worker

import (
	"crypto/tls"
	"strings"
	"testing"

	"github.com/google/go-cmp/cmp"
	"github.com/google/go-cmp/cmp/cmpopts"
	"github.com/hibiken/asynq"
)

func TestParseValkeyURL(t *testing.T) {
	cases := []struct {
		in   string
		want asynq.RedisConnOpt
	}{
		{"valkey://localhost", asynq.RedisClientOpt{Addr: "localhost:6379"}},
		{"redis://127.0.0.1:6380/3", asynq.RedisClientOpt{Addr: "127.0.0.1:6380", DB: 3}},
		{"valkey://:pw@cache:6379", asynq.RedisClientOpt{Addr: "cache:6379", Password: "pw"}},
		{"valkey://alice:p%40ss@cache:6379/1", asynq.RedisClientOpt{Addr: "cache:6379", Username: "alice", Password: "p@ss", DB: 1}},
		{"redis://cache?db=4", asynq.RedisClientOpt{Addr: "cache:6379", DB: 4}},
		{"rediss://bob:pw@secure.example.com:6380/0", asynq.RedisClientOpt{Addr: "secure.example.com:6380", Username: "bob", Password: "pw",
			TLSConfig: &tls.Config{ServerName: "secure.example.com", MinVersion: tls.VersionTLS12}}},
		{"valkeys://secure.example.com", asynq.RedisClientOpt{Addr: "secure.example.com:6379",
			TLSConfig: &tls.Config{ServerName: "secure.example.com", MinVersion: tls.VersionTLS12}}},
		{"unix:///run/valkey.sock?db=2", asynq.RedisClientOpt{Network: "unix", Addr: "/run/valkey.sock", DB: 2}},
		{"valkey+sentinel://u:pw@s1:26379,s2,s3:26380/2?master=mymaster&sentinelPassword=sp",
			asynq.RedisFailoverClientOpt{MasterName: "mymaster", SentinelAddrs: []string{"s1:26379", "s2:26379", "s3:26380"},
				SentinelPassword: "sp", Username: "u", Password: "pw", DB: 2}},
		{"redis+sentinel://s1?master=m", asynq.RedisFailoverClientOpt{MasterName: "m", SentinelAddrs: []string{"s1:26379"}}},
	}
	for _, tc := range cases {
		t.Run(tc.in, func(t *testing.T) {
			got, err := ParseValkeyURL(tc.in)
			if err != nil {
				t.Fatal(err)
			}
			if d := cmp.Diff(tc.want, got, cmpopts.IgnoreUnexported(tls.Config{})); d != "" {
				t.Fatalf("(-want +got)\n%s", d)
			}
		})
	}
}

func TestParseValkeyURLErrors(t *testing.T) {
	cases := map[string]string{
		"":                           "empty URL",
		"http://cache":               `unsupported scheme "http"`,
		"valkey://":                  "missing host",
		"valkey://cache/x":           `database index "x"`,
		"valkey+sentinel://s1":       "needs ?master=",
		"unix://":                    "missing socket path",
		"valkey://u:se cret@cache:x": "not a URL",
	}
	for in, want := range cases {
		_, err := ParseValkeyURL(in)
		if err == nil || !strings.Contains(err.Error(), want) {
			t.Errorf("ParseValkeyURL(%q) = %v, want %q", in, err, want)
		}
		if err != nil && strings.Contains(err.Error(), "cret") {
			t.Errorf("error leaks the password: %v", err)
		}
	}
}

func TestRedactURL(t *testing.T) {
	for in, want := range map[string]string{
		"valkey://alice:secret@cache:6379/1":               "valkey://alice:xxxxx@cache:6379/1",
		"redis://cache:6379":                               "redis://cache:6379",
		"valkey+sentinel://s1?master=m&sentinelPassword=x": "valkey+sentinel://s1?master=m&sentinelPassword=xxxxx",
	} {
		if got := RedactURL(in); got != want {
			t.Errorf("RedactURL(%q) = %q, want %q", in, got, want)
		}
	}
}
