package smtp

import (
	"context"
	"crypto/tls"
	"errors"
	"fmt"
	"net"
	"sync"
	"time"

	mail "github.com/wneessen/go-mail"
	gsmtp "github.com/wneessen/go-mail/smtp"
)

// Message is one email: a plain-text part and an HTML alternative.
type Message struct {
	// From is the envelope and header sender, e.g. `"TestPlanIt" <noreply@example.com>`.
	From string
	// To is the single recipient's address.
	To string
	// Subject is the subject line (encoded as needed).
	Subject string
	// MessageID is the Message-ID without angle brackets; empty lets the
	// client generate one. A deterministic value lets mail clients drop a
	// duplicate.
	MessageID string
	// Headers are extra header fields, e.g. List-Unsubscribe, in order.
	Headers []Header
	// Text is the text/plain part; HTML, if set, the text/html alternative.
	Text string
	HTML string
	// Date is the Date header; zero means now.
	Date time.Time
}

// Header is one extra header field.
type Header struct{ Name, Value string }

// Error is a failed SMTP exchange for one message.
type Error struct {
	// Code is the SMTP reply code (e.g. 451, 550), 0 when there was none
	// (connection refused, timeout, TLS failure).
	Code int
	// Stage says where it failed: "connect", "mail", "rcpt", "data", ...
	Stage string
	Err   error
}

func (e *Error) Error() string {
	if e.Code != 0 {
		return fmt.Sprintf("smtp %s: %d: %v", e.Stage, e.Code, e.Err)
	}
	return fmt.Sprintf("smtp %s: %v", e.Stage, e.Err)
}

func (e *Error) Unwrap() error { return e.Err }

// Permanent reports whether retrying the same message cannot succeed: the
// server answered 5xx to this message's sender, recipient or content. 4xx
// replies, failures without a reply, and 5xx replies while connecting
// (EHLO, STARTTLS, AUTH: a configuration problem that an operator fixes
// while the message waits) are temporary.
func (e *Error) Permanent() bool {
	switch e.Stage {
	case "mail", "rcpt", "data", "message":
		return e.Code >= 500 && e.Code < 600 || e.Stage == "message"
	}
	return false
}

// Client sends messages through one SMTP server, reusing connections. It is
// safe for concurrent use; each concurrent Send uses its own connection.
type Client struct {
	cfg Config
	mc  *mail.Client
	now func() time.Time

	mu     sync.Mutex
	idle   []*conn // most recently used last
	closed bool

	stats Stats
}

// Stats counts connections, for tests and benchmarks.
type Stats struct {
	Dials, Reused, Discarded int64
}

type conn struct {
	sc       *gsmtp.Client
	lastUsed time.Time
}

// New returns a client for cfg. It does not connect: the first Send does.
func New(cfg Config) (*Client, error) {
	if err := cfg.Validate(); err != nil {
		return nil, err
	}
	cfg = cfg.withDefaults()
	opts := []mail.Option{
		mail.WithPort(cfg.Port),
		mail.WithTimeout(cfg.Timeout),
		// After a successful DATA the transaction is over: no RSET needed.
		// Liveness is probed by us, only after an idle period.
		mail.WithoutRset(),
		mail.WithoutNoop(),
	}
	tc := cfg.TLSConfig
	if tc == nil {
		tc = &tls.Config{ServerName: cfg.Host, MinVersion: tls.VersionTLS12}
	}
	opts = append(opts, mail.WithTLSConfig(tc))
	switch cfg.TLS {
	case TLSImplicit:
		opts = append(opts, mail.WithSSL())
	case TLSStartTLS:
		opts = append(opts, mail.WithTLSPolicy(mail.TLSMandatory))
	case TLSOpportunistic:
		opts = append(opts, mail.WithTLSPolicy(mail.TLSOpportunistic))
	case TLSNone:
		opts = append(opts, mail.WithTLSPolicy(mail.NoTLS))
	}
	if cfg.HELO != "" {
		opts = append(opts, mail.WithHELO(cfg.HELO))
	}
	if cfg.Auth != AuthNone {
		opts = append(opts, mail.WithUsername(cfg.Username), mail.WithPassword(cfg.Password))
		switch cfg.Auth {
		case AuthAuto:
			opts = append(opts, mail.WithSMTPAuth(mail.SMTPAuthAutoDiscover))
		case AuthPlain:
			opts = append(opts, mail.WithSMTPAuth(mail.SMTPAuthPlain))
		case AuthLogin:
			opts = append(opts, mail.WithSMTPAuth(mail.SMTPAuthLogin))
		case AuthCRAMMD5:
			opts = append(opts, mail.WithSMTPAuth(mail.SMTPAuthCramMD5))
		case AuthXOAUTH2:
			opts = append(opts, mail.WithSMTPAuth(mail.SMTPAuthXOAUTH2))
		}
	}
	if cfg.TLS != TLSImplicit {
		// Our own dialer, so that a connection whose EHLO, STARTTLS or AUTH
		// fails is closed at once (go-mail returns no client then). Implicit
		// TLS keeps go-mail's dialer, which knows the session is encrypted.
		opts = append(opts, mail.WithDialContextFunc(trackingDial))
	}
	mc, err := mail.NewClient(cfg.Host, opts...)
	if err != nil {
		return nil, fmt.Errorf("smtp: %s: %w", cfg, err)
	}
	return &Client{cfg: cfg, mc: mc, now: time.Now}, nil
}

// Config returns the client's configuration with defaults applied.
func (c *Client) Config() Config { return c.cfg }

// Stats returns the connection counters.
func (c *Client) Stats() Stats {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.stats
}

// Send delivers m over a pooled connection (or a new one). Any failure
// closes the connection used; the error is an [*Error].
func (c *Client) Send(ctx context.Context, m Message) error {
	msg, err := c.build(m)
	if err != nil {
		return &Error{Stage: "message", Err: err}
	}
	cn, err := c.get(ctx)
	if err != nil {
		return err
	}
	if err := ctx.Err(); err != nil {
		c.put(cn)
		return &Error{Stage: "send", Err: err}
	}
	if err := c.mc.SendWithSMTPClient(cn.sc, msg); err != nil {
		c.discard(cn)
		return classify(err)
	}
	c.put(cn)
	return nil
}

// Ping dials the server, says EHLO, negotiates TLS and authenticates, then
// keeps the connection for the next Send. Its error names the configuration.
func (c *Client) Ping(ctx context.Context) error {
	cn, err := c.get(ctx)
	if err != nil {
		return fmt.Errorf("%s: %w", c.cfg, err)
	}
	c.put(cn)
	return nil
}

// Close closes every idle connection. Sends after Close dial again but keep
// nothing.
func (c *Client) Close() error {
	c.mu.Lock()
	idle := c.idle
	c.idle, c.closed = nil, true
	c.mu.Unlock()
	var errs []error
	for _, cn := range idle {
		errs = append(errs, c.mc.CloseWithSMTPClient(cn.sc))
	}
	return errors.Join(errs...)
}

func (c *Client) build(m Message) (*mail.Msg, error) {
	msg := mail.NewMsg()
	if err := msg.From(m.From); err != nil {
		return nil, fmt.Errorf("from: %w", err)
	}
	if err := msg.To(m.To); err != nil {
		return nil, fmt.Errorf("to: %w", err)
	}
	msg.Subject(m.Subject)
	if m.MessageID != "" {
		msg.SetMessageIDWithValue(m.MessageID)
	} else {
		msg.SetMessageID()
	}
	if m.Date.IsZero() {
		msg.SetDate()
	} else {
		msg.SetDateWithValue(m.Date)
	}
	for _, h := range m.Headers {
		msg.SetGenHeaderPreformatted(mail.Header(h.Name), h.Value)
	}
	msg.SetBodyString(mail.TypeTextPlain, m.Text)
	if m.HTML != "" {
		msg.AddAlternativeString(mail.TypeTextHTML, m.HTML)
	}
	return msg, nil
}

// get returns an idle connection still alive, or a new one.
func (c *Client) get(ctx context.Context) (*conn, error) {
	now := c.now()
	for {
		c.mu.Lock()
		n := len(c.idle)
		if n == 0 {
			c.mu.Unlock()
			break
		}
		cn := c.idle[n-1]
		c.idle = c.idle[:n-1]
		c.mu.Unlock()
		if now.Sub(cn.lastUsed) > c.cfg.IdleTimeout {
			c.discard(cn)
			continue
		}
		if now.Sub(cn.lastUsed) > c.cfg.CheckAfter {
			if err := cn.sc.Noop(); err != nil {
				c.discard(cn)
				continue
			}
		}
		c.mu.Lock()
		c.stats.Reused++
		c.mu.Unlock()
		return cn, nil
	}
	var raw net.Conn
	sc, err := c.mc.DialToSMTPClientWithContext(context.WithValue(ctx, rawConnKey{}, &raw))
	if err != nil {
		if raw != nil {
			_ = raw.Close()
		}
		return nil, classifyStage("connect", err)
	}
	c.mu.Lock()
	c.stats.Dials++
	c.mu.Unlock()
	return &conn{sc: sc, lastUsed: now}, nil
}

// rawConnKey carries, in the dial context, where trackingDial records the
// TCP connection it opened.
type rawConnKey struct{}

func trackingDial(ctx context.Context, network, addr string) (net.Conn, error) {
	var d net.Dialer
	conn, err := d.DialContext(ctx, network, addr)
	if err == nil {
		if p, ok := ctx.Value(rawConnKey{}).(*net.Conn); ok {
			*p = conn
		}
	}
	return conn, err
}

// put keeps cn for reuse, or closes it when the pool is full or reuse is off.
func (c *Client) put(cn *conn) {
	cn.lastUsed = c.now()
	c.mu.Lock()
	if !c.closed && len(c.idle) < c.cfg.MaxIdle {
		c.idle = append(c.idle, cn)
		c.mu.Unlock()
		return
	}
	c.mu.Unlock()
	_ = c.mc.CloseWithSMTPClient(cn.sc)
}

// discard closes cn after a failure without waiting for the server.
func (c *Client) discard(cn *conn) {
	c.mu.Lock()
	c.stats.Discarded++
	c.mu.Unlock()
	_ = cn.sc.Close()
}

// classify turns a go-mail error into an *Error with the SMTP reply code.
func classify(err error) error {
	var se *mail.SendError
	if errors.As(err, &se) {
		stage := "send"
		switch se.Reason {
		case mail.ErrSMTPMailFrom:
			stage = "mail"
		case mail.ErrSMTPRcptTo:
			stage = "rcpt"
		case mail.ErrSMTPData, mail.ErrSMTPDataClose, mail.ErrWriteContent:
			stage = "data"
		case mail.ErrConnCheck:
			stage = "connection"
		}
		return &Error{Code: se.ErrorCode(), Stage: stage, Err: err}
	}
	return classifyStage("send", err)
}

func classifyStage(stage string, err error) error {
	code := 0
	var ne net.Error
	if !errors.As(err, &ne) {
		code = replyCode(err)
	}
	return &Error{Code: code, Stage: stage, Err: err}
}

// replyCode extracts a leading SMTP reply code ("535 5.7.8 ...") from err's
// message, or 0.
func replyCode(err error) int {
	s := err.Error()
	for len(s) > 0 {
		if len(s) >= 3 && s[0] >= '2' && s[0] <= '5' && isDigit(s[1]) && isDigit(s[2]) && (len(s) == 3 || s[3] == ' ' || s[3] == '-') {
			return int(s[0]-'0')*100 + int(s[1]-'0')*10 + int(s[2]-'0')
		}
		// Look after the last ": " separator go-mail puts before the reply.
		i := indexColon(s)
		if i < 0 {
			return 0
		}
		s = s[i+2:]
	}
	return 0
}

func isDigit(b byte) bool { return b >= '0' && b <= '9' }

func indexColon(s string) int {
	for i := 0; i+1 < len(s); i++ {
		if s[i] == ':' && s[i+1] == ' ' {
			return i
		}
	}
	return -1
}
