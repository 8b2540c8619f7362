package worker

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"net"
	"net/http"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/promhttp"
	"github.com/redis/go-redis/v9"
)

// Endpoints are a process's operational HTTP routes: /healthz (the process
// is alive), /readyz (it does its job and every dependency answers) and
// /metrics. [App] serves them for a worker; the scheduler serves them too.
type Endpoints struct {
	// Service names the process in /healthz.
	Service string
	// Registry is exposed on /metrics.
	Registry *prometheus.Registry
	// Valkey is pinged by /readyz.
	Valkey redis.UniversalClient
	// Checks are the other dependencies /readyz pings.
	Checks []Check
	// State, if set, reports the process's own condition ("running",
	// "draining", ...) and whether it counts as ready.
	State func() (name string, ready bool)
}

// Handler returns the routes.
func (e *Endpoints) Handler() http.Handler {
	mux := http.NewServeMux()
	mux.HandleFunc("GET /healthz", func(w http.ResponseWriter, r *http.Request) {
		writeJSON(w, http.StatusOK, map[string]string{"status": "ok", "service": e.Service})
	})
	mux.HandleFunc("GET /readyz", func(w http.ResponseWriter, r *http.Request) {
		body := map[string]string{}
		code := http.StatusOK
		if e.State != nil {
			name, ready := e.State()
			body["state"] = name
			if !ready {
				code = http.StatusServiceUnavailable
			}
		}
		ctx, cancel := context.WithTimeout(r.Context(), 2*time.Second)
		defer cancel()
		if e.Valkey != nil {
			if err := e.Valkey.Ping(ctx).Err(); err != nil {
				code, body["valkey"] = http.StatusServiceUnavailable, "unreachable"
			} else {
				body["valkey"] = "ok"
			}
		}
		for _, c := range e.Checks {
			if err := c.Ping(ctx); err != nil {
				code, body[c.Name] = http.StatusServiceUnavailable, err.Error()
			} else {
				body[c.Name] = "ok"
			}
		}
		writeJSON(w, code, body)
	})
	mux.Handle("GET /metrics", promhttp.HandlerFor(e.Registry, promhttp.HandlerOpts{Registry: e.Registry}))
	return mux
}

// HTTPServer is a listening HTTP server started by [Serve].
type HTTPServer struct {
	srv  *http.Server
	addr string
	errc chan error
}

// Mount returns a handler serving /healthz and /readyz from e and every
// other path, /metrics included, from h.
func (e *Endpoints) Mount(h http.Handler) http.Handler {
	own := e.Handler()
	mux := http.NewServeMux()
	mux.Handle("GET /healthz", own)
	mux.Handle("GET /readyz", own)
	mux.Handle("/", h)
	return mux
}

// Serve listens on addr (HTTP_ADDR) and serves h in the background. The
// error of a failed listen names the variable.
func Serve(addr string, h http.Handler) (*HTTPServer, error) { return serve("HTTP_ADDR", addr, h) }

func serve(varName, addr string, h http.Handler) (*HTTPServer, error) {
	ln, err := net.Listen("tcp", addr)
	if err != nil {
		return nil, fmt.Errorf("%s: cannot listen on %s: %w", varName, addr, err)
	}
	// Timeouts, so that idle or slow clients cannot hold connections (and
	// goroutines) open: nothing served here streams or long-polls, and the
	// largest body (the dashboard's enqueue API) is 1 MiB by default.
	const (
		readHeaderTimeout = 5 * time.Second
		readTimeout       = 15 * time.Second // the whole request, body included
		writeTimeout      = 60 * time.Second // the answer (a /metrics scrape of a busy Valkey)
		idleTimeout       = 15 * time.Second // a keep-alive connection between requests
		maxHeaderBytes    = 64 << 10
	)
	s := &HTTPServer{
		srv: &http.Server{Handler: h, ReadHeaderTimeout: readHeaderTimeout, ReadTimeout: readTimeout,
			WriteTimeout: writeTimeout, IdleTimeout: idleTimeout, MaxHeaderBytes: maxHeaderBytes},
		addr: ln.Addr().String(),
		errc: make(chan error, 1),
	}
	go func() {
		if err := s.srv.Serve(ln); err != nil && !errors.Is(err, http.ErrServerClosed) {
			s.errc <- fmt.Errorf("%s: %w", varName, err)
		}
	}()
	return s, nil
}

// Addr is the address the server listens on (the port chosen for ":0").
func (s *HTTPServer) Addr() string { return s.addr }

// Err receives the error that stopped the server, if one does.
func (s *HTTPServer) Err() <-chan error { return s.errc }

// Shutdown stops the server, letting requests in progress finish for up to
// two seconds.
func (s *HTTPServer) Shutdown() {
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Second)
	defer cancel()
	if err := s.srv.Shutdown(ctx); err != nil {
		_ = s.srv.Close()
	}
}

func writeJSON(w http.ResponseWriter, code int, v any) {
	w.Header().Set("Content-Type", "application/json")
	w.WriteHeader(code)
	_ = json.NewEncoder(w).Encode(v)
}
