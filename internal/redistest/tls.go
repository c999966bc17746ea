package redistest

import (
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/tls"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/pem"
	"math/big"
	"net"
	"net/url"
	"os"
	"path/filepath"
	"strconv"
	"testing"
	"time"
)

// Certs is a certificate authority made for one test, with a server certificate for
// 127.0.0.1 and localhost and a client certificate, both signed by it. The PEM files
// live in a temporary directory of the test.
type Certs struct {
	// CAFile, CertFile and KeyFile are the CA certificate and the server's
	// certificate and key, the files redis-server's --tls-ca-cert-file,
	// --tls-cert-file and --tls-key-file take.
	CAFile, CertFile, KeyFile string
	// ClientCertFile and ClientKeyFile are a client certificate and its key, for
	// servers that require one (--tls-auth-clients yes).
	ClientCertFile, ClientKeyFile string
	// Pool holds the CA certificate alone: a client that trusts it trusts the
	// server, and nothing else does.
	Pool *x509.CertPool
	// ClientCert is the client certificate with its key, for tls.Config.Certificates.
	ClientCert tls.Certificate
}

// NewCerts makes a self-signed ECDSA P-256 certificate authority valid for a day and
// signs with it a server certificate (SAN 127.0.0.1, ::1 and localhost) and a client
// certificate.
func NewCerts(t testing.TB) *Certs {
	t.Helper()
	dir := t.TempDir()
	now := time.Now()

	caKey := newKey(t)
	caTmpl := &x509.Certificate{
		SerialNumber:          serial(t),
		Subject:               pkix.Name{CommonName: "redistest CA"},
		NotBefore:             now.Add(-time.Hour),
		NotAfter:              now.Add(24 * time.Hour),
		KeyUsage:              x509.KeyUsageCertSign | x509.KeyUsageCRLSign,
		BasicConstraintsValid: true,
		IsCA:                  true,
	}
	caDER, err := x509.CreateCertificate(rand.Reader, caTmpl, caTmpl, &caKey.PublicKey, caKey)
	if err != nil {
		t.Fatalf("redistest: create CA certificate: %v", err)
	}
	ca, err := x509.ParseCertificate(caDER)
	if err != nil {
		t.Fatalf("redistest: parse CA certificate: %v", err)
	}

	c := &Certs{
		CAFile:         filepath.Join(dir, "ca.crt"),
		CertFile:       filepath.Join(dir, "redis.crt"),
		KeyFile:        filepath.Join(dir, "redis.key"),
		ClientCertFile: filepath.Join(dir, "client.crt"),
		ClientKeyFile:  filepath.Join(dir, "client.key"),
		Pool:           x509.NewCertPool(),
	}
	c.Pool.AddCert(ca)
	writePEM(t, c.CAFile, "CERTIFICATE", caDER)

	leaf := func(cn string, usage x509.ExtKeyUsage, certFile, keyFile string) tls.Certificate {
		key := newKey(t)
		tmpl := &x509.Certificate{
			SerialNumber: serial(t),
			Subject:      pkix.Name{CommonName: cn},
			NotBefore:    now.Add(-time.Hour),
			NotAfter:     now.Add(24 * time.Hour),
			KeyUsage:     x509.KeyUsageDigitalSignature,
			ExtKeyUsage:  []x509.ExtKeyUsage{usage},
		}
		if usage == x509.ExtKeyUsageServerAuth {
			tmpl.IPAddresses = []net.IP{net.IPv4(127, 0, 0, 1), net.IPv6loopback}
			tmpl.DNSNames = []string{"localhost"}
		}
		der, err := x509.CreateCertificate(rand.Reader, tmpl, ca, &key.PublicKey, caKey)
		if err != nil {
			t.Fatalf("redistest: create %s certificate: %v", cn, err)
		}
		keyDER, err := x509.MarshalECPrivateKey(key)
		if err != nil {
			t.Fatalf("redistest: marshal %s key: %v", cn, err)
		}
		writePEM(t, certFile, "CERTIFICATE", der)
		writePEM(t, keyFile, "EC PRIVATE KEY", keyDER)
		return tls.Certificate{Certificate: [][]byte{der}, PrivateKey: key}
	}
	leaf("127.0.0.1", x509.ExtKeyUsageServerAuth, c.CertFile, c.KeyFile)
	c.ClientCert = leaf("redistest client", x509.ExtKeyUsageClientAuth, c.ClientCertFile, c.ClientKeyFile)
	return c
}

func newKey(t testing.TB) *ecdsa.PrivateKey {
	t.Helper()
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		t.Fatalf("redistest: generate key: %v", err)
	}
	return key
}

func serial(t testing.TB) *big.Int {
	t.Helper()
	n, err := rand.Int(rand.Reader, new(big.Int).Lsh(big.NewInt(1), 127))
	if err != nil {
		t.Fatalf("redistest: serial number: %v", err)
	}
	return n
}

func writePEM(t testing.TB, path, typ string, der []byte) {
	t.Helper()
	if err := os.WriteFile(path, pem.EncodeToMemory(&pem.Block{Type: typ, Bytes: der}), 0o600); err != nil {
		t.Fatalf("redistest: write %s: %v", path, err)
	}
}

// ClientConfig returns a TLS client configuration that trusts the CA of c alone and
// presents no client certificate. Each call returns a new value.
func (c *Certs) ClientConfig() *tls.Config {
	return &tls.Config{RootCAs: c.Pool, MinVersion: tls.VersionTLS12}
}

// TLSServer is a redis-server started by [StartTLS]: it serves TLS on TLSPort and,
// for the helper's own admin commands ([Server.Do], [Server.Exec]), plain RESP on
// Port. A client under test should be given TLSAddr or TLSURL only.
type TLSServer struct {
	*Server
	tlsPort int
	certs   *Certs
}

// StartTLS starts a redis-server like [Start] that also serves TLS on a second free
// loopback port, with the server certificate of certs. It does not ask clients for a
// certificate; pass WithArgs("--tls-auth-clients", "yes") to require one signed by
// the CA.
//
// The server needs a redis-server built with TLS (Debian's and most distributions'
// are); otherwise it fails to start and the test fails with its log.
func StartTLS(t testing.TB, certs *Certs, opts ...Option) *TLSServer {
	t.Helper()
	port := freePort(t)
	tlsOpts := []Option{WithArgs(
		"--tls-port", strconv.Itoa(port),
		"--tls-cert-file", certs.CertFile,
		"--tls-key-file", certs.KeyFile,
		"--tls-ca-cert-file", certs.CAFile,
		"--tls-auth-clients", "no",
	)}
	return &TLSServer{Server: Start(t, append(tlsOpts, opts...)...), tlsPort: port, certs: certs}
}

// TLSPort returns the port on which the server speaks TLS.
func (s *TLSServer) TLSPort() int { return s.tlsPort }

// TLSAddr returns the server's TLS address, "127.0.0.1:port".
func (s *TLSServer) TLSAddr() string {
	return net.JoinHostPort("127.0.0.1", strconv.Itoa(s.tlsPort))
}

// TLSURL returns a rediss:// URL of the TLS port, with the password if the server has
// one.
func (s *TLSServer) TLSURL() string {
	u := url.URL{Scheme: "rediss", Host: s.TLSAddr()}
	if s.password != "" {
		u.User = url.UserPassword("", s.password)
	}
	return u.String()
}

// Certs returns the certificates the server was started with.
func (s *TLSServer) Certs() *Certs { return s.certs }
