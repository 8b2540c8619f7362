package reindex

import (
	"context"
	"crypto/tls"
	"crypto/x509"
	"errors"
	"fmt"
	"maps"
	"net"
	"net/http"
	"net/url"
	"os"
	"slices"
	"strings"
	"sync"
	"time"

	"github.com/elastic/go-elasticsearch/v8"
	"github.com/elastic/go-elasticsearch/v8/esapi"

	"github.com/testplanit/tpi-workers/internal/config"
)

// Defaults of [Config].
const (
	// DefaultBulkBytes is a bulk request's flush threshold: Elastic's
	// advice is 5 to 15 MB per request.
	DefaultBulkBytes = 5 << 20
	// DefaultBulkWorkers is the number of bulk requests in flight per
	// entity rebuild.
	DefaultBulkWorkers = 2
	// DefaultFlushInterval flushes a partly filled bulk request.
	DefaultFlushInterval = 5 * time.Second
	// DefaultRequestTimeout bounds one request to Elasticsearch.
	DefaultRequestTimeout = 2 * time.Minute
)

// Config is what the reindex worker reads from its environment besides the
// runtime's variables (ELASTICSEARCH_NODE, the tenants' elasticsearchNode
// and elasticsearchIndex are the runtime's: see internal/tenant);
// [LoadConfig] fills it.
type Config struct {
	// Username and Password authenticate with HTTP basic auth:
	// ELASTICSEARCH_USERNAME and ELASTICSEARCH_PASSWORD, default none. A
	// node URL's own user:password@ wins (the original's only way, and the
	// way to give a tenant's node its own credentials).
	Username, Password string
	// APIKey is ELASTICSEARCH_API_KEY, the base64 "id:key" credential
	// Kibana shows ("encoded"); it wins over Username and Password.
	APIKey string
	// CACertFile is ELASTICSEARCH_CA_CERT, a PEM file of the CA that signed
	// the nodes' certificates (Elasticsearch 8's http_ca.crt); default the
	// system's roots. CACert holds its content.
	CACertFile string
	CACert     []byte
	// BulkBytes is ELASTICSEARCH_BULK_BYTES, the size at which a bulk
	// request is sent (a document larger than it goes alone): default
	// [DefaultBulkBytes], with units (5M, 512K).
	BulkBytes int
	// BulkWorkers is ELASTICSEARCH_BULK_WORKERS, the bulk requests in flight
	// at once per entity: default [DefaultBulkWorkers].
	BulkWorkers int
	// FlushInterval is ELASTICSEARCH_BULK_FLUSH_INTERVAL, after which a
	// partly filled bulk request is sent anyway: default
	// [DefaultFlushInterval].
	FlushInterval time.Duration
	// RequestTimeout is ELASTICSEARCH_REQUEST_TIMEOUT, the longest wait for
	// the answer to one request: default [DefaultRequestTimeout].
	RequestTimeout time.Duration
	// BatchSize is REINDEX_BATCH_SIZE, the PostgreSQL rows read per page:
	// default [DefaultBatchSize].
	BatchSize int
}

// LoadConfig reads the reindex worker's variables, recording errors in env
// (checked once by the caller with env.Err()).
func LoadConfig(env *config.Env) Config {
	c := Config{
		Username:       env.String("ELASTICSEARCH_USERNAME", ""),
		Password:       env.String("ELASTICSEARCH_PASSWORD", ""),
		APIKey:         env.String("ELASTICSEARCH_API_KEY", ""),
		CACertFile:     env.String("ELASTICSEARCH_CA_CERT", ""),
		BulkWorkers:    env.Int("ELASTICSEARCH_BULK_WORKERS", DefaultBulkWorkers, 1, 64),
		FlushInterval:  env.Duration("ELASTICSEARCH_BULK_FLUSH_INTERVAL", DefaultFlushInterval),
		RequestTimeout: env.Duration("ELASTICSEARCH_REQUEST_TIMEOUT", DefaultRequestTimeout),
		BatchSize:      env.Int("REINDEX_BATCH_SIZE", DefaultBatchSize, 1, 100_000),
	}
	bulk := env.Bytes("ELASTICSEARCH_BULK_BYTES", DefaultBulkBytes)
	switch {
	case bulk < 1<<10:
		env.Fail("ELASTICSEARCH_BULK_BYTES", "%d bytes is too small (at least 1K)", bulk)
	case bulk > 100<<20:
		env.Fail("ELASTICSEARCH_BULK_BYTES", "%d bytes is above Elasticsearch's http.max_content_length (100MB)", bulk)
	}
	c.BulkBytes = int(bulk)
	if c.Password != "" && c.Username == "" {
		env.Fail("ELASTICSEARCH_PASSWORD", "set without ELASTICSEARCH_USERNAME")
	}
	if c.FlushInterval <= 0 {
		env.Fail("ELASTICSEARCH_BULK_FLUSH_INTERVAL", "must be positive")
	}
	if c.RequestTimeout <= 0 {
		env.Fail("ELASTICSEARCH_REQUEST_TIMEOUT", "must be positive")
	}
	if c.CACertFile != "" {
		pem, err := os.ReadFile(c.CACertFile)
		switch {
		case err != nil:
			env.Fail("ELASTICSEARCH_CA_CERT", "%v", err)
		case !x509.NewCertPool().AppendCertsFromPEM(pem):
			env.Fail("ELASTICSEARCH_CA_CERT", "%s holds no PEM certificate", c.CACertFile)
		default:
			c.CACert = pem
		}
	}
	return c
}

// withDefaults fills the zero fields (a Config built by hand).
func (c Config) withDefaults() Config {
	if c.BulkBytes <= 0 {
		c.BulkBytes = DefaultBulkBytes
	}
	if c.BulkWorkers <= 0 {
		c.BulkWorkers = DefaultBulkWorkers
	}
	if c.FlushInterval <= 0 {
		c.FlushInterval = DefaultFlushInterval
	}
	if c.RequestTimeout <= 0 {
		c.RequestTimeout = DefaultRequestTimeout
	}
	if c.BatchSize <= 0 {
		c.BatchSize = DefaultBatchSize
	}
	return c
}

// ErrNoNode is wrapped by the error of a task whose tenant has no
// Elasticsearch node (neither ELASTICSEARCH_NODE nor elasticsearchNode).
var ErrNoNode = errors.New("reindex: no Elasticsearch node configured")

// Clients hands out one Elasticsearch client per node (a tenant may have its
// own), shared by the tasks, and pings the nodes for the runtime's
// dependency gate. It is safe for concurrent use.
type Clients struct {
	cfg Config
	// defaultNode is ELASTICSEARCH_NODE, "" when unset.
	defaultNode string

	mu      sync.Mutex
	clients map[string]*elasticsearch.Client
	// pings are clients without retries: a ping answers at once.
	pings map[string]*elasticsearch.Client
	// failing holds the nodes whose last request failed to get an answer:
	// Ping checks them besides the default node until they answer.
	failing map[string]bool
	// locks serialise the rebuilds of one index (node and alias) within
	// the process.
	locks map[string]*sync.Mutex
}

// NewClients returns the clients of a process whose default node is
// defaultNode (ELASTICSEARCH_NODE, "" when unset).
func NewClients(cfg Config, defaultNode string) *Clients {
	return &Clients{cfg: cfg.withDefaults(), defaultNode: defaultNode, clients: map[string]*elasticsearch.Client{},
		pings: map[string]*elasticsearch.Client{}, failing: map[string]bool{}, locks: map[string]*sync.Mutex{}}
}

// Get returns the client of node (one URL, or several separated by commas).
func (c *Clients) Get(node string) (*elasticsearch.Client, error) {
	return c.get(c.clients, node, true)
}

func (c *Clients) get(cache map[string]*elasticsearch.Client, node string, retry bool) (*elasticsearch.Client, error) {
	node = strings.TrimSpace(node)
	if node == "" {
		return nil, ErrNoNode
	}
	c.mu.Lock()
	defer c.mu.Unlock()
	if es := cache[node]; es != nil {
		return es, nil
	}
	es, err := c.newClient(node, retry)
	if err != nil {
		return nil, err
	}
	cache[node] = es
	return es, nil
}

func (c *Clients) newClient(node string, retry bool) (*elasticsearch.Client, error) {
	var addrs []string
	for _, a := range strings.Split(node, ",") {
		a = strings.TrimSpace(a)
		u, err := url.Parse(a)
		if err != nil || (u.Scheme != "http" && u.Scheme != "https") || u.Host == "" {
			return nil, fmt.Errorf("reindex: Elasticsearch node %q: want http(s)://host:port", Redact(a))
		}
		addrs = append(addrs, a)
	}
	tr := &http.Transport{
		Proxy:                 http.ProxyFromEnvironment,
		DialContext:           (&net.Dialer{Timeout: 10 * time.Second, KeepAlive: 30 * time.Second}).DialContext,
		ForceAttemptHTTP2:     true,
		MaxIdleConnsPerHost:   c.cfg.BulkWorkers * 2,
		IdleConnTimeout:       90 * time.Second,
		TLSHandshakeTimeout:   10 * time.Second,
		ResponseHeaderTimeout: c.cfg.RequestTimeout,
		TLSClientConfig:       &tls.Config{MinVersion: tls.VersionTLS12},
	}
	if len(c.cfg.CACert) > 0 {
		pool := x509.NewCertPool()
		pool.AppendCertsFromPEM(c.cfg.CACert)
		tr.TLSClientConfig.RootCAs = pool
	}
	return elasticsearch.NewClient(elasticsearch.Config{
		Addresses: addrs,
		Username:  c.cfg.Username,
		Password:  c.cfg.Password,
		APIKey:    c.cfg.APIKey,
		Transport: tr,
		// 502, 503 and 504 are retried three times with a backoff; what
		// remains is the task's error (and the gate's business).
		MaxRetries:   3,
		DisableRetry: !retry,
		RetryBackoff: func(attempt int) time.Duration { return time.Duration(attempt) * 200 * time.Millisecond },
	})
}

// lock returns the in-process lock of one index of one node.
func (c *Clients) lock(node, alias string) *sync.Mutex {
	c.mu.Lock()
	defer c.mu.Unlock()
	key := node + "\x00" + alias
	if c.locks[key] == nil {
		c.locks[key] = &sync.Mutex{}
	}
	return c.locks[key]
}

// markFailing records that node did not answer a task's request: [Clients.Ping]
// checks it until it answers.
func (c *Clients) markFailing(node string) {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.failing[node] = true
}

// Ping is the elasticsearch dependency of the worker ([worker.Dependency]):
// it pings the default node and every node a task could not reach lately,
// and fails while one of them does not answer (no connection, or a 5xx such
// as a cluster without a master). A node that answers leaves the list. A
// refusal of the credentials (401, 403) is an answer: the task fails on it
// with the reason, no waiting helps.
func (c *Clients) Ping(ctx context.Context) error {
	c.mu.Lock()
	nodes := slices.Sorted(maps.Keys(c.failing))
	c.mu.Unlock()
	if c.defaultNode != "" && !slices.Contains(nodes, c.defaultNode) {
		nodes = append([]string{c.defaultNode}, nodes...)
	}
	var errs []error
	for _, node := range nodes {
		err := c.ping(ctx, node)
		if err != nil {
			errs = append(errs, err)
			continue
		}
		c.mu.Lock()
		delete(c.failing, node)
		c.mu.Unlock()
	}
	return errors.Join(errs...)
}

func (c *Clients) ping(ctx context.Context, node string) error {
	es, err := c.get(c.pings, node, false)
	if err != nil {
		return err
	}
	res, err := esapi.PingRequest{}.Do(ctx, es)
	if err != nil {
		return fmt.Errorf("elasticsearch: cannot reach %s: %w", Redact(node), err)
	}
	defer res.Body.Close()
	if res.StatusCode >= 500 {
		return fmt.Errorf("elasticsearch: %s answers %s", Redact(node), res.Status())
	}
	return nil
}

// Redact returns node (one URL or a comma list) with passwords replaced by
// "xxxxx", for messages.
func Redact(node string) string {
	parts := strings.Split(node, ",")
	for i, p := range parts {
		if u, err := url.Parse(strings.TrimSpace(p)); err == nil && u.User != nil {
			if _, has := u.User.Password(); has {
				u.User = url.UserPassword(u.User.Username(), "xxxxx")
			}
			parts[i] = u.String()
		}
	}
	return strings.Join(parts, ",")
}
