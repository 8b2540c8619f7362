package dashboard

import (
	"embed"
	"encoding/json"
	"fmt"
	"html/template"
	"io"
	"io/fs"
	"mime"
	"net/http"
	"net/url"
	"slices"
	"strings"
	"time"

	"github.com/hibiken/asynq"

	"github.com/testplanit/tpi-workers/internal/config"
	"github.com/testplanit/tpi-workers/pkg/task"
)

// The Job Queues page: the original's Admin > Job Queues table, beside
// asynqmon's detail views.
//
//	GET  <DASHBOARD_PATH>/overview                  the page (admin, viewer)
//	GET  <DASHBOARD_PATH>/overview/assets/*         its script and style sheet (public, no data)
//	GET  /api/v1/queues                             the table as JSON (admin, viewer)
//	POST /api/v1/queues/{queue}/{pause|resume|clean} an action (admin, unless read-only)
//
// The page holds no inline script or style, so a Content-Security-Policy of
// script-src 'self' and style-src 'self' allows it.

// ui holds the page's template, script and style sheet. A package variable
// only because go:embed needs one; nothing writes to it.
//
//go:embed ui
var ui embed.FS

const (
	// overviewPath follows DASHBOARD_PATH: the page's path.
	overviewPath = "/overview"
	// assetsPath follows the page's path: its script and style sheet.
	assetsPath = overviewPath + "/assets/"
	// queuesAPIPath is the JSON form of the table; actions are below it.
	queuesAPIPath = "/api/v1/queues"
	// csrfHeader must be present on an action. A cross-site form cannot
	// send it, and a cross-site script cannot without a CORS preflight,
	// which nothing here answers; browsers resend basic-auth credentials on
	// their own, so this is what stops a forged request. Any non-empty
	// value will do; the page sends "tpi-dashboard".
	csrfHeader = "X-Requested-With"
	// refreshEvery is the page's auto-refresh period, the original's.
	refreshEvery = 10 * time.Second
	// maxActionBody bounds an action's body ({"confirm":"<queue>"}).
	maxActionBody = 1 << 10
	// liveServerStatus is the status asynq reports for a server that fetches
	// tasks; one stopped by SIGTSTP reports "stopped" and offers none.
	liveServerStatus = "active"
)

// The queue statuses, the original's badge: paused wins, then active when a
// task runs, else idle.
const (
	StatusPaused = "paused"
	StatusActive = "active"
	StatusIdle   = "idle"
)

// The actions of POST /api/v1/queues/{queue}/{action}.
const (
	ActionPause  = "pause"
	ActionResume = "resume"
	ActionClean  = "clean"
)

// QueuesResponse is the body of GET /api/v1/queues.
type QueuesResponse struct {
	// Queues are the seven queues in the original page's order (audit-logs,
	// which the original page omits, last), each listed
	// whether or not it has held a task.
	Queues []QueueSummary `json:"queues"`
	// RefreshedAt is when the counts were read.
	RefreshedAt time.Time `json:"refreshedAt"`
	// Actions tells whether the caller may pause, resume and clean: an
	// admin, unless DASHBOARD_READ_ONLY is set.
	Actions bool `json:"actions"`
}

// QueueSummary is one row of the Job Queues table.
type QueueSummary struct {
	Name string `json:"name"`
	// Registered is false until a task was first enqueued on the queue:
	// asynq knows the queue from then on. Such a queue shows zeros and
	// cannot be paused yet.
	Registered bool `json:"registered"`
	Paused     bool `json:"paused"`
	// Status is "paused", "active" (a task runs) or "idle".
	Status      string      `json:"status"`
	Concurrency Concurrency `json:"concurrency"`
	// Waiting counts the tasks ready to run: asynq's pending (plus
	// aggregating, which this fleet does not use).
	Waiting int `json:"waiting"`
	// Active counts the tasks running now.
	Active int `json:"active"`
	// Completed counts the finished tasks still kept (each queue's
	// retention).
	Completed int `json:"completed"`
	// Failed counts the tasks that will not run again: asynq's archived
	// (attempts spent, or refused as permanent errors).
	Failed int `json:"failed"`
	// Delayed counts the tasks waiting for a time: asynq's scheduled plus
	// retry. A failed attempt that will be retried waits in "retry"; BullMQ
	// keeps such a job in "delayed" too, so the original counted it there.
	Delayed int `json:"delayed"`
	// Retrying is the part of Delayed that waits for a retry.
	Retrying int `json:"retrying"`
	// Link is asynqmon's page of the queue's tasks; add ?status=pending,
	// active, scheduled, retry, archived or completed for one tab.
	Link string `json:"link"`
}

// Concurrency is a queue's concurrency as configured and as offered.
type Concurrency struct {
	// Configured is what the workers' variable says as this process reads
	// it (Env, else the queue's default): the workers run elsewhere and
	// may be configured otherwise, hence Live.
	Configured int `json:"configured"`
	// Env names the variable, e.g. "EMAIL_CONCURRENCY".
	Env string `json:"env"`
	// Live is the sum of the Concurrency of the running asynq servers that
	// consume the queue, as they report it. A worker process runs several
	// servers (fetch loops, FETCH_LOOPS) that split its concurrency, so the
	// sum is the process's; a server that consumes several queues counts
	// fully for each. 0 when no worker runs.
	Live int `json:"live"`
	// Servers is the number of those asynq servers (fetch loops).
	Servers int `json:"servers"`
}

// QueueActionRequest is the body of POST /api/v1/queues/{queue}/clean;
// pause and resume take none.
type QueueActionRequest struct {
	// Confirm must be the queue's name: clean deletes tasks for good.
	Confirm string `json:"confirm"`
}

// QueueActionResponse is the body of a successful action.
type QueueActionResponse struct {
	Action string       `json:"action"`
	Queue  QueueSummary `json:"queue"`
	// Deleted is what clean removed.
	Deleted *CleanCounts `json:"deleted,omitempty"`
}

// CleanCounts are the tasks a clean deleted.
type CleanCounts struct {
	Completed int `json:"completed"`
	Failed    int `json:"failed"`
}

// pageOrder is the queues in the order of the original page, then
// audit-logs, which the original page does not show.
func pageOrder() []string {
	return []string{task.QueueForecast, task.QueueNotifications, task.QueueEmails,
		task.QueueIssueSync, task.QueueTestmoImports, task.QueueReindex, task.QueueAuditLogs}
}

// loadQueueConcurrency reads each queue's concurrency variable as the
// workers do (same names, defaults and bounds); errors go to env.
func loadQueueConcurrency(env *config.Env) map[string]int {
	m := map[string]int{}
	for _, q := range task.Queues() {
		m[q.Name] = env.Int(q.ConcurrencyEnv, q.DefaultConcurrency, 1, 1000)
	}
	return m
}

// queueInspector is what the page needs of asynq's Inspector.
type queueInspector interface {
	Queues() ([]string, error)
	GetQueueInfo(queue string) (*asynq.QueueInfo, error)
	Servers() ([]*asynq.ServerInfo, error)
	PauseQueue(queue string) error
	UnpauseQueue(queue string) error
	DeleteAllCompletedTasks(queue string) (int, error)
	DeleteAllArchivedTasks(queue string) (int, error)
}

// queuesUI serves the page, its assets and its API.
type queuesUI struct {
	s    *Server
	insp queueInspector
	page *template.Template
	csrf *http.CrossOriginProtection
}

// queueRoutes registers the Job Queues page, its assets and its API on mux.
func (s *Server) queueRoutes(mux *http.ServeMux) {
	u := &queuesUI{
		s:    s,
		insp: s.insp,
		// The template is compiled into the binary and parsed by every
		// test: it cannot fail at run time.
		page: template.Must(template.New("queues.html").Funcs(template.FuncMap{"label": statusLabel}).ParseFS(ui, "ui/queues.html")),
		csrf: http.NewCrossOriginProtection(),
	}
	u.csrf.SetDenyHandler(http.HandlerFunc(func(w http.ResponseWriter, _ *http.Request) {
		writeJSON(w, http.StatusForbidden, errorBody{"forbidden: cross-origin request refused"})
	}))
	root := s.cfg.RootPath
	mux.Handle("GET "+root+overviewPath, s.require("dashboard", RoleViewer, RoleAdmin)(http.HandlerFunc(u.servePage)))
	assets, _ := fs.Sub(ui, "ui/assets")
	mux.Handle("GET "+root+assetsPath, http.StripPrefix(root+assetsPath, noCache(http.FileServerFS(assets))))
	mux.HandleFunc(queuesAPIPath, u.serveList)
	mux.HandleFunc(queuesAPIPath+"/{queue}/{action}", u.serveAction)
}

// noCache makes browsers revalidate the assets, so a new binary's script
// is used at once.
func noCache(h http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Cache-Control", "no-cache")
		h.ServeHTTP(w, r)
	})
}

// pageData is what ui/queues.html renders.
type pageData struct {
	QueuesResponse
	Root, Assets, API string
	// RefreshMillis and RefreshSeconds are the auto-refresh period.
	RefreshMillis, RefreshSeconds int64
	// ReadOnly explains why there are no buttons; "" for an admin.
	ReadOnly string
}

func (u *queuesUI) servePage(w http.ResponseWriter, r *http.Request) {
	resp, err := u.snapshot(u.mayAct(roleFrom(r)))
	if err != nil {
		u.s.log.Error("job queues page: reading the queues failed", "err", err)
		http.Error(w, "cannot reach the queue store; retry later", http.StatusServiceUnavailable)
		return
	}
	data := pageData{
		QueuesResponse: resp,
		Root:           u.s.cfg.RootPath,
		Assets:         u.s.cfg.RootPath + assetsPath,
		API:            queuesAPIPath,
		RefreshMillis:  refreshEvery.Milliseconds(),
		RefreshSeconds: int64(refreshEvery / time.Second),
	}
	switch {
	case u.s.cfg.ReadOnly:
		data.ReadOnly = "Read-only: the dashboard runs with DASHBOARD_READ_ONLY."
	case !resp.Actions:
		data.ReadOnly = "Read-only: your credential may view the queues, not change them."
	}
	w.Header().Set("Content-Type", "text/html; charset=utf-8")
	w.Header().Set("Cache-Control", "no-store")
	if err := u.page.Execute(w, data); err != nil {
		u.s.log.Error("job queues page: rendering failed", "err", err)
	}
}

// serveList answers GET /api/v1/queues.
func (u *queuesUI) serveList(w http.ResponseWriter, r *http.Request) {
	if r.Method != http.MethodGet && r.Method != http.MethodHead {
		w.Header().Set("Allow", "GET, HEAD")
		writeJSON(w, http.StatusMethodNotAllowed, errorBody{"method not allowed: use GET; actions are POST " + queuesAPIPath + "/{queue}/{pause|resume|clean}"})
		return
	}
	role, ok := u.authorize(w, r, RoleViewer, RoleAdmin)
	if !ok {
		return
	}
	resp, err := u.snapshot(u.mayAct(role))
	if err != nil {
		u.s.log.Error("queues API: reading the queues failed", "err", err)
		writeJSON(w, http.StatusServiceUnavailable, errorBody{"cannot reach the queue store; retry later"})
		return
	}
	writeJSON(w, http.StatusOK, resp)
}

// serveAction answers POST /api/v1/queues/{queue}/{action}.
func (u *queuesUI) serveAction(w http.ResponseWriter, r *http.Request) {
	code, body := u.action(w, r)
	writeJSON(w, code, body)
}

func (u *queuesUI) action(w http.ResponseWriter, r *http.Request) (int, any) {
	if r.Method != http.MethodPost {
		w.Header().Set("Allow", http.MethodPost)
		return http.StatusMethodNotAllowed, errorBody{"method not allowed: use POST"}
	}
	role, ok := u.authorize(w, r, RoleAdmin)
	if !ok {
		return 0, nil
	}
	if err := u.csrf.Check(r); err != nil {
		return http.StatusForbidden, errorBody{"forbidden: cross-origin request refused"}
	}
	if r.Header.Get(csrfHeader) == "" {
		return http.StatusForbidden, errorBody{"forbidden: send the " + csrfHeader + " header (it keeps other sites from acting with your browser's credentials)"}
	}
	if u.s.cfg.ReadOnly {
		return http.StatusForbidden, errorBody{"forbidden: the dashboard runs read-only (DASHBOARD_READ_ONLY)"}
	}
	queue, action := r.PathValue("queue"), r.PathValue("action")
	if !slices.Contains(pageOrder(), queue) {
		return http.StatusNotFound, errorBody{fmt.Sprintf("unknown queue %q (known: %s)", queue, strings.Join(pageOrder(), ", "))}
	}
	var deleted *CleanCounts
	switch action {
	case ActionPause, ActionResume:
		if code, msg := u.setPaused(queue, action == ActionPause); code != 0 {
			return code, errorBody{msg}
		}
	case ActionClean:
		if code, msg := confirmClean(w, r, queue); code != 0 {
			return code, errorBody{msg}
		}
		n, err := u.clean(queue)
		if err != nil {
			u.s.log.Error("clean failed", "queue", queue, "err", err)
			return http.StatusServiceUnavailable, errorBody{"clean failed: cannot reach the queue store; retry later"}
		}
		deleted = &n
	default:
		return http.StatusNotFound, errorBody{fmt.Sprintf("unknown action %q: use pause, resume or clean", action)}
	}
	resp, err := u.snapshot(true)
	if err != nil {
		u.s.log.Error("reading the queues failed", "err", err)
		return http.StatusServiceUnavailable, errorBody{"done, but reading the queue back failed; reload"}
	}
	i := slices.IndexFunc(resp.Queues, func(q QueueSummary) bool { return q.Name == queue })
	args := []any{"queue", queue, "action", action, "role", role.String(), "remote", r.RemoteAddr}
	if deleted != nil {
		args = append(args, "deleted_completed", deleted.Completed, "deleted_failed", deleted.Failed)
	}
	u.s.log.Info("queue action", args...)
	return http.StatusOK, QueueActionResponse{Action: action, Queue: resp.Queues[i], Deleted: deleted}
}

// confirmClean checks clean's body: {"confirm":"<queue>"}. It returns 0 when
// confirmed, else the status and message to answer.
func confirmClean(w http.ResponseWriter, r *http.Request, queue string) (int, string) {
	ask := fmt.Sprintf(`clean deletes every completed and failed task of %s for good: confirm with the body {"confirm":%q}`, queue, queue)
	if mt, _, err := mime.ParseMediaType(r.Header.Get("Content-Type")); err != nil || mt != "application/json" {
		return http.StatusBadRequest, ask + " (Content-Type: application/json)"
	}
	raw, err := io.ReadAll(http.MaxBytesReader(w, r.Body, maxActionBody))
	if err != nil {
		return http.StatusBadRequest, "reading body: " + err.Error()
	}
	var req QueueActionRequest
	if err := json.Unmarshal(raw, &req); err != nil || req.Confirm != queue {
		return http.StatusBadRequest, ask
	}
	return 0, ""
}

// setPaused pauses or resumes queue; doing it twice is no error. It returns
// 0 on success, else the status and message to answer.
func (u *queuesUI) setPaused(queue string, pause bool) (int, string) {
	info, err := u.queueInfo(queue)
	switch {
	case err != nil:
		u.s.log.Error("reading a queue failed", "queue", queue, "err", err)
		return http.StatusServiceUnavailable, "cannot reach the queue store; retry later"
	case info == nil && pause:
		// asynq would pause it, but could not show it paused: a queue it
		// does not know yet has no info.
		return http.StatusConflict, queue + " has held no task yet, so asynq cannot report it paused; pause it once a task was enqueued"
	case info == nil || info.Paused == pause:
		return 0, ""
	}
	op := u.insp.UnpauseQueue
	if pause {
		op = u.insp.PauseQueue
	}
	if err := op(queue); err != nil {
		// Another admin may have done the same meanwhile.
		if info, err2 := u.queueInfo(queue); err2 == nil && info != nil && info.Paused == pause {
			return 0, ""
		}
		u.s.log.Error("pause or resume failed", "queue", queue, "pause", pause, "err", err)
		return http.StatusServiceUnavailable, "cannot reach the queue store; retry later"
	}
	return 0, ""
}

// clean deletes queue's completed and archived (failed) tasks. Retrying
// tasks stay: they will run again.
func (u *queuesUI) clean(queue string) (CleanCounts, error) {
	var n CleanCounts
	info, err := u.queueInfo(queue)
	if err != nil || info == nil {
		return n, err
	}
	if n.Completed, err = u.insp.DeleteAllCompletedTasks(queue); err != nil {
		return n, fmt.Errorf("deleting completed tasks: %w", err)
	}
	if n.Failed, err = u.insp.DeleteAllArchivedTasks(queue); err != nil {
		return n, fmt.Errorf("deleting archived tasks: %w", err)
	}
	return n, nil
}

// queueInfo returns asynq's info of queue, nil when asynq does not know the
// queue yet (no task was ever enqueued on it).
func (u *queuesUI) queueInfo(queue string) (*asynq.QueueInfo, error) {
	known, err := u.insp.Queues()
	if err != nil {
		return nil, fmt.Errorf("listing queues: %w", err)
	}
	if !slices.Contains(known, queue) {
		return nil, nil
	}
	info, err := u.insp.GetQueueInfo(queue)
	if err != nil {
		return nil, fmt.Errorf("queue %s: %w", queue, err)
	}
	return info, nil
}

// snapshot reads the seven queues and the running servers. asynq's Inspector
// takes no context; each call is one short Valkey round trip.
func (u *queuesUI) snapshot(actions bool) (QueuesResponse, error) {
	resp := QueuesResponse{Actions: actions}
	known, err := u.insp.Queues()
	if err != nil {
		return resp, fmt.Errorf("listing queues: %w", err)
	}
	servers, err := u.insp.Servers()
	if err != nil {
		return resp, fmt.Errorf("listing servers: %w", err)
	}
	live, loops := map[string]int{}, map[string]int{}
	for _, srv := range servers {
		if srv.Status != liveServerStatus {
			continue
		}
		for q := range srv.Queues {
			live[q] += srv.Concurrency
			loops[q]++
		}
	}
	for _, name := range pageOrder() {
		spec, _ := task.LookupQueue(name)
		configured := u.s.cfg.QueueConcurrency[name]
		if configured <= 0 {
			configured = spec.DefaultConcurrency
		}
		q := QueueSummary{
			Name:        name,
			Concurrency: Concurrency{Configured: configured, Env: spec.ConcurrencyEnv, Live: live[name], Servers: loops[name]},
			Link:        u.s.cfg.RootPath + "/queues/" + url.PathEscape(name),
		}
		if slices.Contains(known, name) {
			info, err := u.insp.GetQueueInfo(name)
			if err != nil {
				return resp, fmt.Errorf("queue %s: %w", name, err)
			}
			q.Registered = true
			q.Paused = info.Paused
			q.Waiting = info.Pending + info.Aggregating
			q.Active = info.Active
			q.Completed = info.Completed
			q.Failed = info.Archived
			q.Delayed = info.Scheduled + info.Retry
			q.Retrying = info.Retry
		}
		q.Status = queueStatus(q)
		resp.Queues = append(resp.Queues, q)
	}
	resp.RefreshedAt = time.Now().UTC().Truncate(time.Second)
	return resp, nil
}

func queueStatus(q QueueSummary) string {
	switch {
	case q.Paused:
		return StatusPaused
	case q.Active > 0:
		return StatusActive
	default:
		return StatusIdle
	}
}

// statusLabel is a status as the badge shows it.
func statusLabel(status string) string {
	switch status {
	case StatusPaused:
		return "Paused"
	case StatusActive:
		return "Active"
	default:
		return "Idle"
	}
}

// mayAct tells whether role may pause, resume and clean.
func (u *queuesUI) mayAct(role Role) bool { return role == RoleAdmin && !u.s.cfg.ReadOnly }

// authorize lets through requests whose credentials grant one of roles, else
// answers with a JSON error and a basic-auth challenge (so that a browser
// reuses the credentials the page was loaded with).
func (u *queuesUI) authorize(w http.ResponseWriter, r *http.Request, roles ...Role) (Role, bool) {
	role, ok := u.s.authorize(r, roles...)
	if ok {
		return role, true
	}
	u.s.authFailed.WithLabelValues("queues").Inc()
	u.s.log.Warn("request refused", "area", "queues", "method", r.Method, "path", r.URL.Path, "remote", r.RemoteAddr, "role", role.String())
	if role != RoleNone {
		msg := "forbidden: the queues API takes admin or viewer credentials"
		if slices.Equal(roles, []Role{RoleAdmin}) {
			msg = "forbidden: only an admin may change the queues"
		}
		writeJSON(w, http.StatusForbidden, errorBody{msg})
		return role, false
	}
	w.Header().Set("WWW-Authenticate", `Basic realm="TestPlanIt Job Queues", charset="UTF-8"`)
	writeJSON(w, http.StatusUnauthorized, errorBody{"unauthorized: missing or wrong credentials"})
	return role, false
}

// writeJSON answers with body as JSON; code 0 means already answered.
func writeJSON(w http.ResponseWriter, code int, body any) {
	if code == 0 {
		return
	}
	w.Header().Set("Content-Type", "application/json")
	w.Header().Set("Cache-Control", "no-store")
	w.WriteHeader(code)
	_ = json.NewEncoder(w).Encode(body)
}
