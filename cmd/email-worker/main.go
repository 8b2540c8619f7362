// Command email-worker consumes the emails queue:
// emails:send-notification-email and emails:send-digest-email, sent over
// SMTP with pooled connections (see internal/email, internal/smtp and the README's
// "Notifications and email" section).
package main

import (
	"context"
	"net/mail"
	_ "time/tzdata" // users' time zones in images without a zone database

	"github.com/hibiken/asynq"

	"github.com/testplanit/tpi-workers/internal/config"
	"github.com/testplanit/tpi-workers/internal/email"
	"github.com/testplanit/tpi-workers/internal/smtp"
	"github.com/testplanit/tpi-workers/internal/worker"
	"github.com/testplanit/tpi-workers/pkg/task"
)

func main() { worker.Main(run) }

func run(ctx context.Context, getenv func(string) string) error {
	env := config.NewEnv(getenv)
	cfg := worker.LoadConfig(env, "email-worker", task.QueueEmails, ":9102")
	from := env.Required("EMAIL_FROM")
	smtpCfg, smtpErr := smtp.LoadConfig(env)
	if err := env.Err(); err != nil {
		return err
	}
	if smtpErr != nil {
		return smtpErr
	}
	// The original expects a bare address and names the sender
	// "TestPlanIt"; `Name <address>` is accepted too and keeps its name.
	fromAddr, err := mail.ParseAddress(from)
	if err != nil {
		return &config.ConfigError{Var: "EMAIL_FROM", Reason: "not an email address: " + err.Error()}
	}
	// Links use the task's tenant's base URL; NEXTAUTH_URL (read by
	// LoadConfig) is the default.
	renderer, err := email.NewRenderer(cfg.Tenants.Default.BaseURL)
	if err != nil {
		return err
	}
	sc, err := smtp.New(smtpCfg)
	if err != nil {
		return err
	}
	defer sc.Close()
	h := &email.Handler{Sender: sender{sc}, Renderer: renderer, From: fromAddr.Address, FromName: fromAddr.Name}
	mux := asynq.NewServeMux()
	h.Register(mux)
	// SMTP is a dependency, not a start-up check: while it is down the
	// worker stays up, stops fetching, and the tasks it failed wait for it
	// without spending attempts.
	smtpDep := worker.Dependency{Name: "smtp", Ping: sc.Ping}
	return (&worker.App{Config: cfg, Mux: mux, Dependencies: []worker.Dependency{smtpDep}}).Run(ctx)
}

// sender adapts the SMTP client to email.Sender.
type sender struct{ c *smtp.Client }

func (s sender) Send(ctx context.Context, m email.Message) error {
	hs := make([]smtp.Header, len(m.Headers))
	for i, h := range m.Headers {
		hs[i] = smtp.Header{Name: h[0], Value: h[1]}
	}
	return s.c.Send(ctx, smtp.Message{From: m.From, To: m.To, Subject: m.Subject, MessageID: m.MessageID,
		Headers: hs, Text: m.Text, HTML: m.HTML, Date: m.Date})
}
