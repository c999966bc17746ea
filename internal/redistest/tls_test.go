package redistest

import (
	"bufio"
	"crypto/tls"
	"crypto/x509"
	"net"
	"strings"
	"testing"
	"time"
)

func TestNewCerts(t *testing.T) {
	t.Parallel()
	c := NewCerts(t)
	server, err := tls.LoadX509KeyPair(c.CertFile, c.KeyFile)
	if err != nil {
		t.Fatalf("server key pair: %v", err)
	}
	leaf, err := x509.ParseCertificate(server.Certificate[0])
	if err != nil {
		t.Fatal(err)
	}
	for _, name := range []string{"127.0.0.1", "::1", "localhost"} {
		if _, err := leaf.Verify(x509.VerifyOptions{Roots: c.Pool, DNSName: name}); err != nil {
			t.Errorf("server certificate for %s: %v", name, err)
		}
	}
	if _, err := tls.LoadX509KeyPair(c.ClientCertFile, c.ClientKeyFile); err != nil {
		t.Fatalf("client key pair: %v", err)
	}
	client, err := x509.ParseCertificate(c.ClientCert.Certificate[0])
	if err != nil {
		t.Fatal(err)
	}
	opts := x509.VerifyOptions{Roots: c.Pool, KeyUsages: []x509.ExtKeyUsage{x509.ExtKeyUsageClientAuth}}
	if _, err := client.Verify(opts); err != nil {
		t.Errorf("client certificate: %v", err)
	}
	// Another test's CA does not vouch for this server.
	if _, err := leaf.Verify(x509.VerifyOptions{Roots: NewCerts(t).Pool, DNSName: "127.0.0.1"}); err == nil {
		t.Error("a foreign CA verified the server certificate")
	}
}

// tlsPing sends PING over TLS to addr and returns the reply line.
func tlsPing(t *testing.T, addr string, cfg *tls.Config) (string, error) {
	t.Helper()
	d := tls.Dialer{NetDialer: &net.Dialer{Timeout: 2 * time.Second}, Config: cfg}
	conn, err := d.Dial("tcp", addr)
	if err != nil {
		return "", err
	}
	defer conn.Close()
	_ = conn.SetDeadline(time.Now().Add(2 * time.Second))
	if _, err := conn.Write([]byte("PING\r\n")); err != nil {
		return "", err
	}
	return bufio.NewReader(conn).ReadString('\n')
}

func TestStartTLS(t *testing.T) {
	t.Parallel()
	c := NewCerts(t)
	s := StartTLS(t, c, WithPassword("pw"))
	if got, want := s.TLSURL(), "rediss://:pw@"+s.TLSAddr(); got != want {
		t.Errorf("TLSURL() = %q, want %q", got, want)
	}
	if s.TLSPort() == s.Port() || s.Certs() != c {
		t.Errorf("TLSPort %d, Port %d, Certs %p (want %p)", s.TLSPort(), s.Port(), s.Certs(), c)
	}
	// The server asks for AUTH: the TLS session itself works.
	reply, err := tlsPing(t, s.TLSAddr(), c.ClientConfig())
	if err != nil || !strings.HasPrefix(reply, "-NOAUTH") {
		t.Errorf("PING over TLS = %q, %v; want a NOAUTH reply", reply, err)
	}
	if _, err := tlsPing(t, s.TLSAddr(), &tls.Config{MinVersion: tls.VersionTLS12}); err == nil {
		t.Error("a client trusting only the system roots completed the handshake")
	}
	// The plain port keeps serving the helper.
	if got := s.Do(t, "PING"); got != "PONG" {
		t.Errorf("PING on the plain port = %#v", got)
	}
	// Restart keeps the TLS port.
	s.Restart(t)
	if _, err := tlsPing(t, s.TLSAddr(), c.ClientConfig()); err != nil {
		t.Errorf("PING over TLS after Restart: %v", err)
	}
}

func TestStartTLSClientAuth(t *testing.T) {
	t.Parallel()
	c := NewCerts(t)
	s := StartTLS(t, c, WithArgs("--tls-auth-clients", "yes"))
	if reply, err := tlsPing(t, s.TLSAddr(), c.ClientConfig()); err == nil {
		t.Errorf("PING without a client certificate = %q, want a refused handshake", reply)
	}
	cfg := c.ClientConfig()
	cfg.Certificates = []tls.Certificate{c.ClientCert}
	if reply, err := tlsPing(t, s.TLSAddr(), cfg); err != nil || reply != "+PONG\r\n" {
		t.Errorf("PING with the client certificate = %q, %v", reply, err)
	}
}
