package objstore_test

import (
	"bytes"
	"context"
	"encoding/binary"
	"errors"
	"io"
	"log"
	"math/rand/v2"
	"net/http"
	"net/http/httptest"
	"net/http/httputil"
	"net/url"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/testplanit/tpi-workers/internal/config"
	"github.com/testplanit/tpi-workers/internal/objstore"
	"github.com/testplanit/tpi-workers/internal/testenv"
)

// newStore returns a store of srv configured from its environment (as a
// worker reads it), then changed by edit.
func newStore(t *testing.T, srv *testenv.S3, edit func(*objstore.Config)) *objstore.Store {
	t.Helper()
	vars := map[string]string{}
	for _, kv := range srv.Env() {
		k, v, _ := strings.Cut(kv, "=")
		vars[k] = v
	}
	env := config.NewEnv(func(k string) string { return vars[k] })
	cfg := objstore.LoadConfig(env)
	if err := env.Err(); err != nil {
		t.Fatal(err)
	}
	if edit != nil {
		edit(&cfg)
	}
	s, err := objstore.New(t.Context(), cfg)
	if err != nil {
		t.Fatal(err)
	}
	return s
}

func randomBytes(n int, seed uint64) []byte {
	var key [32]byte
	binary.LittleEndian.PutUint64(key[:], seed)
	b := make([]byte, n)
	_, _ = rand.NewChaCha8(key).Read(b)
	return b
}

func put(t *testing.T, s *objstore.Store, key string, data []byte) {
	t.Helper()
	if err := s.Put(t.Context(), s.Bucket(), key, bytes.NewReader(data), int64(len(data))); err != nil {
		t.Fatalf("put %s: %v", key, err)
	}
}

// readAll opens key and reads it whole, checking Size.
func readAll(t *testing.T, s *objstore.Store, key string) ([]byte, *objstore.Object) {
	t.Helper()
	obj, err := s.Open(t.Context(), s.Bucket(), key)
	if err != nil {
		t.Fatalf("open %s: %v", key, err)
	}
	defer obj.Close()
	got, err := io.ReadAll(obj)
	if err != nil {
		t.Fatalf("read %s: %v", key, err)
	}
	if obj.Size() != int64(len(got)) {
		t.Errorf("Size %d, read %d bytes", obj.Size(), len(got))
	}
	return got, obj
}

func TestPutOpenRoundTrip(t *testing.T) {
	t.Parallel()
	srv := testenv.StartS3(t)
	s := newStore(t, srv, nil)
	for _, tt := range []struct {
		name string
		size int
	}{
		{"empty", 0},
		{"single request", 3<<20 + 17},
		{"multipart", 20<<20 + 5}, // above the 16 MiB threshold: 3 parts
	} {
		t.Run(tt.name, func(t *testing.T) {
			data := randomBytes(tt.size, uint64(tt.size))
			key := "exports/" + strings.ReplaceAll(tt.name, " ", "-") + ".json"
			put(t, s, key, data)
			got, obj := readAll(t, s, key)
			if !bytes.Equal(got, data) {
				t.Fatalf("read %d bytes that differ from the %d put", len(got), len(data))
			}
			if obj.Resumes() != 0 {
				t.Errorf("Resumes %d without a fault", obj.Resumes())
			}
		})
	}
	// An unknown size streams too.
	data := randomBytes(1<<20, 9)
	if err := s.Put(t.Context(), s.Bucket(), "unsized", io.MultiReader(bytes.NewReader(data)), -1); err != nil {
		t.Fatal(err)
	}
	if got, _ := readAll(t, s, "unsized"); !bytes.Equal(got, data) {
		t.Fatal("unsized upload differs")
	}
}

// A body that does not hold the size it declares fails the upload.
func TestPutChecksTheSize(t *testing.T) {
	t.Parallel()
	srv := testenv.StartS3(t)
	s := newStore(t, srv, nil)
	data := randomBytes(1000, 1)
	if err := s.Put(t.Context(), s.Bucket(), "short", bytes.NewReader(data), 1001); err == nil {
		t.Error("a body shorter than its size was uploaded")
	}
	if err := s.Put(t.Context(), s.Bucket(), "long", bytes.NewReader(data), 999); err == nil {
		t.Error("a body longer than its size was uploaded")
	}
}

func TestNotFound(t *testing.T) {
	t.Parallel()
	srv := testenv.StartS3(t)
	s := newStore(t, srv, nil)
	for _, tt := range []struct{ bucket, key string }{
		{s.Bucket(), "exports/missing.json"},
		{"no-such-bucket", "exports/a.json"},
	} {
		_, err := s.Open(t.Context(), tt.bucket, tt.key)
		if !errors.Is(err, objstore.ErrNotFound) {
			t.Fatalf("open s3://%s/%s: %v, want ErrNotFound", tt.bucket, tt.key, err)
		}
		if want := "s3://" + tt.bucket + "/" + tt.key; !strings.Contains(err.Error(), want) {
			t.Errorf("message %q does not name %s", err, want)
		}
		if errors.Is(err, objstore.ErrAccessDenied) {
			t.Errorf("%v is also access denied", err)
		}
	}
}

func TestAccessDenied(t *testing.T) {
	t.Parallel()
	srv := testenv.StartS3(t)
	put(t, newStore(t, srv, nil), "exports/a.json", []byte("{}"))
	for name, edit := range map[string]func(*objstore.Config){
		"wrong secret": func(c *objstore.Config) { c.SecretAccessKey = "not-the-secret" },
		"unknown key":  func(c *objstore.Config) { c.AccessKeyID = "nobody" },
	} {
		t.Run(name, func(t *testing.T) {
			s := newStore(t, srv, edit)
			if _, err := s.Open(t.Context(), s.Bucket(), "exports/a.json"); !errors.Is(err, objstore.ErrAccessDenied) {
				t.Errorf("open: %v, want ErrAccessDenied", err)
			}
			if err := s.Put(t.Context(), s.Bucket(), "b", strings.NewReader("x"), 1); !errors.Is(err, objstore.ErrAccessDenied) {
				t.Errorf("put: %v, want ErrAccessDenied", err)
			}
			// The store answers: the gate lets the tasks fail with the reason.
			if err := s.Ping(t.Context()); err != nil {
				t.Errorf("ping: %v, want nil (a refusal is an answer)", err)
			}
		})
	}
}

func TestEnsureBucketAndPing(t *testing.T) {
	t.Parallel()
	srv := testenv.StartS3(t)
	s := newStore(t, srv, func(c *objstore.Config) { c.Bucket = "fresh-bucket" })
	// A missing bucket is an answer too.
	if err := s.Ping(t.Context()); err != nil {
		t.Fatalf("ping before the bucket exists: %v", err)
	}
	for range 2 {
		if err := s.EnsureBucket(t.Context(), "fresh-bucket"); err != nil {
			t.Fatalf("EnsureBucket: %v", err)
		}
	}
	put(t, s, "k", []byte("hello"))
	if got, _ := readAll(t, s, "k"); string(got) != "hello" {
		t.Fatalf("read %q", got)
	}
	if err := s.Ping(t.Context()); err != nil {
		t.Fatalf("ping: %v", err)
	}
	srv.Proc.Stop(5 * time.Second)
	ctx, cancel := context.WithTimeout(t.Context(), 10*time.Second)
	defer cancel()
	err := s.Ping(ctx)
	if err == nil || errors.Is(err, objstore.ErrNotFound) || errors.Is(err, objstore.ErrAccessDenied) {
		t.Fatalf("ping of a stopped server: %v, want a transient error", err)
	}
}

// fault is what the proxy does to one GET response: cut the connection
// after `after` bytes of the body, or stall there until the client leaves.
type fault struct {
	after int64
	stall bool
}

// proxy forwards to an S3 server, keeping the Host that the client signed,
// and applies faults[i] to the ith GET response with a body.
type proxy struct {
	URL string

	mu     sync.Mutex
	faults []fault
	gets   []http.Header
}

func startProxy(t *testing.T, target string, faults ...fault) *proxy {
	t.Helper()
	u, err := url.Parse(target)
	if err != nil {
		t.Fatal(err)
	}
	p := &proxy{faults: faults}
	rp := &httputil.ReverseProxy{
		Rewrite: func(pr *httputil.ProxyRequest) {
			pr.SetURL(u)
			pr.Out.Host = pr.In.Host
		},
		Transport: &http.Transport{DisableCompression: true},
		ModifyResponse: func(resp *http.Response) error {
			if resp.Request.Method != http.MethodGet || resp.StatusCode/100 != 2 {
				return nil
			}
			p.mu.Lock()
			defer p.mu.Unlock()
			p.gets = append(p.gets, resp.Request.Header.Clone())
			if i := len(p.gets) - 1; i < len(p.faults) {
				resp.Body = &faultyBody{ReadCloser: resp.Body, left: p.faults[i].after, stall: p.faults[i].stall, ctx: resp.Request.Context()}
			}
			return nil
		},
		// The cuts are on purpose: keep the output clean.
		ErrorLog: log.New(io.Discard, "", 0),
	}
	srv := httptest.NewServer(rp)
	t.Cleanup(srv.Close)
	p.URL = srv.URL
	return p
}

// requests returns the headers of the GETs forwarded so far.
func (p *proxy) requests() []http.Header {
	p.mu.Lock()
	defer p.mu.Unlock()
	return p.gets
}

type faultyBody struct {
	io.ReadCloser
	left  int64
	stall bool
	ctx   context.Context
}

var errCut = errors.New("proxy: connection cut")

func (f *faultyBody) Read(b []byte) (int, error) {
	if f.left <= 0 {
		if f.stall {
			<-f.ctx.Done()
		}
		// ReverseProxy aborts the response: the client sees the
		// connection close before Content-Length bytes.
		return 0, errCut
	}
	if int64(len(b)) > f.left {
		b = b[:f.left]
	}
	n, err := f.ReadCloser.Read(b)
	f.left -= int64(n)
	return n, err
}

// A read cut in the middle resumes where it stopped, on condition that the
// object is the same, and yields the object's bytes exactly.
func TestOpenResumesACutRead(t *testing.T) {
	t.Parallel()
	srv := testenv.StartS3(t)
	data := randomBytes(6<<20+3, 42)
	put(t, newStore(t, srv, nil), "exports/big.json", data)

	px := startProxy(t, srv.Endpoint, fault{after: 1<<20 + 7}, fault{after: 2 << 20})
	s := newStore(t, srv, func(c *objstore.Config) { c.Endpoint = px.URL })
	got, obj := readAll(t, s, "exports/big.json")
	if !bytes.Equal(got, data) {
		t.Fatalf("read %d bytes that differ from the %d put", len(got), len(data))
	}
	if obj.Resumes() != 2 {
		t.Errorf("Resumes %d, want 2", obj.Resumes())
	}
	reqs := px.requests()
	if len(reqs) != 3 {
		t.Fatalf("%d GETs, want 3", len(reqs))
	}
	// Each resumption asks for the rest from the last byte received (the
	// proxy may have sent fewer bytes than it was given before the cut),
	// on condition of the first answer's ETag.
	etag := reqs[1].Get("If-Match")
	if reqs[0].Get("Range") != "" || reqs[0].Get("If-Match") != "" {
		t.Errorf("first GET has Range %q If-Match %q", reqs[0].Get("Range"), reqs[0].Get("If-Match"))
	}
	from1 := rangeStart(t, reqs[1].Get("Range"))
	from2 := rangeStart(t, reqs[2].Get("Range"))
	if from1 <= 0 || from1 > 1<<20+7 || from2 <= from1 || from2 > from1+2<<20 {
		t.Errorf("resumed from bytes %d then %d, after cuts at 1 MiB+7 and 2 MiB more", from1, from2)
	}
	if etag == "" || reqs[2].Get("If-Match") != etag {
		t.Errorf("If-Match %q then %q, want the ETag of the object", etag, reqs[2].Get("If-Match"))
	}
}

// rangeStart parses "bytes=N-".
func rangeStart(t *testing.T, r string) int64 {
	t.Helper()
	n, err := strconv.ParseInt(strings.TrimSuffix(strings.TrimPrefix(r, "bytes="), "-"), 10, 64)
	if err != nil || !strings.HasPrefix(r, "bytes=") || !strings.HasSuffix(r, "-") {
		t.Fatalf("Range %q, want bytes=N-", r)
	}
	return n
}

// A connection that stops sending is taken for dead after StallTimeout.
func TestOpenResumesAStalledRead(t *testing.T) {
	t.Parallel()
	srv := testenv.StartS3(t)
	data := randomBytes(2<<20, 7)
	put(t, newStore(t, srv, nil), "exports/stall.json", data)

	px := startProxy(t, srv.Endpoint, fault{after: 300 << 10, stall: true})
	s := newStore(t, srv, func(c *objstore.Config) {
		c.Endpoint = px.URL
		c.StallTimeout = 300 * time.Millisecond
	})
	got, obj := readAll(t, s, "exports/stall.json")
	if !bytes.Equal(got, data) {
		t.Fatalf("read %d bytes that differ from the %d put", len(got), len(data))
	}
	if obj.Resumes() != 1 {
		t.Errorf("Resumes %d, want 1", obj.Resumes())
	}
}

// An object replaced between the cut and the resumption is an error, not a
// mix of two objects.
func TestOpenRefusesAChangedObject(t *testing.T) {
	t.Parallel()
	srv := testenv.StartS3(t)
	direct := newStore(t, srv, nil)
	put(t, direct, "exports/x.json", randomBytes(2<<20, 1))

	px := startProxy(t, srv.Endpoint, fault{after: 512 << 10})
	s := newStore(t, srv, func(c *objstore.Config) { c.Endpoint = px.URL })
	obj, err := s.Open(t.Context(), s.Bucket(), "exports/x.json")
	if err != nil {
		t.Fatal(err)
	}
	defer obj.Close()
	if _, err := io.ReadFull(obj, make([]byte, 100<<10)); err != nil {
		t.Fatal(err)
	}
	put(t, direct, "exports/x.json", randomBytes(2<<20, 2))
	n, err := io.Copy(io.Discard, obj)
	if !errors.Is(err, objstore.ErrChanged) {
		t.Fatalf("read after the object changed: %d bytes, %v; want ErrChanged", n, err)
	}
	if total := n + 100<<10; total > 512<<10 {
		t.Errorf("read %d bytes in all, more than the %d before the cut", total, 512<<10)
	}
}

// A cancelled read is not resumed.
func TestOpenCancelled(t *testing.T) {
	t.Parallel()
	srv := testenv.StartS3(t)
	put(t, newStore(t, srv, nil), "exports/c.json", randomBytes(1<<20, 3))
	px := startProxy(t, srv.Endpoint, fault{after: 64 << 10, stall: true})
	s := newStore(t, srv, func(c *objstore.Config) { c.Endpoint = px.URL })
	ctx, cancel := context.WithCancel(t.Context())
	obj, err := s.Open(ctx, s.Bucket(), "exports/c.json")
	if err != nil {
		t.Fatal(err)
	}
	defer obj.Close()
	time.AfterFunc(200*time.Millisecond, cancel)
	_, err = io.Copy(io.Discard, obj)
	if !errors.Is(err, context.Canceled) {
		t.Fatalf("read: %v, want context.Canceled", err)
	}
	if obj.Resumes() != 0 || len(px.requests()) != 1 {
		t.Errorf("Resumes %d, %d GETs: a cancelled read must not resume", obj.Resumes(), len(px.requests()))
	}
}
