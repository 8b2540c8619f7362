// Command email-worker consumes the emails queue:
// emails:send-notification-email and emails:send-digest-email, sent over
// SMTP with pooled connections (see internal/email, internal/smtp and the README's
// "Notifications and email" section).
package main

import (
	"context"
	"net/mail"
	_ "time/tzdata" // users' time zones in images without a zone database

	"github.com/testplanit/tpi-workers/internal/config"

	"github.com/hibiken/asynq"

	"github.com/testplanit/tpi-workers/internal/email"
	"github.com/testplanit/tpi-workers/internal/postgres"
	"github.com/testplanit/tpi-workers/internal/smtp"
	"github.com/testplanit/tpi-workers/internal/worker"
	"github.com/testplanit/tpi-workers/pkg/task"
)

func main() { worker.Main(run) }

func run(ctx context.Context, getenv func(string) string) error {
	env := config.NewEnv(getenv)
	cfg := worker.LoadConfig(env, "email-worker", task.QueueEmails, ":9102")
	dbURL := env.Required("DATABASE_URL")
	from := env.Required("EMAIL_FROM")
	appURL := env.String("NEXTAUTH_URL", "http://localhost:3000")
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
	renderer, err := email.NewRenderer(appURL)
	if err != nil {
		return err
	}
	sc, err := smtp.New(smtpCfg)
	if err != nil {
		return err
	}
	defer sc.Close()
	db, err := postgres.Open(ctx, dbURL)
	if err != nil {
		return err
	}
	defer db.Close()
	h := &email.Handler{DB: db, Sender: sender{sc}, Renderer: renderer, From: fromAddr.Address, FromName: fromAddr.Name}
	mux := asynq.NewServeMux()
	h.Register(mux)
	// SMTP is not a start-up check: an SMTP outage delays email (the tasks
	// retry) but must not keep the worker down.
	app := &worker.App{Config: cfg, Mux: mux, Checks: []worker.Check{{Name: "postgres", Ping: db.Ping}}}
	return app.Run(ctx)
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
