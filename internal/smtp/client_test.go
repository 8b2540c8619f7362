package smtp_test

import (
	"context"
	"errors"
	"fmt"
	"os"
	"strings"
	"testing"
	"time"

	"github.com/testplanit/tpi-workers/internal/config"
	"github.com/testplanit/tpi-workers/internal/smtp"
	"github.com/testplanit/tpi-workers/internal/testenv"
)

func cfgFor(mp *testenv.Mailpit) smtp.Config {
	return smtp.Config{Host: mp.SMTPHost, Port: mp.SMTPPort, TLS: smtp.TLSNone, MaxIdle: 3, TLSConfig: mp.TLSConfig}
}

func msg(i int) smtp.Message {
	return smtp.Message{
		From:      `"TestPlanIt" <noreply@example.com>`,
		To:        fmt.Sprintf("user%d@example.com", i),
		Subject:   fmt.Sprintf("TestPlanIt: message %d é", i),
		MessageID: fmt.Sprintf("msg-%d@tpi.test", i),
		Headers:   []smtp.Header{{Name: "List-Unsubscribe", Value: "<https://app.example.com/en-US/users/profile/u1>"}},
		Text:      "hello text",
		HTML:      "<p>hello html</p>",
	}
}

func TestSendModesAndAuth(t *testing.T) {
	t.Parallel()
	cases := []struct {
		name string
		tls  testenv.MailpitTLS
		mode smtp.TLSMode
		auth smtp.AuthMechanism
	}{
		{"none/noauth", testenv.MailpitNoTLS, smtp.TLSNone, smtp.AuthNone},
		{"opportunistic/plain-over-clear", testenv.MailpitNoTLS, smtp.TLSOpportunistic, ""},
		{"starttls/plain", testenv.MailpitStartTLS, smtp.TLSStartTLS, smtp.AuthPlain},
		{"starttls/login", testenv.MailpitStartTLS, smtp.TLSStartTLS, smtp.AuthLogin},
		{"starttls/auto", testenv.MailpitStartTLS, smtp.TLSStartTLS, smtp.AuthAuto},
		{"opportunistic/upgrades", testenv.MailpitStartTLS, smtp.TLSOpportunistic, smtp.AuthPlain},
		{"implicit/plain", testenv.MailpitImplicit, smtp.TLSImplicit, smtp.AuthPlain},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			mp := testenv.StartMailpit(t, testenv.MailpitOptions{TLS: tc.tls})
			cfg := cfgFor(mp)
			cfg.TLS, cfg.Auth = tc.mode, tc.auth
			if tc.auth != "" && tc.auth != smtp.AuthNone {
				cfg.Username, cfg.Password = "user", "secret"
			}
			c, err := smtp.New(cfg)
			if err != nil {
				t.Fatal(err)
			}
			defer c.Close()
			for i := range 2 {
				if err := c.Send(context.Background(), msg(i)); err != nil {
					t.Fatalf("send %d: %v", i, err)
				}
			}
			got := mp.Messages(t)
			if len(got) != 2 {
				t.Fatalf("mailpit holds %d messages, want 2", len(got))
			}
			if st := c.Stats(); st.Dials != 1 || st.Reused != 1 {
				t.Errorf("stats %+v, want 1 dial and 1 reuse", st)
			}
			d := mp.Message(t, got[0].ID)
			if !strings.Contains(d.Text, "hello text") || !strings.Contains(d.HTML, "hello html") {
				t.Errorf("parts: text %q html %q", d.Text, d.HTML)
			}
			if h := mp.Headers(t, got[0].ID)["List-Unsubscribe"]; len(h) != 1 || h[0] != "<https://app.example.com/en-US/users/profile/u1>" {
				t.Errorf("List-Unsubscribe = %q", h)
			}
		})
	}
}

func TestStartTLSRequiredButNotOffered(t *testing.T) {
	t.Parallel()
	mp := testenv.StartMailpit(t, testenv.MailpitOptions{})
	cfg := cfgFor(mp)
	cfg.TLS = smtp.TLSStartTLS
	c, err := smtp.New(cfg)
	if err != nil {
		t.Fatal(err)
	}
	fds := func() int {
		ents, err := os.ReadDir("/proc/self/fd")
		if err != nil {
			t.Skip("no /proc/self/fd")
		}
		return len(ents)
	}
	before := fds()
	for range 20 {
		err = c.Send(context.Background(), msg(1))
		var se *smtp.Error
		if !errors.As(err, &se) || se.Permanent() || se.Stage != "connect" {
			t.Fatalf("err = %v, want a temporary connect error", err)
		}
	}
	// Each failed attempt closed its connection (other parallel tests may
	// hold a few descriptors meanwhile, not 20).
	if after := fds(); after-before >= 10 {
		t.Errorf("%d file descriptors before 20 failed connects, %d after: connections leak", before, after)
	}
}

func TestReplyClassification(t *testing.T) {
	t.Parallel()
	mp := testenv.StartMailpit(t, testenv.MailpitOptions{Chaos: true})
	c, err := smtp.New(cfgFor(mp))
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	ctx := context.Background()

	mp.SetChaos(t, testenv.MailpitChaos{Recipient: testenv.MailpitTrigger{ErrorCode: 451, Probability: 100}})
	err = c.Send(ctx, msg(1))
	var se *smtp.Error
	if !errors.As(err, &se) || se.Code != 451 || se.Permanent() {
		t.Fatalf("451: err = %v (%+v), want temporary 451", err, se)
	}
	mp.SetChaos(t, testenv.MailpitChaos{Recipient: testenv.MailpitTrigger{ErrorCode: 550, Probability: 100}})
	err = c.Send(ctx, msg(2))
	if !errors.As(err, &se) || se.Code != 550 || !se.Permanent() || se.Stage != "rcpt" {
		t.Fatalf("550: err = %v (%+v), want permanent 550 at rcpt", err, se)
	}
	mp.SetChaos(t, testenv.MailpitChaos{Sender: testenv.MailpitTrigger{ErrorCode: 554, Probability: 100}})
	err = c.Send(ctx, msg(3))
	if !errors.As(err, &se) || se.Code != 554 || !se.Permanent() || se.Stage != "mail" {
		t.Fatalf("554: err = %v (%+v), want permanent 554 at mail", err, se)
	}
	mp.SetChaos(t, testenv.MailpitChaos{})
	if err := c.Send(ctx, msg(4)); err != nil {
		t.Fatalf("after chaos: %v", err)
	}
	// Every failure discarded its connection: four dials, no reuse.
	if st := c.Stats(); st.Discarded != 3 || st.Dials != 4 {
		t.Errorf("stats %+v, want 3 discarded and 4 dials", st)
	}
	if n := len(mp.Messages(t)); n != 1 {
		t.Errorf("mailpit holds %d messages, want 1", n)
	}
}

func TestServerDownThenUp(t *testing.T) {
	t.Parallel()
	mp := testenv.StartMailpit(t, testenv.MailpitOptions{})
	c, err := smtp.New(cfgFor(mp))
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	ctx := context.Background()
	if err := c.Send(ctx, msg(1)); err != nil {
		t.Fatal(err)
	}
	mp.Stop()
	// The kept connection is dead; the send fails as temporary.
	err = c.Send(ctx, msg(2))
	var se *smtp.Error
	if !errors.As(err, &se) || se.Permanent() {
		t.Fatalf("down: err = %v, want temporary", err)
	}
	if err := c.Send(ctx, msg(3)); !errors.As(err, &se) || se.Permanent() || se.Stage != "connect" {
		t.Fatalf("down: err = %v, want temporary connect error", err)
	}
	mp.Start()
	if err := c.Send(ctx, msg(4)); err != nil {
		t.Fatalf("up again: %v", err)
	}
	if n := mp.Count(); n != 2 {
		t.Errorf("mailpit holds %d messages, want 2", n)
	}
}

func TestIdleConnectionProbedAndExpired(t *testing.T) {
	t.Parallel()
	mp := testenv.StartMailpit(t, testenv.MailpitOptions{})
	cfg := cfgFor(mp)
	cfg.CheckAfter = time.Nanosecond // probe with NOOP every time
	c, err := smtp.New(cfg)
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	ctx := context.Background()
	for i := range 3 {
		if err := c.Send(ctx, msg(i)); err != nil {
			t.Fatal(err)
		}
	}
	if st := c.Stats(); st.Dials != 1 || st.Reused != 2 {
		t.Errorf("stats %+v", st)
	}
	mp.Stop()
	mp.Start()
	// The probe notices the dead connection and dials again: no failure.
	if err := c.Send(ctx, msg(9)); err != nil {
		t.Fatalf("after restart: %v", err)
	}
	if st := c.Stats(); st.Dials != 2 {
		t.Errorf("stats %+v, want a second dial", st)
	}
}

func TestLoadConfig(t *testing.T) {
	t.Parallel()
	env := func(m map[string]string) *config.Env { return config.NewEnv(func(k string) string { return m[k] }) }
	cfg, err := smtp.LoadConfig(env(map[string]string{"EMAIL_SERVER_HOST": "smtp.example.com", "EMAIL_SERVER_PORT": "465", "EMAIL_SERVER_USER": "u", "EMAIL_SERVER_PASSWORD": "s3cret"}))
	if err != nil {
		t.Fatal(err)
	}
	if got := cfg.String(); got != "smtp smtp.example.com:465 tls=tls auth=auto user=u" {
		t.Errorf("String() = %q", got)
	}
	if strings.Contains(cfg.String(), "s3cret") {
		t.Error("password in String()")
	}
	for _, tc := range []struct {
		env  map[string]string
		want string
	}{
		{map[string]string{"EMAIL_SERVER_HOST": "h", "EMAIL_SERVER_TLS": "ssl"}, "config: EMAIL_SERVER_TLS"},
		{map[string]string{"EMAIL_SERVER_HOST": "h", "EMAIL_SERVER_AUTH": "ntlm", "EMAIL_SERVER_USER": "u"}, "config: EMAIL_SERVER_AUTH"},
		{map[string]string{"EMAIL_SERVER_HOST": "h", "EMAIL_SERVER_AUTH": "plain"}, "config: EMAIL_SERVER_USER"},
		{map[string]string{}, "config: EMAIL_SERVER_HOST"},
	} {
		e := env(tc.env)
		_, err := smtp.LoadConfig(e)
		if err == nil {
			err = e.Err()
		}
		if err == nil || !strings.HasPrefix(err.Error(), tc.want) {
			t.Errorf("%v: err = %v, want %s", tc.env, err, tc.want)
		}
	}
}
