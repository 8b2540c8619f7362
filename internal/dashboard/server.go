package dashboard

import (
	"context"
	"log/slog"
	"net/http"
	"strings"

	"github.com/hibiken/asynq"
	"github.com/hibiken/asynq/x/metrics"
	"github.com/hibiken/asynqmon"
	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/collectors"
	"github.com/prometheus/client_golang/prometheus/promhttp"

	"github.com/testplanit/tpi-workers/internal/tenant"
	"github.com/testplanit/tpi-workers/internal/worker"
)

// Server is the dashboard process's HTTP handler and what it holds open.
type Server struct {
	cfg     Config
	log     *slog.Logger
	auth    *authenticator
	rw, ro  *asynqmon.HTTPHandler
	client  *asynq.Client
	insp    *asynq.Inspector
	tenants *tenant.Resolver
	reg     *prometheus.Registry
	handler http.Handler

	apiRequests    *prometheus.CounterVec
	authFailed     *prometheus.CounterVec
	loginThrottled prometheus.Counter

	// clock bounds the enqueue API's processAt; the login throttle has its
	// own (s.auth.throttle.clock).
	clock worker.Clock
}

// New validates cfg and builds the server. Close it when done.
func New(cfg Config, log *slog.Logger) (*Server, error) {
	if err := cfg.Validate(); err != nil {
		return nil, err
	}
	if log == nil {
		log = slog.Default()
	}
	if cfg.MaxBodyBytes <= 0 {
		cfg.MaxBodyBytes = 1 << 20
	}
	cfg.RootPath = strings.TrimSuffix(cfg.RootPath, "/")
	// The resolver only checks tenant ids (Lookup); it opens no database.
	tenants, err := tenant.NewResolver(cfg.Tenants, nil, log)
	if err != nil {
		return nil, err
	}
	s := &Server{
		cfg:     cfg,
		log:     log,
		auth:    newAuthenticator(cfg.Credentials, cfg.InsecureOpen),
		client:  asynq.NewClient(cfg.Redis),
		insp:    asynq.NewInspector(cfg.Redis),
		tenants: tenants,
		reg:     prometheus.NewRegistry(),
		clock:   worker.SystemClock{},
	}
	s.auth.trusted = cfg.TrustedProxies
	s.auth.throttle = newLoginThrottle(cfg.Login, []string{cfg.Credentials.AdminUser, cfg.Credentials.ViewerUser}, nil)
	warnIgnoredCredentials(cfg, log)
	formatter := asynqmon.PayloadFormatterFunc(func(_ string, payload []byte) string { return string(payload) })
	results := asynqmon.ResultFormatterFunc(func(_ string, result []byte) string { return string(result) })
	s.rw = asynqmon.New(asynqmon.Options{RootPath: cfg.RootPath, RedisConnOpt: cfg.Redis, ReadOnly: cfg.ReadOnly,
		PayloadFormatter: formatter, ResultFormatter: results})
	s.ro = asynqmon.New(asynqmon.Options{RootPath: cfg.RootPath, RedisConnOpt: cfg.Redis, ReadOnly: true,
		PayloadFormatter: formatter, ResultFormatter: results})

	s.apiRequests = prometheus.NewCounterVec(prometheus.CounterOpts{
		Name: "tpi_enqueue_api_requests_total",
		Help: "POST /api/v1/tasks requests by HTTP status code.",
	}, []string{"code"})
	s.authFailed = prometheus.NewCounterVec(prometheus.CounterOpts{
		Name: "tpi_dashboard_auth_failures_total",
		Help: "Requests refused for missing or wrong credentials, by area.",
	}, []string{"area"})
	s.loginThrottled = prometheus.NewCounter(prometheus.CounterOpts{
		Name: "tpi_dashboard_login_throttled_total",
		Help: "Basic-auth logins refused with 429 because their client or user failed too often.",
	})
	// asynq's queue metrics (size, latency, processed and failed totals),
	// registered once, on this server's own registry.
	s.reg.MustRegister(
		metrics.NewQueueMetricsCollector(s.insp),
		collectors.NewGoCollector(),
		collectors.NewProcessCollector(collectors.ProcessCollectorOpts{}),
		s.apiRequests, s.authFailed, s.loginThrottled,
	)
	s.handler = s.routes()
	return s, nil
}

// Handler serves /metrics, /api/v1/tasks (enqueue and task status) and the dashboard; the process's
// runner adds /healthz and /readyz in front of it.
func (s *Server) Handler() http.Handler { return s.handler }

// Close releases the Valkey connections.
func (s *Server) Close() error {
	s.rw.Close()
	s.ro.Close()
	s.insp.Close()
	s.tenants.Close()
	return s.client.Close()
}

func (s *Server) routes() http.Handler {
	mux := http.NewServeMux()
	mux.Handle("GET /metrics", s.require("metrics", RoleViewer, RoleAdmin)(promhttp.HandlerFor(s.reg, promhttp.HandlerOpts{Registry: s.reg})))
	mux.Handle("/api/v1/tasks", http.HandlerFunc(s.enqueue))
	mux.Handle(taskStatusPattern, http.HandlerFunc(s.taskStatus))
	mux.Handle("GET /{$}", http.RedirectHandler(s.cfg.RootPath+overviewPath, http.StatusFound))
	// Browsers send credentials with cross-site requests too: refuse unsafe
	// cross-origin requests (CSRF) on the dashboard.
	csrf := http.NewCrossOriginProtection()
	dash := csrf.Handler(s.require("dashboard", RoleViewer, RoleAdmin)(http.HandlerFunc(s.dashboard)))
	mux.Handle(s.cfg.RootPath, dash)
	mux.Handle(s.cfg.RootPath+"/", dash)
	// Browsers fetch these without credentials; they are asynqmon's public
	// static files and hold no data.
	for _, f := range []string{"/manifest.json", "/favicon.ico"} {
		mux.Handle("GET "+s.cfg.RootPath+f, s.ro)
	}
	// The Job Queues page and its API (queues.go).
	s.queueRoutes(mux)
	return s.harden(mux)
}

// dashboard routes admins to the full asynqmon and viewers (or everyone in
// read-only mode) to the read-only one, refusing writes before asynqmon sees
// them.
func (s *Server) dashboard(w http.ResponseWriter, r *http.Request) {
	role := roleFrom(r)
	if role == RoleAdmin && !s.cfg.ReadOnly {
		s.serveAsynqmon(s.rw, w, r)
		return
	}
	if r.Method != http.MethodGet && r.Method != http.MethodHead {
		why := "your credential is read-only"
		if s.cfg.ReadOnly {
			why = "the dashboard runs read-only (DASHBOARD_READ_ONLY)"
		}
		http.Error(w, "forbidden: "+why, http.StatusForbidden)
		return
	}
	s.serveAsynqmon(s.ro, w, r)
}

type roleKey struct{}

func contextWithRole(r *http.Request, role Role) context.Context {
	return context.WithValue(r.Context(), roleKey{}, role)
}

func roleFrom(r *http.Request) Role {
	role, _ := r.Context().Value(roleKey{}).(Role)
	return role
}

// require lets through requests whose credentials grant one of roles; in
// open mode everyone is admin and producer.
func (s *Server) require(area string, roles ...Role) func(http.Handler) http.Handler {
	return func(next http.Handler) http.Handler {
		return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
			role, ok := s.authorize(r, roles...)
			if !ok {
				s.refuse(w, r, area, role)
				return
			}
			next.ServeHTTP(w, r.WithContext(contextWithRole(r, role)))
		})
	}
}

func (s *Server) authorize(r *http.Request, roles ...Role) (Role, bool) {
	if s.auth.open {
		for _, want := range roles {
			if want == RoleProducer {
				return RoleProducer, true
			}
		}
		return RoleAdmin, true
	}
	role := s.auth.role(r)
	for _, want := range roles {
		if role == want {
			return role, true
		}
	}
	return role, false
}

func (s *Server) refuse(w http.ResponseWriter, r *http.Request, area string, role Role) {
	s.authFailed.WithLabelValues(area).Inc()
	s.log.Warn("request refused", "area", area, "method", r.Method, "path", r.URL.Path, "remote", r.RemoteAddr, "role", role.String())
	if role != RoleNone {
		http.Error(w, "forbidden: this credential may not use "+area, http.StatusForbidden)
		return
	}
	w.Header().Set("WWW-Authenticate", `Basic realm="TestPlanIt Job Queues", charset="UTF-8"`)
	http.Error(w, "unauthorized: missing or wrong credentials", http.StatusUnauthorized)
}
