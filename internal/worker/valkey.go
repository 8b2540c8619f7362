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
//	valkey+cluster://[user:password@]h1:7000,h2:7001,h3:7002     a Valkey/Redis Cluster, plain TCP
//	valkeys+cluster://[user:password@]h1:7000,h2:7001,h3:7002    a Cluster over TLS
//	unix:///run/valkey.sock[?db=N]                a Unix socket
//
// redis+sentinel:// is accepted as an alias of valkey+sentinel://, and
// redis+cluster:// and rediss+cluster:// of the cluster forms. A port left
// out is 6379 (26379 for a sentinel).
//
// A cluster URL names seed nodes, any of the cluster's (the client learns
// the others from them); it has database 0 only. Over TLS each node's
// certificate is checked against the address the client dials, which for
// the nodes it learns is the one the cluster announces (an IP address unless
// cluster-announce-hostname and cluster-preferred-endpoint-type hostname are
// set).
func ParseValkeyURL(raw string) (asynq.RedisConnOpt, error) {
	if strings.TrimSpace(raw) == "" {
		return nil, fmt.Errorf("empty URL")
	}
	hosts, parsable := cutHostList(raw)
	u, err := url.Parse(parsable)
	if err != nil {
		return nil, fmt.Errorf("not a URL: %v", redactErr(err, raw))
	}
	if hosts == "" {
		hosts = u.Host
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
		addrs := hostList(hosts, "26379")
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
	case "valkey+cluster", "redis+cluster", "valkeys+cluster", "rediss+cluster":
		addrs := hostList(hosts, "6379")
		if len(addrs) == 0 {
			return nil, fmt.Errorf("cluster URL needs at least one host")
		}
		db, err := parseDB(u.Path, q.Get("db"))
		if err != nil {
			return nil, err
		}
		if db != 0 {
			return nil, fmt.Errorf("a cluster has database 0 only, not %d", db)
		}
		opt := asynq.RedisClusterClientOpt{Addrs: addrs, Username: user, Password: pass}
		if strings.HasPrefix(u.Scheme, "valkeys") || strings.HasPrefix(u.Scheme, "rediss") {
			// No ServerName: the TLS dialer takes each node's from the
			// address it dials.
			opt.TLSConfig = &tls.Config{MinVersion: tls.VersionTLS12}
		}
		return opt, nil
	default:
		return nil, fmt.Errorf("unsupported scheme %q (use valkey://, valkeys://, redis://, rediss://, valkey+sentinel://, valkey+cluster://, valkeys+cluster:// or unix://)", u.Scheme)
	}
}

// cutHostList takes the comma-separated host list out of a sentinel or
// cluster URL, which url.Parse would reject when a host other than the last
// has no port ("h1:7000,h2"), and returns it with the URL left to parse,
// where a placeholder stands for it. For other URLs, or a single host, it
// returns "" and raw.
func cutHostList(raw string) (hosts, parsable string) {
	scheme, rest, ok := strings.Cut(raw, "://")
	if !ok || !strings.Contains(scheme, "+") {
		return "", raw
	}
	end := strings.IndexAny(rest, "/?#")
	if end < 0 {
		end = len(rest)
	}
	authority := rest[:end]
	at := strings.LastIndex(authority, "@") + 1
	hosts = authority[at:]
	if !strings.Contains(hosts, ",") {
		return "", raw
	}
	return hosts, scheme + "://" + authority[:at] + hostListPlaceholder + rest[end:]
}

// hostListPlaceholder stands for a host list while the rest of the URL is
// parsed.
const hostListPlaceholder = "host-list"

// hostList splits the comma-separated hosts of a sentinel or cluster URL,
// giving those without a port defPort.
func hostList(hosts, defPort string) []string {
	var addrs []string
	for _, h := range strings.Split(hosts, ",") {
		h = strings.TrimSpace(h)
		if h == "" {
			continue
		}
		if _, _, err := net.SplitHostPort(h); err != nil {
			h = net.JoinHostPort(strings.Trim(h, "[]"), defPort) // "[::1]" too
		}
		addrs = append(addrs, h)
	}
	return addrs
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
	hosts, parsable := cutHostList(raw)
	u, err := url.Parse(parsable)
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
	if hosts != "" {
		return strings.Replace(u.String(), hostListPlaceholder, hosts, 1)
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
