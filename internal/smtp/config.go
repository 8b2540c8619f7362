package smtp

import (
	"crypto/tls"
	"fmt"
	"strings"
	"time"

	"github.com/testplanit/tpi-workers/internal/config"
)

// TLSMode says how the connection to the SMTP server is encrypted.
type TLSMode string

// The TLS modes.
const (
	// TLSOpportunistic upgrades with STARTTLS when the server offers it and
	// sends in clear text otherwise: what the original (nodemailer's
	// default) did. The default except on port 465.
	TLSOpportunistic TLSMode = "opportunistic"
	// TLSStartTLS requires STARTTLS; a server that does not offer it fails
	// the connection.
	TLSStartTLS TLSMode = "starttls"
	// TLSImplicit opens the connection with TLS (SMTPS, usually port 465).
	// The default on port 465.
	TLSImplicit TLSMode = "tls"
	// TLSNone never encrypts (a local relay or a capture server).
	TLSNone TLSMode = "none"
)

// AuthMechanism is the SMTP AUTH mechanism.
type AuthMechanism string

// The authentication mechanisms.
const (
	// AuthAuto picks the strongest mechanism the server offers among
	// SCRAM-SHA-256, SCRAM-SHA-1, XOAUTH2, CRAM-MD5, PLAIN and LOGIN. The
	// default when a user name is set.
	AuthAuto AuthMechanism = "auto"
	// AuthNone sends no AUTH. The default without a user name.
	AuthNone AuthMechanism = "none"
	// AuthPlain is PLAIN (RFC 4616); only over TLS.
	AuthPlain AuthMechanism = "plain"
	// AuthLogin is LOGIN (Office 365, older Exchange); only over TLS.
	AuthLogin AuthMechanism = "login"
	// AuthCRAMMD5 is CRAM-MD5.
	AuthCRAMMD5 AuthMechanism = "cram-md5"
	// AuthXOAUTH2 is XOAUTH2 (Gmail, Microsoft 365): the password is the
	// OAuth 2.0 access token.
	AuthXOAUTH2 AuthMechanism = "xoauth2"
)

// Config configures a [Client]. [LoadConfig] reads it from the original's
// variables plus ours; [Config.withDefaults] fills the rest.
type Config struct {
	// Host is the SMTP server. EMAIL_SERVER_HOST, required.
	Host string
	// Port is the server port. EMAIL_SERVER_PORT, default 465 when TLS is
	// "tls", 587 otherwise.
	Port int
	// Username and Password authenticate. EMAIL_SERVER_USER and
	// EMAIL_SERVER_PASSWORD; empty user means no authentication.
	Username string
	Password string
	// TLS is the encryption mode. EMAIL_SERVER_TLS: opportunistic (default;
	// tls when the port is 465), starttls, tls or none.
	TLS TLSMode
	// Auth is the AUTH mechanism. EMAIL_SERVER_AUTH: auto (default with a
	// user), none (default without), plain, login, cram-md5 or xoauth2.
	Auth AuthMechanism
	// TLSConfig overrides the TLS client configuration (tests: a private
	// CA). Nil means the system roots and Host as server name.
	TLSConfig *tls.Config
	// Timeout bounds the dial and every SMTP command. EMAIL_SERVER_TIMEOUT,
	// default 30s.
	Timeout time.Duration
	// MaxIdle is how many connections are kept open between messages.
	// EMAIL_SMTP_MAX_IDLE, default 3 (the email worker's concurrency). 0
	// disables reuse: a new connection per message, like the original.
	MaxIdle int
	// IdleTimeout closes a kept connection unused for that long, before
	// the server does. EMAIL_SMTP_IDLE_TIMEOUT, default 30s.
	IdleTimeout time.Duration
	// CheckAfter is how long a connection may sit idle before it is probed
	// with NOOP when taken again. Default 2s.
	CheckAfter time.Duration
	// HELO is the name sent in EHLO. EMAIL_SERVER_HELO, default the host
	// name of the machine.
	HELO string
}

// LoadConfig reads the SMTP variables from env. Unreadable values are
// recorded in env (check env.Err()); a readable but invalid combination is
// returned as a *config.ConfigError.
func LoadConfig(env *config.Env) (Config, error) {
	c := Config{
		Host:        env.Required("EMAIL_SERVER_HOST"),
		Port:        env.Int("EMAIL_SERVER_PORT", 0, 0, 65535),
		Username:    env.String("EMAIL_SERVER_USER", ""),
		Password:    env.String("EMAIL_SERVER_PASSWORD", ""),
		TLS:         TLSMode(strings.ToLower(env.String("EMAIL_SERVER_TLS", ""))),
		Auth:        AuthMechanism(strings.ToLower(env.String("EMAIL_SERVER_AUTH", ""))),
		Timeout:     env.Duration("EMAIL_SERVER_TIMEOUT", 30*time.Second),
		MaxIdle:     env.Int("EMAIL_SMTP_MAX_IDLE", 3, 0, 100),
		IdleTimeout: env.Duration("EMAIL_SMTP_IDLE_TIMEOUT", 30*time.Second),
		HELO:        env.String("EMAIL_SERVER_HELO", ""),
	}
	return c, c.Validate()
}

// Validate checks the TLS mode and the auth mechanism; errors are
// *config.ConfigError naming the variable.
func (c Config) Validate() error {
	switch c.TLS {
	case "", TLSOpportunistic, TLSStartTLS, TLSImplicit, TLSNone:
	default:
		return &config.ConfigError{Var: "EMAIL_SERVER_TLS", Reason: fmt.Sprintf("%q is not opportunistic, starttls, tls or none", string(c.TLS))}
	}
	switch c.Auth {
	case "", AuthAuto, AuthNone, AuthPlain, AuthLogin, AuthCRAMMD5, AuthXOAUTH2:
	default:
		return &config.ConfigError{Var: "EMAIL_SERVER_AUTH", Reason: fmt.Sprintf("%q is not auto, none, plain, login, cram-md5 or xoauth2", string(c.Auth))}
	}
	if c.Host == "" {
		return &config.ConfigError{Var: "EMAIL_SERVER_HOST", Reason: "required"}
	}
	if c.Auth != "" && c.Auth != AuthNone && c.Username == "" {
		return &config.ConfigError{Var: "EMAIL_SERVER_USER", Reason: fmt.Sprintf("required with EMAIL_SERVER_AUTH=%s", c.Auth)}
	}
	return nil
}

// withDefaults returns c with every unset field at its default.
func (c Config) withDefaults() Config {
	if c.TLS == "" {
		c.TLS = TLSOpportunistic
		if c.Port == 465 {
			c.TLS = TLSImplicit
		}
	}
	if c.Port == 0 {
		c.Port = 587
		if c.TLS == TLSImplicit {
			c.Port = 465
		}
	}
	if c.Auth == "" {
		c.Auth = AuthNone
		if c.Username != "" {
			c.Auth = AuthAuto
		}
	}
	if c.Timeout <= 0 {
		c.Timeout = 30 * time.Second
	}
	if c.MaxIdle < 0 {
		c.MaxIdle = 0
	}
	if c.IdleTimeout <= 0 {
		c.IdleTimeout = 30 * time.Second
	}
	if c.CheckAfter <= 0 {
		c.CheckAfter = 2 * time.Second
	}
	return c
}

// String describes the configuration without the password, for logs and
// error messages.
func (c Config) String() string {
	c = c.withDefaults()
	user := c.Username
	if user == "" {
		user = "(none)"
	}
	return fmt.Sprintf("smtp %s:%d tls=%s auth=%s user=%s", c.Host, c.Port, c.TLS, c.Auth, user)
}
