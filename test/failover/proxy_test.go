package failover

import (
	"net"
	"sync"
	"testing"
)

// linkProxy carries the replication links between the replicas and the
// primary, so that the test can hold them: while frozen, nothing is
// forwarded in either direction (the replicas receive no writes, the
// primary no acknowledgements), as in a network partition between them.
// The replicas' sockets stay open, so they still report their link up.
type linkProxy struct {
	target string
	ln     net.Listener

	mu     sync.Mutex
	cond   *sync.Cond
	frozen bool
	closed bool
	conns  []net.Conn
}

func startLinkProxy(t *testing.T, target string) (*linkProxy, int) {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	p := &linkProxy{target: target, ln: ln}
	p.cond = sync.NewCond(&p.mu)
	go p.accept()
	t.Cleanup(p.cut)
	return p, ln.Addr().(*net.TCPAddr).Port
}

func (p *linkProxy) accept() {
	for {
		c, err := p.ln.Accept()
		if err != nil {
			return
		}
		up, err := net.Dial("tcp", p.target)
		if err != nil {
			c.Close()
			continue
		}
		p.mu.Lock()
		if p.closed {
			p.mu.Unlock()
			c.Close()
			up.Close()
			return
		}
		p.conns = append(p.conns, c, up)
		p.mu.Unlock()
		go p.pipe(c, up)
		go p.pipe(up, c)
	}
}

// pipe copies src to dst, holding each chunk while the proxy is frozen; a
// chunk held when the proxy is cut is dropped.
func (p *linkProxy) pipe(dst, src net.Conn) {
	defer dst.Close()
	defer src.Close()
	buf := make([]byte, 32<<10)
	for {
		n, err := src.Read(buf)
		if n > 0 {
			if !p.pass() {
				return
			}
			if _, werr := dst.Write(buf[:n]); werr != nil {
				return
			}
		}
		if err != nil {
			return
		}
	}
}

// pass waits while the proxy is frozen; false once it is cut.
func (p *linkProxy) pass() bool {
	p.mu.Lock()
	defer p.mu.Unlock()
	for p.frozen && !p.closed {
		p.cond.Wait()
	}
	return !p.closed
}

// freeze holds the links from now on.
func (p *linkProxy) freeze() {
	p.mu.Lock()
	p.frozen = true
	p.mu.Unlock()
}

// cut closes the links and the listener, dropping what was held: the
// replicas see their link go down and cannot reconnect through the proxy.
func (p *linkProxy) cut() {
	p.mu.Lock()
	defer p.mu.Unlock()
	if p.closed {
		return
	}
	p.closed = true
	p.ln.Close()
	for _, c := range p.conns {
		c.Close()
	}
	p.cond.Broadcast()
}
