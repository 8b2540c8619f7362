package worker

import (
	"crypto/tls"
	"net/url"
	"runtime"
	"slices"
	"strings"
	"testing"

	"github.com/google/go-cmp/cmp"
	"github.com/google/go-cmp/cmp/cmpopts"
	"github.com/hibiken/asynq"
	"github.com/redis/go-redis/v9"
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
		{"valkey+cluster://h1:7000,h2:7001,h3", asynq.RedisClusterClientOpt{Addrs: []string{"h1:7000", "h2:7001", "h3:6379"}}},
		{"redis+cluster://u:p%40ss@10.0.0.1:7000,10.0.0.2:7000/0", asynq.RedisClusterClientOpt{Addrs: []string{"10.0.0.1:7000", "10.0.0.2:7000"},
			Username: "u", Password: "p@ss"}},
		{"valkeys+cluster://:pw@c1.example.com:7000,c2.example.com:7000", asynq.RedisClusterClientOpt{
			Addrs: []string{"c1.example.com:7000", "c2.example.com:7000"}, Password: "pw",
			TLSConfig: &tls.Config{MinVersion: tls.VersionTLS12}}},
		{"rediss+cluster://c1", asynq.RedisClusterClientOpt{Addrs: []string{"c1:6379"}, TLSConfig: &tls.Config{MinVersion: tls.VersionTLS12}}},
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
		"valkey+cluster://":          "cluster URL needs at least one host",
		"valkey+cluster://h1,h2/3":   "database 0 only",
		"redis+cluster://h1?db=x":    `database index "x"`,
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
		"valkeys+cluster://u:secret@h1:7000,h2:7001":       "valkeys+cluster://u:xxxxx@h1:7000,h2:7001",
		"valkey+cluster://:secret@h1:7000,h2/0":            "valkey+cluster://:xxxxx@h1:7000,h2/0",
	} {
		if got := RedactURL(in); got != want {
			t.Errorf("RedactURL(%q) = %q, want %q", in, got, want)
		}
	}
}

// A cluster URL gives a cluster client wherever the fleet needs a go-redis
// client, sized like the others, and says so in messages without the
// password.
func TestClusterConnection(t *testing.T) {
	raw := "valkey+cluster://u:secret@127.0.0.1:7000,127.0.0.1:7001"
	opt, err := ParseValkeyURL(raw)
	if err != nil {
		t.Fatal(err)
	}
	c := Config{Redis: opt, RedisURL: RedactURL(raw), Concurrency: 50, FetchLoops: 16}
	rc, ok := c.withPoolSize().MakeRedisClient().(*redis.ClusterClient)
	if !ok {
		t.Fatalf("client %T, want *redis.ClusterClient", c.withPoolSize().MakeRedisClient())
	}
	defer rc.Close()
	o := rc.Options()
	if want := max(50+3*16+10, 10*runtime.GOMAXPROCS(0)); o.PoolSize != want || o.Username != "u" || o.Password != "secret" ||
		!slices.Equal(o.Addrs, []string{"127.0.0.1:7000", "127.0.0.1:7001"}) {
		t.Errorf("cluster options %+v, want pool %d, user u, both seeds", o, want)
	}
	got := c.describeRedis()
	if want := "cluster via [127.0.0.1:7000 127.0.0.1:7001] (VALKEY_URL=valkey+cluster://u:xxxxx@127.0.0.1:7000,127.0.0.1:7001)"; got != want {
		t.Errorf("describeRedis() = %q, want %q", got, want)
	}
}

// VALKEY_URL is outside input: parsing never panics, and neither an error
// nor the redacted form shows the password.
func FuzzParseValkeyURL(f *testing.F) {
	for _, s := range []string{
		"valkey://alice:secret@cache:6379/1", "valkey+sentinel://u:secret@s1,s2:26380/2?master=m&sentinelPassword=secret",
		"valkeys+cluster://:secret@h1:7000,h2", "unix:///run/v.sock?db=2", "redis+cluster://u:secret@[::1]:7000,[::2]/0",
	} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, raw string) {
		_, err := ParseValkeyURL(raw)
		hosts, parsable := cutHostList(raw)
		u, perr := url.Parse(parsable)
		if perr != nil || u.User == nil {
			return
		}
		pass, ok := u.User.Password()
		// A password that also appears outside the user information (a
		// host named like it) may show there.
		if !ok || len(pass) < 6 || strings.Count(raw, pass) != 1 || strings.Contains(hosts, pass) {
			return
		}
		if err != nil && strings.Contains(err.Error(), pass) {
			t.Errorf("error shows the password: %v", err)
		}
		if r := RedactURL(raw); strings.Contains(r, pass) {
			t.Errorf("RedactURL(%q) = %q shows the password", raw, r)
		}
	})
}
