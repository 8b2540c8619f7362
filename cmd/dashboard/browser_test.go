package main

import (
	"bytes"
	"context"
	"image/png"
	"log/slog"
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/chromedp/cdproto/fetch"
	"github.com/chromedp/chromedp"
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

// TestBrowserLogsInAndSeesTheSixQueues builds and starts the real dashboard
// binary, logs in with headless Chromium (answering the basic-auth challenge
// as a person would), and captures the queues page.
func TestBrowserLogsInAndSeesTheSixQueues(t *testing.T) {
	if _, err := os.Stat(chromium); err != nil {
		t.Fatalf("%s is missing: install Debian's chromium (scripts/ci-services.sh does): %v", chromium, err)
	}
	opt, url := testenv.Redis(t)
	seedQueues(t, opt)
	startFleet(t, opt)

	bin := buildBinary(t)
	addr := freeAddr(t)
	hash, err := bcrypt.GenerateFromPassword([]byte("correct horse"), bcrypt.MinCost)
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

// seedQueues puts a task in each of the six queues (asynqmon lists the
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
