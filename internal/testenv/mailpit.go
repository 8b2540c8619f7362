package testenv

import (
	"bytes"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/tls"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/json"
	"encoding/pem"
	"fmt"
	"go/build"
	"io"
	"math/big"
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"sync"
	"testing"
	"time"
)

// MailpitTLS selects how a test's mailpit encrypts SMTP.
type MailpitTLS string

// The mailpit TLS modes.
const (
	MailpitNoTLS    MailpitTLS = ""         // clear text only
	MailpitStartTLS MailpitTLS = "starttls" // STARTTLS offered and required
	MailpitImplicit MailpitTLS = "tls"      // SMTPS: TLS from the first byte
)

// MailpitOptions configure [StartMailpit]. The zero value is a clear-text
// server that accepts any (or no) authentication.
type MailpitOptions struct {
	TLS MailpitTLS
	// Chaos enables mailpit's fault injection ([Mailpit.SetChaos]).
	Chaos bool
}

// Mailpit is a private mailpit process (SMTP capture server with a REST API)
// for one test, on free loopback ports. It is stopped at cleanup.
type Mailpit struct {
	// SMTPHost and SMTPPort are where it accepts SMTP.
	SMTPHost string
	SMTPPort int
	// APIURL is the base of its REST API, e.g. http://127.0.0.1:41234.
	APIURL string
	// TLSConfig trusts the server's self-signed certificate (TLS modes only).
	TLSConfig *tls.Config

	t    testing.TB
	bin  string
	args []string
	mu   sync.Mutex
	cmd  *exec.Cmd
	done chan struct{}
	log  *bytes.Buffer
}

// MailpitBinary finds mailpit in PATH or in $(go env GOPATH)/bin.
func MailpitBinary() (string, error) {
	if p, err := exec.LookPath("mailpit"); err == nil {
		return p, nil
	}
	for _, dir := range filepath.SplitList(build.Default.GOPATH) {
		p := filepath.Join(dir, "bin", "mailpit")
		if fi, err := os.Stat(p); err == nil && !fi.IsDir() {
			return p, nil
		}
	}
	return "", fmt.Errorf("mailpit not found in PATH or $(go env GOPATH)/bin; install it with scripts/ci-services.sh (go install github.com/axllent/mailpit@v1.33.1)")
}

// StartMailpit starts a private mailpit and waits until its SMTP port and API
// answer. A missing binary fails the test (never skips).
func StartMailpit(t testing.TB, opts MailpitOptions) *Mailpit {
	t.Helper()
	bin, err := MailpitBinary()
	if err != nil {
		t.Fatalf("testenv: %v", err)
	}
	dir := t.TempDir()
	smtpPort, apiPort := freePort(t), freePort(t)
	m := &Mailpit{
		SMTPHost: "127.0.0.1", SMTPPort: smtpPort,
		APIURL: fmt.Sprintf("http://127.0.0.1:%d", apiPort),
		t:      t, bin: bin,
	}
	m.args = []string{
		"--smtp", fmt.Sprintf("127.0.0.1:%d", smtpPort),
		"--listen", fmt.Sprintf("127.0.0.1:%d", apiPort),
		"--database", filepath.Join(dbDir(t, dir), "mailpit.db"),
		"--disable-version-check", "--smtp-auth-accept-any",
		"--smtp-disable-rdns", "--max", "0", "--quiet",
	}
	if opts.Chaos {
		m.args = append(m.args, "--enable-chaos")
	}
	if opts.TLS != MailpitNoTLS {
		certFile, keyFile, pool := selfSignedCert(t, dir)
		m.TLSConfig = &tls.Config{RootCAs: pool, ServerName: "127.0.0.1", MinVersion: tls.VersionTLS12}
		m.args = append(m.args, "--smtp-tls-cert", certFile, "--smtp-tls-key", keyFile)
		if opts.TLS == MailpitStartTLS {
			m.args = append(m.args, "--smtp-require-starttls")
		} else {
			m.args = append(m.args, "--smtp-require-tls")
		}
	} else {
		m.args = append(m.args, "--smtp-auth-allow-insecure")
	}
	t.Cleanup(m.Stop)
	m.Start()
	return m
}

// Start (re)starts the process on the same ports and waits until it answers.
func (m *Mailpit) Start() {
	m.t.Helper()
	m.mu.Lock()
	defer m.mu.Unlock()
	if m.cmd != nil {
		return
	}
	m.log = &bytes.Buffer{}
	cmd := exec.Command(m.bin, m.args...)
	cmd.Stdout, cmd.Stderr = m.log, m.log
	if err := cmd.Start(); err != nil {
		m.t.Fatalf("testenv: start mailpit: %v", err)
	}
	done := make(chan struct{})
	go func() { _ = cmd.Wait(); close(done) }()
	m.cmd, m.done = cmd, done
	deadline := time.Now().Add(20 * time.Second)
	for {
		select {
		case <-done:
			m.cmd = nil
			m.t.Fatalf("testenv: mailpit exited at start: %s", m.log.String())
		default:
		}
		if m.ready() {
			return
		}
		if time.Now().After(deadline) {
			m.t.Fatalf("testenv: mailpit not ready after 20s: %s", m.log.String())
		}
		time.Sleep(20 * time.Millisecond)
	}
}

func (m *Mailpit) ready() bool {
	c, err := net.DialTimeout("tcp", net.JoinHostPort(m.SMTPHost, strconv.Itoa(m.SMTPPort)), time.Second)
	if err != nil {
		return false
	}
	c.Close()
	resp, err := http.Get(m.APIURL + "/api/v1/messages?limit=1")
	if err != nil {
		return false
	}
	resp.Body.Close()
	return resp.StatusCode == http.StatusOK
}

// Stop kills the process (the SMTP port then refuses connections) and
// waits for it to exit. Messages survive in its database for a restart.
func (m *Mailpit) Stop() {
	m.mu.Lock()
	defer m.mu.Unlock()
	if m.cmd == nil {
		return
	}
	_ = m.cmd.Process.Kill()
	<-m.done
	m.cmd = nil
}

// MailpitAddress is a mailbox in the API's answers.
type MailpitAddress struct {
	Name    string
	Address string
}

// MailpitMessage is a message summary from the API.
type MailpitMessage struct {
	ID        string
	MessageID string
	From      MailpitAddress
	To        []MailpitAddress
	Subject   string
}

// MailpitMessageDetail is one message with its parts.
type MailpitMessageDetail struct {
	MailpitMessage
	Text string
	HTML string
}

// Messages lists every captured message, newest first.
func (m *Mailpit) Messages(t testing.TB) []MailpitMessage {
	t.Helper()
	var out struct {
		Total    int
		Messages []MailpitMessage
	}
	m.api(t, http.MethodGet, "/api/v1/messages?limit=1000", nil, &out)
	return out.Messages
}

// Count returns the number of captured messages, or -1 when the API does not
// answer (the process is stopped).
func (m *Mailpit) Count() int {
	resp, err := http.Get(m.APIURL + "/api/v1/messages?limit=1")
	if err != nil {
		return -1
	}
	defer resp.Body.Close()
	var out struct{ Total int }
	if resp.StatusCode != http.StatusOK || json.NewDecoder(resp.Body).Decode(&out) != nil {
		return -1
	}
	return out.Total
}

// Message returns one message with its text and HTML parts.
func (m *Mailpit) Message(t testing.TB, id string) MailpitMessageDetail {
	t.Helper()
	var out MailpitMessageDetail
	m.api(t, http.MethodGet, "/api/v1/message/"+id, nil, &out)
	return out
}

// Headers returns one message's header fields.
func (m *Mailpit) Headers(t testing.TB, id string) map[string][]string {
	t.Helper()
	out := map[string][]string{}
	m.api(t, http.MethodGet, "/api/v1/message/"+id+"/headers", nil, &out)
	return out
}

// DeleteAll removes every captured message.
func (m *Mailpit) DeleteAll(t testing.TB) {
	t.Helper()
	m.api(t, http.MethodDelete, "/api/v1/messages", map[string]any{}, nil)
}

// MailpitTrigger makes mailpit answer code (400..599) with the given
// probability (0..100) at one SMTP stage.
type MailpitTrigger struct {
	ErrorCode   int
	Probability int
}

// MailpitChaos is the set of fault triggers ([MailpitOptions.Chaos] needed).
type MailpitChaos struct {
	Sender, Recipient, Authentication MailpitTrigger
}

// SetChaos installs fault triggers; the zero value removes them.
func (m *Mailpit) SetChaos(t testing.TB, c MailpitChaos) {
	t.Helper()
	fix := func(tr *MailpitTrigger, def int) {
		if tr.ErrorCode == 0 {
			tr.ErrorCode = def
		}
	}
	fix(&c.Sender, 451)
	fix(&c.Recipient, 451)
	fix(&c.Authentication, 535)
	m.api(t, http.MethodPut, "/api/v1/chaos", c, nil)
}

func (m *Mailpit) api(t testing.TB, method, path string, body, out any) {
	t.Helper()
	var rd io.Reader
	if body != nil {
		b, _ := json.Marshal(body)
		rd = bytes.NewReader(b)
	}
	req, err := http.NewRequest(method, m.APIURL+path, rd)
	if err != nil {
		t.Fatalf("testenv: mailpit %s %s: %v", method, path, err)
	}
	if body != nil {
		req.Header.Set("Content-Type", "application/json")
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatalf("testenv: mailpit %s %s: %v", method, path, err)
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	if resp.StatusCode/100 != 2 {
		t.Fatalf("testenv: mailpit %s %s: %s: %s", method, path, resp.Status, b)
	}
	if out != nil {
		if err := json.Unmarshal(b, out); err != nil {
			t.Fatalf("testenv: mailpit %s %s: decode: %v: %s", method, path, err, b)
		}
	}
}

// freePort asks the kernel for a free loopback TCP port.
func freePort(t testing.TB) int {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatalf("testenv: free port: %v", err)
	}
	defer ln.Close()
	return ln.Addr().(*net.TCPAddr).Port
}

// selfSignedCert writes a self-signed ECDSA certificate for 127.0.0.1 and
// localhost into dir and returns its files and a pool trusting it.
func selfSignedCert(t testing.TB, dir string) (certFile, keyFile string, pool *x509.CertPool) {
	t.Helper()
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	tmpl := &x509.Certificate{
		SerialNumber:          big.NewInt(1),
		Subject:               pkix.Name{CommonName: "tpi-test mailpit"},
		NotBefore:             time.Now().Add(-time.Hour),
		NotAfter:              time.Now().Add(24 * time.Hour),
		KeyUsage:              x509.KeyUsageDigitalSignature | x509.KeyUsageCertSign,
		ExtKeyUsage:           []x509.ExtKeyUsage{x509.ExtKeyUsageServerAuth},
		BasicConstraintsValid: true,
		IsCA:                  true,
		IPAddresses:           []net.IP{net.ParseIP("127.0.0.1")},
		DNSNames:              []string{"localhost"},
	}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, tmpl, &key.PublicKey, key)
	if err != nil {
		t.Fatal(err)
	}
	kb, err := x509.MarshalECPrivateKey(key)
	if err != nil {
		t.Fatal(err)
	}
	certFile, keyFile = filepath.Join(dir, "cert.pem"), filepath.Join(dir, "key.pem")
	if err := os.WriteFile(certFile, pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: der}), 0o600); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(keyFile, pem.EncodeToMemory(&pem.Block{Type: "EC PRIVATE KEY", Bytes: kb}), 0o600); err != nil {
		t.Fatal(err)
	}
	cert, _ := x509.ParseCertificate(der)
	pool = x509.NewCertPool()
	pool.AddCert(cert)
	return certFile, keyFile, pool
}

// dbDir keeps mailpit's database in memory (/dev/shm, removed at cleanup)
// when available, so that disk syncs do not dominate SMTP timings; dir
// otherwise.
func dbDir(t testing.TB, dir string) string {
	if fi, err := os.Stat("/dev/shm"); err == nil && fi.IsDir() {
		if d, err := os.MkdirTemp("/dev/shm", "tpi-mailpit-"); err == nil {
			t.Cleanup(func() { os.RemoveAll(d) })
			return d
		}
	}
	return dir
}
