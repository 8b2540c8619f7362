package worker

import (
	"crypto/tls"
	"fmt"
	"net"
	"net/url"
	"strconv"
	"strings"

	"github.com/hibiken/asynq"
)

// ParseValkeyURL turns VALKEY_URL into asynq connection options.
//
// asynq.ParseRedisURI drops the username and rejects valkey://, so the fleet
// parses the URL itself. Accepted forms:
//
//	valkey://[user:password@]host[:6379][/db]     plain TCP (redis:// is the same)
//	valkeys://[user:password@]host[:6379][/db]    TLS (rediss:// is the same)
//	valkey+sentinel://[user:password@]s1:26379,s2:26379[/db]?master=mymaster[&sentinelPassword=x][&sentinelUsername=u]
//	unix:///run/valkey.sock[?db=N]                a Unix socket
//
// redis+sentinel:// is accepted as an alias of valkey+sentinel://.
func ParseValkeyURL(raw string) (asynq.RedisConnOpt, error) {
	if strings.TrimSpace(raw) == "" {
		return nil, fmt.Errorf("empty URL")
	}
	u, err := url.Parse(raw)
	if err != nil {
		return nil, fmt.Errorf("not a URL: %v", redactErr(err, raw))
	}
	var user, pass string
	if u.User != nil {
		user = u.User.Username()
		pass, _ = u.User.Password()
	}
	q := u.Query()
	switch u.Scheme {
	case "valkey", "redis", "valkeys", "rediss":
		host := u.Host
		if host == "" {
			return nil, fmt.Errorf("missing host")
		}
		if u.Port() == "" {
			host = net.JoinHostPort(u.Hostname(), "6379")
		}
		db, err := parseDB(u.Path, q.Get("db"))
		if err != nil {
			return nil, err
		}
		opt := asynq.RedisClientOpt{Addr: host, Username: user, Password: pass, DB: db}
		if u.Scheme == "valkeys" || u.Scheme == "rediss" {
			opt.TLSConfig = &tls.Config{ServerName: u.Hostname(), MinVersion: tls.VersionTLS12}
		}
		return opt, nil
	case "unix":
		if u.Path == "" {
			return nil, fmt.Errorf("missing socket path")
		}
		db, err := parseDB("", q.Get("db"))
		if err != nil {
			return nil, err
		}
		return asynq.RedisClientOpt{Network: "unix", Addr: u.Path, Username: user, Password: pass, DB: db}, nil
	case "valkey+sentinel", "redis+sentinel":
		master := q.Get("master")
		if master == "" {
			return nil, fmt.Errorf("sentinel URL needs ?master=<name>")
		}
		var addrs []string
		for _, h := range strings.Split(u.Host, ",") {
			h = strings.TrimSpace(h)
			if h == "" {
				continue
			}
			if _, _, err := net.SplitHostPort(h); err != nil {
				h = net.JoinHostPort(h, "26379")
			}
			addrs = append(addrs, h)
		}
		if len(addrs) == 0 {
			return nil, fmt.Errorf("sentinel URL needs at least one host")
		}
		db, err := parseDB(u.Path, q.Get("db"))
		if err != nil {
			return nil, err
		}
		return asynq.RedisFailoverClientOpt{
			MasterName:       master,
			SentinelAddrs:    addrs,
			SentinelUsername: q.Get("sentinelUsername"),
			SentinelPassword: q.Get("sentinelPassword"),
			Username:         user,
			Password:         pass,
			DB:               db,
		}, nil
	default:
		return nil, fmt.Errorf("unsupported scheme %q (use valkey://, valkeys://, redis://, rediss://, valkey+sentinel:// or unix://)", u.Scheme)
	}
}

func parseDB(path, query string) (int, error) {
	s := strings.Trim(path, "/")
	if s == "" {
		s = query
	}
	if s == "" {
		return 0, nil
	}
	db, err := strconv.Atoi(s)
	if err != nil || db < 0 {
		return 0, fmt.Errorf("database index %q is not a non-negative integer", s)
	}
	return db, nil
}

// RedactURL returns raw with any password replaced by "xxxxx", for logs and
// error messages. Query parameters named like passwords are redacted too.
func RedactURL(raw string) string {
	u, err := url.Parse(raw)
	if err != nil {
		return "<unparsable URL>"
	}
	if u.User != nil {
		if _, ok := u.User.Password(); ok {
			u.User = url.UserPassword(u.User.Username(), "xxxxx")
		}
	}
	q := u.Query()
	changed := false
	for k := range q {
		if strings.Contains(strings.ToLower(k), "password") {
			q.Set(k, "xxxxx")
			changed = true
		}
	}
	if changed {
		u.RawQuery = q.Encode()
	}
	return u.String()
}

// redactErr keeps url.Parse errors from echoing a password back.
func redactErr(err error, raw string) string {
	msg := err.Error()
	if u, perr := url.Parse(raw); perr == nil && u.User != nil {
		if p, ok := u.User.Password(); ok && p != "" {
			msg = strings.ReplaceAll(msg, p, "xxxxx")
		}
	}
	if i := strings.Index(raw, "@"); i > 0 {
		msg = strings.ReplaceAll(msg, raw[:i], "<credentials>")
	}
	return msg
}
