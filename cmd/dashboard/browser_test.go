package main

import (
	"bytes"
	"context"
	"fmt"
	"image/png"
	"log/slog"
	"net"
	"net/http"
	neturl "net/url"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/chromedp/cdproto/fetch"
	cdplog "github.com/chromedp/cdproto/log"
	"github.com/chromedp/cdproto/network"
	"github.com/chromedp/cdproto/page"
	"github.com/chromedp/cdproto/runtime"
	"github.com/chromedp/chromedp"
	"github.com/google/go-cmp/cmp"
	"github.com/hibiken/asynq"
	"golang.org/x/crypto/bcrypt"

	"github.com/testplanit/tpi-workers/internal/schedule"
	"github.com/testplanit/tpi-workers/internal/testenv"
	"github.com/testplanit/tpi-workers/pkg/task"
)

// screenshotDir is where the browser test writes its screenshots (named in
// the README). Override with DASHBOARD_SCREENSHOT_DIR.
const screenshotDir = "testdata/screenshots"

// chromium is the Debian package's browser (apt-get install chromium).
const chromium = "/usr/bin/chromium"

// TestBrowserLogsInAndSeesTheSevenQueues builds and starts the real dashboard
// binary, logs in with headless Chromium (answering the basic-auth challenge
// as a person would), and captures the queues page.
func TestBrowserLogsInAndSeesTheSevenQueues(t *testing.T) {
	if _, err := os.Stat(chromium); err != nil {
		t.Fatalf("%s is missing: install Debian's chromium (scripts/ci-services.sh does): %v", chromium, err)
	}
	opt, url := testenv.Redis(t)
	seedQueues(t, opt)
	startFleet(t, opt)

	bin := buildBinary(t)
	addr := freeAddr(t)
	hash, err := bcrypt.GenerateFromPassword([]byte("correct horse"), bcrypt.DefaultCost)
	if err != nil {
		t.Fatal(err)
	}
	cmd := exec.Command(bin)
	cmd.Env = append(os.Environ(),
		"VALKEY_URL="+url, "DASHBOARD_ADDR="+addr, "DASHBOARD_USER=admin",
		"DASHBOARD_PASSWORD_HASH="+string(hash), "LOG_FORMAT=text", "HTTP_ADDR=")
	var logs bytes.Buffer
	cmd.Stdout, cmd.Stderr = &logs, &logs
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		_ = cmd.Process.Signal(os.Interrupt)
		_ = cmd.Wait()
		if t.Failed() {
			t.Logf("dashboard logs:\n%s", logs.String())
		}
	})
	base := "http://" + addr
	testenv.Eventually(t, 15*time.Second, func() bool {
		resp, err := http.Get(base + "/healthz")
		if err != nil {
			return false
		}
		resp.Body.Close()
		return resp.StatusCode == 200
	}, "the dashboard binary to serve /healthz")
	// Without credentials the page is refused.
	resp, err := http.Get(base + "/admin/queues/")
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if resp.StatusCode != http.StatusUnauthorized {
		t.Fatalf("anonymous page: %d", resp.StatusCode)
	}

	ctx := browser(t)
	if err := chromedp.Do(ctx, chromedp.EmulateViewport(1400, 1000)); err != nil {
		t.Fatalf("start chromium: %v", err)
	}
	// Answer the basic-auth challenge, as a person would in the login
	// dialog. The listener must return at once: commands go in goroutines.
	challenged := make(chan struct{}, 64)
	// Every request of the page pauses here: one that would leave loopback
	// (Google Fonts, before the dashboard rewrote asynqmon's page) is
	// recorded and failed instead of sent.
	var reqMu sync.Mutex
	var seen int
	var outside []string
	err = chromedp.Listen(ctx, func(ev any) {
		switch ev := ev.(type) {
		case *fetch.EventAuthRequired:
			challenged <- struct{}{}
			go func() {
				_, _ = chromedp.Call(ctx, fetch.ContinueWithAuth, fetch.ContinueWithAuthParams{
					RequestID: ev.RequestID,
					AuthChallengeResponse: &fetch.AuthChallengeResponse{
						Response: fetch.AuthChallengeResponseResponseProvideCredentials,
						Username: "admin", Password: "correct horse",
					},
				})
			}()
		case *fetch.EventRequestPaused:
			u, err := neturl.Parse(ev.Request.URL)
			host := ""
			if err == nil {
				host = u.Hostname()
			}
			ip := net.ParseIP(host)
			local := host == "localhost" || ip != nil && ip.IsLoopback()
			reqMu.Lock()
			seen++
			if !local {
				outside = append(outside, ev.Request.URL)
			}
			reqMu.Unlock()
			if !local {
				go func() {
					_, _ = chromedp.Call(ctx, fetch.FailRequest, fetch.FailRequestParams{RequestID: ev.RequestID, ErrorReason: network.ErrorReasonBlockedByClient})
				}()
				return
			}
			go func() {
				_, _ = chromedp.Call(ctx, fetch.ContinueRequest, fetch.ContinueRequestParams{RequestID: ev.RequestID})
			}()
		}
	})
	if err != nil {
		t.Fatal(err)
	}
	handleAuth := true
	if _, err := chromedp.Call(ctx, fetch.Enable, fetch.EnableParams{HandleAuthRequests: &handleAuth}); err != nil {
		t.Fatal(err)
	}
	if err := chromedp.Do(ctx, chromedp.Navigate(base+"/admin/queues/")); err != nil {
		t.Fatalf("browser: %v", err)
	}
	if len(challenged) == 0 {
		t.Error("the browser was never asked for credentials")
	}
	// The page fetches the queues after it loads: poll its text.
	var text string
	t.Cleanup(func() {
		if t.Failed() {
			t.Logf("last page text: %q (err %v)", text, err)
		}
	})
	testenv.Eventually(t, 20*time.Second, func() bool {
		text, err = chromedp.Run(ctx, chromedp.Text(chromedp.CSS("body")))
		return err == nil && strings.Contains(text, task.QueueReindex) && strings.Contains(text, task.QueueNotifications)
	}, "the queues page to list the queues")
	shot, err := chromedp.Run(ctx, chromedp.FullScreenshot(100))
	if err != nil {
		t.Fatal(err)
	}
	for _, q := range task.Queues() {
		if !strings.Contains(text, q.Name) {
			t.Errorf("queues page does not list %s:\n%s", q.Name, text)
		}
	}
	img, err := png.Decode(bytes.NewReader(shot))
	if err != nil {
		t.Fatalf("screenshot is not a PNG: %v", err)
	}
	if b := img.Bounds(); b.Dx() < 1000 || b.Dy() < 600 {
		t.Errorf("screenshot is %v", b)
	}
	saveScreenshot(t, "queues.png", shot)

	// The Servers view shows each worker with its concurrency, the
	// Schedulers view the scheduler's entries.
	for _, page := range []struct{ path, want, file string }{
		{"/admin/queues/servers", "0/5", "servers.png"},
		{"/admin/queues/schedulers", "CRON_TZ=UTC 0 3 * * *", "schedulers.png"},
	} {
		if err := chromedp.Do(ctx, chromedp.Navigate(base+page.path)); err != nil {
			t.Fatalf("browser: %v", err)
		}
		testenv.Eventually(t, 20*time.Second, func() bool {
			text, err = chromedp.Run(ctx, chromedp.Text(chromedp.CSS("body")))
			return err == nil && strings.Contains(text, page.want)
		}, "%s to show %s", page.path, page.want)
		shot, err := chromedp.Run(ctx, chromedp.FullScreenshot(100))
		if err != nil {
			t.Fatal(err)
		}
		saveScreenshot(t, page.file, shot)
	}
	if !strings.Contains(text, "forecast-updates:update-all-cases-forecast") {
		t.Errorf("schedulers page lacks the nightly forecast: %q", text)
	}
	reqMu.Lock()
	defer reqMu.Unlock()
	if seen < 5 {
		t.Errorf("only %d requests seen: the network watch is broken", seen)
	}
	if len(outside) > 0 {
		t.Errorf("the dashboard made the browser request other origins: %v", outside)
	}
}

func saveScreenshot(t *testing.T, name string, png []byte) {
	t.Helper()
	dir := os.Getenv("DASHBOARD_SCREENSHOT_DIR")
	if dir == "" {
		dir = screenshotDir
	}
	if err := os.MkdirAll(dir, 0o755); err != nil {
		t.Fatal(err)
	}
	out := filepath.Join(dir, name)
	if err := os.WriteFile(out, png, 0o644); err != nil {
		t.Fatal(err)
	}
	t.Logf("screenshot: %s (%d bytes)", out, len(png))
}

// startFleet runs a worker (asynq server, concurrency 5) and a scheduler
// against the same Valkey, so that the Servers and Schedulers views have
// something to show.
func startFleet(t *testing.T, opt asynq.RedisClientOpt) {
	t.Helper()
	srv := asynq.NewServer(opt, asynq.Config{
		Concurrency: 5, Queues: map[string]int{task.QueueNotifications: 1},
		LogLevel: asynq.ErrorLevel,
	})
	mux := asynq.NewServeMux()
	mux.HandleFunc(task.TypeCreateNotification, func(context.Context, *asynq.Task) error { return nil })
	if err := srv.Start(mux); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(srv.Shutdown)
	p := schedule.NewProvider(schedule.ProviderOptions{Logger: slog.New(slog.DiscardHandler)})
	s, err := schedule.New(schedule.Options{Redis: opt, Provider: p, HeartbeatInterval: 200 * time.Millisecond, Logger: slog.New(slog.DiscardHandler)})
	if err != nil {
		t.Fatal(err)
	}
	if err := s.Start(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(s.Shutdown)
}

// seedQueues puts a task in each of the seven queues (asynqmon lists the
// queues that have held a task), one of them with a progress result.
func seedQueues(t *testing.T, opt asynq.RedisClientOpt) {
	t.Helper()
	client := asynq.NewClient(opt)
	defer client.Close()
	project := 3
	tasks := []func() (*asynq.Task, error){
		func() (*asynq.Task, error) {
			return task.NewCreateNotification(task.CreateNotification{UserID: "u1", Type: task.NotificationTypeWorkAssigned, Title: "Assigned"})
		},
		func() (*asynq.Task, error) {
			return task.NewSendNotificationEmail(task.SendNotificationEmail{NotificationID: "n1", UserID: "u1"})
		},
		func() (*asynq.Task, error) { return task.NewUpdateAllCasesForecast(task.UpdateAllCasesForecast{}) },
		func() (*asynq.Task, error) {
			return task.NewSyncIssues(task.SyncJob{UserID: "u1", IntegrationID: 1, Action: "sync"})
		},
		func() (*asynq.Task, error) {
			return task.NewProcessTestmoImport(task.ProcessTestmoImport{JobID: "ck1", Mode: "analyze"})
		},
		func() (*asynq.Task, error) {
			return task.NewReindex(task.Reindex{EntityType: task.EntityProjects, ProjectID: &project})
		},
		func() (*asynq.Task, error) {
			return task.NewAuditEvent(task.AuditLog{
				Event:    task.AuditEvent{Action: task.AuditLogin, EntityType: "User", EntityID: "u1"},
				QueuedAt: "2025-03-04T05:06:07.008Z",
			})
		},
	}
	for _, mk := range tasks {
		tk, err := mk()
		if err != nil {
			t.Fatal(err)
		}
		if _, err := client.Enqueue(tk); err != nil {
			t.Fatal(err)
		}
	}
}

func buildBinary(t *testing.T) string {
	t.Helper()
	bin := filepath.Join(t.TempDir(), "dashboard")
	out, err := exec.Command("go", "build", "-o", bin, ".").CombinedOutput()
	if err != nil {
		t.Fatalf("go build: %v\n%s", err, out)
	}
	return bin
}

func freeAddr(t *testing.T) string {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer ln.Close()
	return ln.Addr().String()
}

// browser starts headless Chromium with the flags this machine needs (no
// background networking: the network is closed).
func browser(t *testing.T) context.Context {
	t.Helper()
	opts := []chromedp.ExecAllocatorOption{
		chromedp.ExecPath(chromium),
		chromedp.Headless,
		chromedp.NoSandbox,
		chromedp.DisableGPU,
		chromedp.NoFirstRun,
		chromedp.NoDefaultBrowserCheck,
		chromedp.UserDataDir(t.TempDir()),
		chromedp.Flag("disable-background-networking", true),
		chromedp.Flag("disable-component-update", true),
		chromedp.Flag("disable-sync", true),
		chromedp.Flag("disable-quic", true),
		chromedp.Flag("disable-dev-shm-usage", true),
		chromedp.WindowSize(1400, 1000),
	}
	actx, cancelAlloc := chromedp.NewExecAllocator(context.Background(), opts...)
	ctx, cancelCtx := chromedp.NewContext(actx, chromedp.WithErrorf(func(string, ...any) {}))
	ctx, cancelTimeout := context.WithTimeout(ctx, 60*time.Second)
	t.Cleanup(func() { cancelTimeout(); cancelCtx(); cancelAlloc() })
	return ctx
}

// TestBrowserShowsTheJobQueuesPage starts the real binary and drives the Job
// Queues page (the original's Admin > Job Queues table) in headless
// Chromium: the seven queues on an empty store, the counts after tasks arrive
// (by the page's own 10 s refresh), pause and clean with its confirmation
// dialog. It writes job-queues-empty.png and job-queues-tasks.png.
func TestBrowserShowsTheJobQueuesPage(t *testing.T) {
	if _, err := os.Stat(chromium); err != nil {
		t.Fatalf("%s is missing: install Debian's chromium (scripts/ci-services.sh does): %v", chromium, err)
	}
	opt, url := testenv.Redis(t)
	base := startDashboard(t, url, "admin", "correct horse", "EMAIL_CONCURRENCY=4")

	ctx := browser(t)
	if err := chromedp.Do(ctx, chromedp.EmulateViewport(1400, 760)); err != nil {
		t.Fatalf("start chromium: %v", err)
	}
	dialogs, answers := answerBrowser(t, ctx, "admin", "correct horse")
	consoleErrors := watchConsole(t, ctx)

	// "/" leads to the page.
	if err := chromedp.Do(ctx, chromedp.Navigate(base+"/")); err != nil {
		t.Fatalf("browser: %v", err)
	}
	var rows []map[string]string
	var err error
	t.Cleanup(func() {
		if t.Failed() {
			t.Logf("last table: %v (err %v)", rows, err)
		}
	})
	table := func() []map[string]string {
		rows, err = chromedp.Run(ctx, chromedp.Evaluate[[]map[string]string](`Array.from(document.querySelectorAll("#queues tbody tr"), (r) => {
			const o = { queue: r.dataset.queue };
			r.querySelectorAll("[data-field]").forEach((c) => { o[c.dataset.field] = c.textContent.trim(); });
			o.buttons = Array.from(r.querySelectorAll("button"), (b) => b.dataset.action + (b.disabled ? "!" : "")).join(" ");
			return o;
		})`))
		return rows
	}
	row := func(q string) map[string]string {
		for _, r := range rows {
			if r["queue"] == q {
				return r
			}
		}
		return nil
	}
	testenv.Eventually(t, 20*time.Second, func() bool { return len(table()) == 7 }, "the page to list seven queues")
	if u, err := chromedp.Run(ctx, chromedp.Location()); err != nil || !strings.HasSuffix(u, "/admin/queues/overview") {
		t.Errorf("/ led to %q (%v)", u, err)
	}
	order := []string{task.QueueForecast, task.QueueNotifications, task.QueueEmails, task.QueueIssueSync, task.QueueTestmoImports, task.QueueReindex, task.QueueAuditLogs}
	for i, q := range order {
		want := map[string]string{"queue": q, "status": "Idle", "live": "—", "waiting": "0", "active": "0", "completed": "0",
			"failed": "0", "delayed": "0", "buttons": "pause! clean"}
		spec, _ := task.LookupQueue(q)
		want["configured"] = fmt.Sprint(spec.DefaultConcurrency)
		if q == task.QueueEmails {
			want["configured"] = "4" // EMAIL_CONCURRENCY, as the workers read it
		}
		if diff := cmp.Diff(want, rows[i]); diff != "" {
			t.Errorf("empty store, row %d (-want +got):\n%s", i, diff)
		}
	}
	saveScreenshot(t, "job-queues-empty.png", fullScreenshot(t, ctx))

	// Tasks arrive, and workers start: the page shows them at its next
	// refresh, without a reload.
	seedQueues(t, opt)
	client := asynq.NewClient(opt)
	t.Cleanup(func() { client.Close() })
	for range 2 {
		tk, err := task.NewCreateNotification(task.CreateNotification{UserID: "u1", Type: task.NotificationTypeWorkAssigned, Title: "Done"})
		if err != nil {
			t.Fatal(err)
		}
		if _, err := client.Enqueue(tk, asynq.Retention(time.Hour)); err != nil {
			t.Fatal(err)
		}
	}
	tk, _ := task.NewSendNotificationEmail(task.SendNotificationEmail{NotificationID: "n2", UserID: "u1"})
	if _, err := client.Enqueue(tk, asynq.ProcessIn(time.Hour)); err != nil {
		t.Fatal(err)
	}
	tk, _ = task.NewProcessTestmoImport(task.ProcessTestmoImport{JobID: "ck2", Mode: "import"})
	failed, err := client.Enqueue(tk)
	if err != nil {
		t.Fatal(err)
	}
	insp := asynq.NewInspector(opt)
	t.Cleanup(func() { insp.Close() })
	if err := insp.ArchiveTask(task.QueueTestmoImports, failed.ID); err != nil {
		t.Fatal(err)
	}
	startQueueWorker(t, opt, task.QueueNotifications, 5, false)
	startQueueWorker(t, opt, task.QueueForecast, 2, true)

	// notifications keeps its completed tasks for its retention: the
	// seeded one and the two above.
	want := map[string]map[string]string{
		task.QueueForecast:      {"status": "Active", "live": "2", "waiting": "0", "active": "1", "completed": "0"},
		task.QueueNotifications: {"status": "Idle", "live": "5", "waiting": "0", "active": "0", "completed": "3"},
		task.QueueEmails:        {"status": "Idle", "live": "—", "waiting": "1", "delayed": "1", "buttons": "pause clean"},
		task.QueueTestmoImports: {"status": "Idle", "waiting": "1", "failed": "1"},
		task.QueueReindex:       {"status": "Idle", "waiting": "1", "buttons": "pause clean"},
		task.QueueAuditLogs:     {"status": "Idle", "waiting": "1", "buttons": "pause clean"},
	}
	matches := func() bool {
		table()
		for q, fields := range want {
			r := row(q)
			for k, v := range fields {
				if r == nil || r[k] != v {
					return false
				}
			}
		}
		return true
	}
	testenv.Eventually(t, 25*time.Second, matches, "the page to refresh itself with the tasks and workers")

	// Pause: no confirmation; the badge turns at once.
	if err := chromedp.Do(ctx, chromedp.Click(chromedp.CSS(`tr[data-queue="elasticsearch-reindex"] button[data-action="pause"]`))); err != nil {
		t.Fatal(err)
	}
	testenv.Eventually(t, 10*time.Second, func() bool {
		table()
		r := row(task.QueueReindex)
		return r != nil && r["status"] == "Paused" && r["buttons"] == "resume clean"
	}, "the reindex queue to show paused")
	if qi, err := insp.GetQueueInfo(task.QueueReindex); err != nil || !qi.Paused {
		t.Fatalf("the page's pause did not pause: %+v %v", qi, err)
	}
	saveScreenshot(t, "job-queues-tasks.png", fullScreenshot(t, ctx))

	// Clean asks first: dismissed, nothing is deleted; accepted, the failed
	// task goes and the waiting one stays.
	cleanButton := chromedp.CSS(`tr[data-queue="testmo-imports"] button[data-action="clean"]`)
	answers <- false
	if err := chromedp.Do(ctx, chromedp.Click(cleanButton)); err != nil {
		t.Fatal(err)
	}
	if msg := <-dialogs; !strings.Contains(msg, "Clean testmo-imports?") || !strings.Contains(msg, "1 failed") {
		t.Errorf("confirmation dialog: %q", msg)
	}
	if qi, err := insp.GetQueueInfo(task.QueueTestmoImports); err != nil || qi.Archived != 1 {
		t.Fatalf("a dismissed clean deleted: %+v %v", qi, err)
	}
	answers <- true
	if err := chromedp.Do(ctx, chromedp.Click(cleanButton)); err != nil {
		t.Fatal(err)
	}
	<-dialogs
	testenv.Eventually(t, 10*time.Second, func() bool {
		table()
		r := row(task.QueueTestmoImports)
		return r != nil && r["failed"] == "0" && r["waiting"] == "1"
	}, "the clean to show")
	if qi, err := insp.GetQueueInfo(task.QueueTestmoImports); err != nil || qi.Archived != 0 || qi.Pending != 1 {
		t.Fatalf("after clean: %+v %v", qi, err)
	}
	text, err := chromedp.Run(ctx, chromedp.Text(chromedp.CSS("#error")))
	if err != nil || strings.TrimSpace(text) != "" {
		t.Errorf("the page shows an error: %q (%v)", text, err)
	}
	// Nothing was refused by the Content-Security-Policy, nothing threw.
	if errs := consoleErrors(); len(errs) > 0 {
		t.Errorf("browser console errors:\n%s", strings.Join(errs, "\n"))
	}
}

// watchConsole collects the page's uncaught exceptions and the browser's
// error messages (Content-Security-Policy refusals among them); the returned
// func lists them so far.
func watchConsole(t *testing.T, ctx context.Context) func() []string {
	t.Helper()
	var mu sync.Mutex
	var errs []string
	add := func(s string) {
		mu.Lock()
		errs = append(errs, s)
		mu.Unlock()
	}
	err := chromedp.Listen(ctx, func(ev any) {
		switch ev := ev.(type) {
		case *runtime.EventExceptionThrown:
			add("exception: " + ev.ExceptionDetails.Text)
		case *runtime.EventConsoleAPICalled:
			if ev.Type == runtime.ConsoleAPICalledTypeError {
				add(fmt.Sprintf("console.error (%d arguments)", len(ev.Args)))
			}
		case *cdplog.EventEntryAdded:
			if ev.Entry.Level == cdplog.EntryLevelError {
				add(fmt.Sprintf("%s: %s (%s)", ev.Entry.Source, ev.Entry.Text, ev.Entry.URL))
			}
		}
	})
	if err != nil {
		t.Fatal(err)
	}
	return func() []string {
		mu.Lock()
		defer mu.Unlock()
		return slices.Clone(errs)
	}
}

// startDashboard builds and starts the dashboard binary on Valkey url with
// an admin user, and returns its base URL once it serves /healthz.
func startDashboard(t *testing.T, url, user, password string, env ...string) string {
	t.Helper()
	bin := buildBinary(t)
	addr := freeAddr(t)
	hash, err := bcrypt.GenerateFromPassword([]byte(password), bcrypt.DefaultCost)
	if err != nil {
		t.Fatal(err)
	}
	cmd := exec.Command(bin)
	cmd.Env = append(append(os.Environ(),
		"VALKEY_URL="+url, "DASHBOARD_ADDR="+addr, "DASHBOARD_USER="+user,
		"DASHBOARD_PASSWORD_HASH="+string(hash), "LOG_FORMAT=text", "HTTP_ADDR="), env...)
	var logs bytes.Buffer
	cmd.Stdout, cmd.Stderr = &logs, &logs
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		_ = cmd.Process.Signal(os.Interrupt)
		_ = cmd.Wait()
		if t.Failed() {
			t.Logf("dashboard logs:\n%s", logs.String())
		}
	})
	base := "http://" + addr
	testenv.Eventually(t, 15*time.Second, func() bool {
		resp, err := http.Get(base + "/healthz")
		if err != nil {
			return false
		}
		resp.Body.Close()
		return resp.StatusCode == 200
	}, "the dashboard binary to serve /healthz")
	return base
}

// answerBrowser answers the page's basic-auth challenges with user and
// password, as a person would in the login dialog, and its JavaScript
// dialogs with the next value sent on answers (true accepts), reporting each
// dialog's message on the returned channel.
func answerBrowser(t *testing.T, ctx context.Context, user, password string) (dialogs <-chan string, answers chan<- bool) {
	t.Helper()
	messages := make(chan string, 8)
	decisions := make(chan bool, 8)
	// The listener must return at once: commands go in goroutines.
	err := chromedp.Listen(ctx, func(ev any) {
		switch ev := ev.(type) {
		case *fetch.EventAuthRequired:
			go func() {
				_, _ = chromedp.Call(ctx, fetch.ContinueWithAuth, fetch.ContinueWithAuthParams{
					RequestID: ev.RequestID,
					AuthChallengeResponse: &fetch.AuthChallengeResponse{
						Response: fetch.AuthChallengeResponseResponseProvideCredentials,
						Username: user, Password: password,
					},
				})
			}()
		case *fetch.EventRequestPaused:
			go func() {
				_, _ = chromedp.Call(ctx, fetch.ContinueRequest, fetch.ContinueRequestParams{RequestID: ev.RequestID})
			}()
		case *page.EventJavascriptDialogOpening:
			messages <- ev.Message
			go func() {
				accept := false
				select {
				case accept = <-decisions:
				case <-time.After(5 * time.Second):
				}
				_, _ = chromedp.Call(ctx, page.HandleJavaScriptDialog, page.HandleJavaScriptDialogParams{Accept: accept})
			}()
		}
	})
	if err != nil {
		t.Fatal(err)
	}
	handleAuth := true
	if _, err := chromedp.Call(ctx, fetch.Enable, fetch.EnableParams{HandleAuthRequests: &handleAuth}); err != nil {
		t.Fatal(err)
	}
	return messages, decisions
}

// startQueueWorker runs an asynq server of concurrency slots on queue, as a
// worker would; its tasks succeed, or with block run until the test ends.
func startQueueWorker(t *testing.T, opt asynq.RedisClientOpt, queue string, concurrency int, block bool) {
	t.Helper()
	srv := asynq.NewServer(opt, asynq.Config{Concurrency: concurrency, Queues: map[string]int{queue: 1}, LogLevel: asynq.FatalLevel})
	release := make(chan struct{})
	mux := asynq.NewServeMux()
	mux.HandleFunc(queue+":", func(ctx context.Context, _ *asynq.Task) error {
		if block {
			select {
			case <-release:
			case <-ctx.Done():
			}
		}
		return nil
	})
	if err := srv.Start(mux); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(srv.Shutdown)
	t.Cleanup(func() { close(release) }) // runs first: blocked tasks end
}

func fullScreenshot(t *testing.T, ctx context.Context) []byte {
	t.Helper()
	shot, err := chromedp.Run(ctx, chromedp.FullScreenshot(100))
	if err != nil {
		t.Fatal(err)
	}
	if _, err := png.Decode(bytes.NewReader(shot)); err != nil {
		t.Fatalf("screenshot is not a PNG: %v", err)
	}
	return shot
}
