package redistest

import (
	"net"
	"sync"
	"sync/atomic"
	"testing"
)

// Direction selects which way of a [Proxy]'s traffic [Proxy.BlackHole] drops.
type Direction uint8

const (
	// ToServer is the traffic from the clients to the server.
	ToServer Direction = 1 << iota
	// ToClient is the traffic from the server to the clients.
	ToClient
	// Both is the traffic in both directions.
	Both = ToServer | ToClient
)

// Proxy is an in-process TCP proxy in front of a server, on a free loopback port,
// that can black-hole traffic: drop it silently, with the TCP connections left open
// and no RST, as a network partition does. Closed when the test ends.
//
// Its methods are safe for concurrent use.
type Proxy struct {
	l      net.Listener
	target string
	drop   atomic.Uint32 // the Direction currently dropped

	mu    sync.Mutex
	conns map[net.Conn]struct{}
	wg    sync.WaitGroup
}

// StartProxy starts a Proxy that forwards every connection it accepts to target, a
// host:port such as [Server.Addr].
func StartProxy(t testing.TB, target string) *Proxy {
	t.Helper()
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatalf("redistest: proxy listen: %v", err)
	}
	p := &Proxy{l: l, target: target, conns: make(map[net.Conn]struct{})}
	p.wg.Add(1)
	go p.accept()
	t.Cleanup(p.Close)
	return p
}

// Addr returns the proxy's address, "127.0.0.1:port".
func (p *Proxy) Addr() string { return p.l.Addr().String() }

// URL returns a redis:// URL for the proxy.
func (p *Proxy) URL() string { return "redis://" + p.Addr() }

// BlackHole starts dropping the traffic of d, on the connections open and on those
// accepted later: the bytes are read and discarded, so that the sender sees them
// acknowledged and nothing ever arrives. [Proxy.Forward] ends it.
func (p *Proxy) BlackHole(d Direction) { p.drop.Store(uint32(d)) }

// Forward makes the proxy forward all traffic again. What was dropped stays lost.
func (p *Proxy) Forward() { p.drop.Store(0) }

// Conns returns the number of client connections open through the proxy.
func (p *Proxy) Conns() int {
	p.mu.Lock()
	defer p.mu.Unlock()
	return len(p.conns) / 2
}

// Close stops the proxy and closes every connection through it.
func (p *Proxy) Close() {
	_ = p.l.Close()
	p.mu.Lock()
	for c := range p.conns {
		_ = c.Close()
	}
	p.mu.Unlock()
	p.wg.Wait()
}

func (p *Proxy) accept() {
	defer p.wg.Done()
	for {
		client, err := p.l.Accept()
		if err != nil {
			return
		}
		server, err := net.Dial("tcp", p.target)
		if err != nil {
			_ = client.Close()
			continue
		}
		p.mu.Lock()
		p.conns[client] = struct{}{}
		p.conns[server] = struct{}{}
		p.mu.Unlock()
		p.wg.Add(2)
		go p.pipe(server, client, ToServer)
		go p.pipe(client, server, ToClient)
	}
}

// pipe copies from src to dst, dropping what it reads while d is black-holed. It
// closes both when src ends.
func (p *Proxy) pipe(dst, src net.Conn, d Direction) {
	defer p.wg.Done()
	buf := make([]byte, 32<<10)
	for {
		n, err := src.Read(buf)
		if n > 0 && Direction(p.drop.Load())&d == 0 {
			if _, werr := dst.Write(buf[:n]); werr != nil {
				err = werr
			}
		}
		if err != nil {
			// EOF, a reset or a closed peer: the connection is over either way.
			break
		}
	}
	_ = src.Close()
	_ = dst.Close()
	p.mu.Lock()
	delete(p.conns, src)
	delete(p.conns, dst)
	p.mu.Unlock()
}
