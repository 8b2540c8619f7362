package main

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"slices"
	"strings"
	"sync"
	"text/tabwriter"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/redis/go-redis/v9"

	"github.com/testplanit/tpi-workers/internal/config"
	"github.com/testplanit/tpi-workers/internal/objstore"
	"github.com/testplanit/tpi-workers/internal/postgres"
	"github.com/testplanit/tpi-workers/internal/smtp"
	"github.com/testplanit/tpi-workers/internal/worker"
)

// doctorTimeout bounds each dependency check.
const doctorTimeout = 5 * time.Second

// probe is one dependency the fleet may be configured to use.
type probe struct {
	name string
	// vars names the variables that configure it, shown when unset.
	vars  string
	check func(ctx context.Context, getenv func(string) string) finding
}

// finding is the outcome of one probe.
type finding struct {
	// where says how the dependency was configured, secrets masked; empty
	// when its variables are unset (not checked).
	where  string
	detail string // on success
	warn   bool   // reachable, but not as a production fleet should run
	err    error
}

func probes() []probe {
	return []probe{
		{"valkey", "VALKEY_URL", checkValkey},
		{"postgres", "DATABASE_URL", checkPostgres},
		{"smtp", "EMAIL_SERVER_HOST", checkSMTP},
		{"elasticsearch", "ELASTICSEARCH_NODE", checkElasticsearch},
		{"s3", "AWS_ENDPOINT_URL, AWS_PUBLIC_ENDPOINT_URL or AWS_BUCKET_NAME", checkS3},
		{"bullmq", "VALKEY_URL", checkBullMQ},
	}
}

// cmdDoctor checks every configured dependency and prints one line each:
// ok, WARN (reachable, but not as a production fleet should run), FAIL
// (with how it was configured, passwords masked), or "-" when unset.
// Valkey and PostgreSQL are required by every worker; the others only by
// the workers that use them.
func cmdDoctor(ctx context.Context, c *cli, args []string) error {
	if len(args) != 0 {
		return errUsage
	}
	tw := tabwriter.NewWriter(c.out, 0, 2, 2, ' ', 0)
	var failed []string
	checked := 0
	for _, p := range probes() {
		pctx, cancel := context.WithTimeout(ctx, doctorTimeout)
		f := p.check(pctx, c.getenv)
		cancel()
		switch {
		case f.where == "":
			fmt.Fprintf(tw, "-\t%s\tnot configured (%s)\n", p.name, p.vars)
			continue
		case f.err != nil:
			failed = append(failed, p.name)
			fmt.Fprintf(tw, "FAIL\t%s\t%s: %v\n", p.name, f.where, f.err)
		case f.warn:
			fmt.Fprintf(tw, "WARN\t%s\t%s: %s\n", p.name, f.where, f.detail)
		default:
			fmt.Fprintf(tw, "ok\t%s\t%s: %s\n", p.name, f.where, f.detail)
		}
		checked++
	}
	tw.Flush()
	if len(failed) > 0 {
		return fmt.Errorf("doctor: %d of %d configured dependencies failed: %s", len(failed), checked, strings.Join(failed, ", "))
	}
	return nil
}

func checkValkey(ctx context.Context, getenv func(string) string) finding {
	raw := strings.TrimSpace(getenv("VALKEY_URL"))
	if raw == "" {
		return finding{where: "VALKEY_URL", err: errors.New("required by every worker but not set")}
	}
	where := "VALKEY_URL=" + worker.RedactURL(raw)
	rc, err := openValkey(raw)
	if err != nil {
		return finding{where: where, err: err}
	}
	defer rc.Close()
	if err := rc.Ping(ctx).Err(); err != nil {
		return finding{where: where, err: fmt.Errorf("cannot reach it: %w", err)}
	}
	nodes, err := primaryInfos(ctx, rc)
	if err != nil {
		return finding{where: where, err: fmt.Errorf("INFO: %w", err)}
	}
	fields := nodes[0].fields
	server := "redis " + fields["redis_version"]
	if v := fields["valkey_version"]; v != "" {
		server = "valkey " + v
	}
	var aofOff []string
	for _, n := range nodes {
		if n.fields["aof_enabled"] != "1" {
			aofOff = append(aofOff, n.addr)
		}
	}
	off := "AOF off"
	if _, cluster := rc.(*redis.ClusterClient); cluster {
		server += fmt.Sprintf(", cluster of %d primaries", len(nodes))
		off = "AOF off on " + strings.Join(aofOff, ", ")
	}
	if len(aofOff) > 0 {
		return finding{where: where, detail: server + ", " + off + ": tasks enqueued since the last snapshot are lost on a restart (run it with appendonly yes)", warn: true}
	}
	return finding{where: where, detail: server + ", AOF on"}
}

// openValkey returns a client of the Valkey (single, Sentinel or Cluster)
// that VALKEY_URL names; the caller closes it.
func openValkey(raw string) (redis.UniversalClient, error) {
	opt, err := worker.ParseValkeyURL(raw)
	if err != nil {
		return nil, err
	}
	rc, ok := opt.MakeRedisClient().(redis.UniversalClient)
	if !ok {
		return nil, errors.New("unsupported connection option")
	}
	return rc, nil
}

// nodeInfo is one server's INFO fields.
type nodeInfo struct {
	addr   string
	fields map[string]string
}

// primaryInfos reads INFO server and persistence: of the one server, or of
// every primary of a cluster (a command without a key goes to one node
// only), in the order of their addresses.
func primaryInfos(ctx context.Context, rc redis.UniversalClient) ([]nodeInfo, error) {
	cc, ok := rc.(*redis.ClusterClient)
	if !ok {
		info, err := rc.Info(ctx, "server", "persistence").Result()
		if err != nil {
			return nil, err
		}
		return []nodeInfo{{fields: infoFields(info)}}, nil
	}
	var mu sync.Mutex // ForEachMaster calls in parallel
	var nodes []nodeInfo
	err := cc.ForEachMaster(ctx, func(ctx context.Context, c *redis.Client) error {
		info, err := c.Info(ctx, "server", "persistence").Result()
		if err != nil {
			return fmt.Errorf("%s: %w", c.Options().Addr, err)
		}
		mu.Lock()
		nodes = append(nodes, nodeInfo{addr: c.Options().Addr, fields: infoFields(info)})
		mu.Unlock()
		return nil
	})
	if err != nil {
		return nil, err
	}
	if len(nodes) == 0 {
		return nil, errors.New("the cluster has no primary")
	}
	slices.SortFunc(nodes, func(a, b nodeInfo) int { return strings.Compare(a.addr, b.addr) })
	return nodes, nil
}

// infoFields parses the key:value lines of Redis' INFO.
func infoFields(info string) map[string]string {
	out := map[string]string{}
	for _, line := range strings.Split(info, "\n") {
		if k, v, ok := strings.Cut(strings.TrimSpace(line), ":"); ok {
			out[k] = v
		}
	}
	return out
}

func checkPostgres(ctx context.Context, getenv func(string) string) finding {
	raw := strings.TrimSpace(getenv("DATABASE_URL"))
	if raw == "" {
		return finding{where: "DATABASE_URL", err: errors.New("required by every worker but not set")}
	}
	where := "DATABASE_URL=" + postgres.Redact(raw)
	conn, err := pgx.Connect(ctx, raw)
	if err != nil {
		return finding{where: where, err: fmt.Errorf("cannot reach it: %w", err)}
	}
	defer conn.Close(context.WithoutCancel(ctx))
	var version string
	if err := conn.QueryRow(ctx, `SELECT current_setting('server_version')`).Scan(&version); err != nil {
		return finding{where: where, err: err}
	}
	// The same reading as tpictl migrate's: whose database it is, and what of ours it holds.
	layout, err := postgres.Inspect(ctx, conn)
	if err != nil {
		return finding{where: where, err: err}
	}
	owned := layout.TestPlanItOwned()
	switch {
	case !owned && !layout.SubsetApplied():
		return finding{where: where, err: fmt.Errorf("PostgreSQL %s, but TestPlanIt's tables are missing: is this TestPlanIt's database? (a fresh one: tpictl migrate)", version)}
	case owned && layout.Worker.Version == 0:
		return finding{where: where, err: fmt.Errorf("PostgreSQL %s, TestPlanIt's own database, but the worker schema is missing: "+
			"run tpictl migrate --mode worker-only (or tpictl migrate, which detects TestPlanIt's database)", version)}
	case layout.Worker.Version == 0:
		return finding{where: where, err: fmt.Errorf("PostgreSQL %s, development subset of TestPlanIt's tables, but the worker schema is missing: run tpictl migrate", version)}
	}
	kind := "TestPlanIt's own database"
	if !owned {
		kind = "development subset"
	}
	detail := "PostgreSQL " + version + ", TestPlanIt tables and worker schema present (" + kind + ")"
	if layout.LegacySubset.Exists {
		return finding{where: where, warn: true, detail: detail + ", but public still holds " + layout.LegacySubset.Name +
			" from an earlier tpictl migrate: run tpictl migrate to move it to the worker schema or remove it"}
	}
	return finding{where: where, detail: detail}
}

func checkSMTP(ctx context.Context, getenv func(string) string) finding {
	if strings.TrimSpace(getenv("EMAIL_SERVER_HOST")) == "" {
		return finding{}
	}
	env := config.NewEnv(getenv)
	cfg, err := smtp.LoadConfig(env)
	if err == nil {
		err = env.Err()
	}
	if err != nil {
		return finding{where: "EMAIL_SERVER_*", err: err}
	}
	where := cfg.String()
	client, err := smtp.New(cfg)
	if err != nil {
		return finding{where: where, err: err}
	}
	defer client.Close()
	if err := client.Ping(ctx); err != nil {
		return finding{where: "EMAIL_SERVER_*", err: err} // err names the configuration
	}
	return finding{where: where, detail: "EHLO, TLS and authentication as configured"}
}

func checkElasticsearch(ctx context.Context, getenv func(string) string) finding {
	raw := strings.TrimSpace(getenv("ELASTICSEARCH_NODE"))
	if raw == "" {
		return finding{}
	}
	where := "ELASTICSEARCH_NODE=" + worker.RedactURL(raw)
	resp, err := httpGet(ctx, raw)
	if err != nil {
		return finding{where: where, err: err}
	}
	defer resp.Body.Close()
	var root struct {
		Version struct {
			Number string `json:"number"`
		} `json:"version"`
	}
	if resp.StatusCode != http.StatusOK {
		return finding{where: where, err: fmt.Errorf("HTTP %s", resp.Status)}
	}
	if err := json.NewDecoder(io.LimitReader(resp.Body, 1<<20)).Decode(&root); err != nil || root.Version.Number == "" {
		return finding{where: where, err: fmt.Errorf("not an Elasticsearch root response (%v)", err)}
	}
	return finding{where: where, detail: "Elasticsearch " + root.Version.Number}
}

func checkS3(ctx context.Context, getenv func(string) string) finding {
	endpoint, name := strings.TrimSpace(getenv("AWS_ENDPOINT_URL")), "AWS_ENDPOINT_URL"
	if endpoint == "" {
		endpoint, name = strings.TrimSpace(getenv("AWS_PUBLIC_ENDPOINT_URL")), "AWS_PUBLIC_ENDPOINT_URL"
	}
	bucket := strings.TrimSpace(getenv("AWS_BUCKET_NAME"))
	if endpoint == "" && bucket == "" {
		return finding{}
	}
	where := "AWS S3"
	if endpoint != "" {
		where = name + "=" + worker.RedactURL(endpoint)
	}
	where += " bucket " + bucket
	env := config.NewEnv(getenv)
	cfg := objstore.LoadConfig(env) // the import-worker's own reading of AWS_*
	if err := env.Err(); err != nil {
		return finding{where: where, err: err}
	}
	store, err := objstore.New(ctx, cfg)
	if err != nil {
		return finding{where: where, err: err}
	}
	// A signed request for the bucket, as the import-worker makes: the endpoint, the
	// credentials and the bucket are all checked.
	if err := store.CheckBucket(ctx, cfg.Bucket); err != nil {
		return finding{where: where, err: err}
	}
	return finding{where: where, detail: "the bucket answers with these credentials"}
}

func httpGet(ctx context.Context, raw string) (*http.Response, error) {
	u, err := url.Parse(raw)
	if err != nil || (u.Scheme != "http" && u.Scheme != "https") || u.Host == "" {
		return nil, errors.New("not an http(s) URL")
	}
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, raw, nil)
	if err != nil {
		return nil, err
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		var ue *url.Error
		if errors.As(err, &ue) {
			err = ue.Err // the URL, with its credentials, is already said once
		}
		return nil, fmt.Errorf("cannot reach it: %w", err)
	}
	return resp, nil
}

// cmdHealthcheck is the container health check: exit 0 when url answers
// 2xx within 3 seconds. The runtime image has no curl or wget.
func cmdHealthcheck(ctx context.Context, c *cli, args []string) error {
	if len(args) != 1 {
		return errUsage
	}
	ctx, cancel := context.WithTimeout(ctx, 3*time.Second)
	defer cancel()
	resp, err := httpGet(ctx, args[0])
	if err != nil {
		return fmt.Errorf("healthcheck %s: %w", args[0], err)
	}
	defer resp.Body.Close()
	if resp.StatusCode/100 != 2 {
		return fmt.Errorf("healthcheck %s: HTTP %s", args[0], resp.Status)
	}
	fmt.Fprintln(c.out, "ok")
	return nil
}
