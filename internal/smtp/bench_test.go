package smtp_test

import (
	"context"
	"testing"
	"time"

	"github.com/testplanit/tpi-workers/internal/smtp"
	"github.com/testplanit/tpi-workers/internal/testenv"
)

// BenchmarkEmailSend sends b.N messages through a private mailpit on
// loopback, over STARTTLS with AUTH PLAIN (what a real provider requires):
// "reuse" keeps the connection between messages, "fresh" opens one per
// message as the original did. The notls variants measure the same without
// TLS and authentication. Metric: emails/s.
func BenchmarkEmailSend(b *testing.B) {
	for _, mode := range []struct {
		name string
		tls  bool
	}{{"", true}, {"notls-", false}} {
		opts := testenv.MailpitOptions{}
		if mode.tls {
			opts.TLS = testenv.MailpitStartTLS
		}
		mp := testenv.StartMailpit(b, opts)
		for _, reuse := range []bool{true, false} {
			name := mode.name + "fresh"
			if reuse {
				name = mode.name + "reuse"
			}
			b.Run(name, func(b *testing.B) {
				cfg := smtp.Config{Host: mp.SMTPHost, Port: mp.SMTPPort, TLS: smtp.TLSNone, TLSConfig: mp.TLSConfig, Timeout: 10 * time.Second}
				if mode.tls {
					cfg.TLS, cfg.Auth, cfg.Username, cfg.Password = smtp.TLSStartTLS, smtp.AuthPlain, "bench", "secret"
				}
				if reuse {
					cfg.MaxIdle = 1
				}
				c, err := smtp.New(cfg)
				if err != nil {
					b.Fatal(err)
				}
				defer c.Close()
				ctx := context.Background()
				m := msg(1)
				m.MessageID = ""
				b.ResetTimer()
				start := time.Now()
				for range b.N {
					if err := c.Send(ctx, m); err != nil {
						b.Fatal(err)
					}
				}
				b.ReportMetric(float64(b.N)/time.Since(start).Seconds(), "emails/s")
			})
		}
	}
}
