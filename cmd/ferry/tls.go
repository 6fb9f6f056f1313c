package main

import (
	"context"
	"crypto/tls"
	"crypto/x509"
	"errors"
	"fmt"
	"log/slog"
	"os"
	"sync/atomic"
)

// TLSConfig is the top-level `tls` section: HTTPS on `listen`, and
// optionally client certificates (mutual TLS).
type TLSConfig struct {
	// CertFile and KeyFile are the server's certificate (chain) and key,
	// PEM, relative to the config file. Both or neither.
	CertFile string `yaml:"cert_file"`
	KeyFile  string `yaml:"key_file"`
	// MinVersion is "1.2" (the default) or "1.3".
	MinVersion string `yaml:"min_version"`
	// ClientCAFile holds the CAs that sign client certificates (PEM).
	ClientCAFile string `yaml:"client_ca_file"`
	// ClientAuth is none (the default), verify_if_given or require.
	ClientAuth string `yaml:"client_auth"`
}

// enabled reports whether the section turns HTTPS on.
func (c *TLSConfig) enabled() bool { return c != nil && (c.CertFile != "" || c.KeyFile != "") }

// resolved returns c with its files relative to the config's folder.
func (c TLSConfig) resolved(resolve func(string) string) TLSConfig {
	c.CertFile, c.KeyFile, c.ClientCAFile = resolve(c.CertFile), resolve(c.KeyFile), resolve(c.ClientCAFile)
	return c
}

// build loads the files and returns the server's tls.Config: the key
// must match the certificate, the CA file must hold certificates.
// Errors name the field.
func (c TLSConfig) build() (*tls.Config, error) {
	var errs []error
	cfg := &tls.Config{MinVersion: tls.VersionTLS12}
	switch c.MinVersion {
	case "", "1.2":
	case "1.3":
		cfg.MinVersion = tls.VersionTLS13
	default:
		errs = append(errs, fmt.Errorf("tls.min_version: must be 1.2 or 1.3, not %q", c.MinVersion))
	}
	switch {
	case c.CertFile == "":
		errs = append(errs, errors.New("tls.cert_file: required with tls.key_file"))
	case c.KeyFile == "":
		errs = append(errs, errors.New("tls.key_file: required with tls.cert_file"))
	default:
		cert, err := tls.LoadX509KeyPair(c.CertFile, c.KeyFile)
		if err != nil {
			errs = append(errs, fmt.Errorf("tls.cert_file/key_file: %w", err))
		} else {
			cfg.Certificates = []tls.Certificate{cert}
		}
	}
	switch c.ClientAuth {
	case "", "none":
		cfg.ClientAuth = tls.NoClientCert
	case "verify_if_given":
		// The handshake asks for a certificate and takes any; ingress
		// verifies it (identity.CertVerifier) and answers a bad one 401,
		// which a client can read, rather than failing the handshake.
		cfg.ClientAuth = tls.RequestClientCert
	case "require":
		cfg.ClientAuth = tls.RequireAndVerifyClientCert
	default:
		errs = append(errs, fmt.Errorf("tls.client_auth: must be none, verify_if_given or require, not %q", c.ClientAuth))
	}
	if cfg.ClientAuth != tls.NoClientCert || c.ClientCAFile != "" {
		if c.ClientCAFile == "" {
			errs = append(errs, errors.New("tls.client_ca_file: required to verify client certificates"))
		} else if pem, err := os.ReadFile(c.ClientCAFile); err != nil {
			errs = append(errs, fmt.Errorf("tls.client_ca_file: %w", err))
		} else {
			pool := x509.NewCertPool()
			if !pool.AppendCertsFromPEM(pem) {
				errs = append(errs, fmt.Errorf("tls.client_ca_file: %s holds no PEM certificate", c.ClientCAFile))
			}
			cfg.ClientCAs = pool
		}
	}
	if err := errors.Join(errs...); err != nil {
		return nil, err
	}
	return cfg, nil
}

// tlsFiles serves the TLS section's certificate and client CAs from
// memory, and re-reads the files on reload (SIGHUP): rotation without a
// restart. A reload that fails keeps what was loaded before.
type tlsFiles struct {
	cfg  TLSConfig
	base *tls.Config
	cur  atomic.Pointer[tls.Config] // base with the current certificate and CAs
}

// newTLSFiles loads the files once; errors name the field.
func newTLSFiles(c TLSConfig) (*tlsFiles, error) {
	base, err := c.build()
	if err != nil {
		return nil, err
	}
	f := &tlsFiles{cfg: c, base: base}
	f.cur.Store(base)
	return f, nil
}

// reload re-reads the files.
func (f *tlsFiles) reload() error {
	next, err := f.cfg.build()
	if err != nil {
		return err
	}
	f.cur.Store(next)
	return nil
}

// verifiesInHTTP reports whether client certificates are verified per
// request rather than in the handshake (verify_if_given).
func (f *tlsFiles) verifiesInHTTP() bool { return f.base.ClientAuth == tls.RequestClientCert }

// clientCAs is the pool of client CAs as last loaded.
func (f *tlsFiles) clientCAs() *x509.CertPool { return f.cur.Load().ClientCAs }

// config is the listener's tls.Config: every handshake uses the files as
// last loaded.
func (f *tlsFiles) config() *tls.Config {
	return &tls.Config{
		MinVersion: f.base.MinVersion,
		GetConfigForClient: func(*tls.ClientHelloInfo) (*tls.Config, error) {
			return f.cur.Load(), nil
		},
	}
}

// watch reloads the files on every SIGHUP until ctx ends, logging each
// outcome.
func (f *tlsFiles) watch(ctx context.Context, log *slog.Logger) {
	onSIGHUP(ctx, func() {
		if err := f.reload(); err != nil {
			log.Error("SIGHUP: the TLS files did not load; keeping the previous ones", "err", err)
			return
		}
		log.Info("SIGHUP: TLS certificate and client CAs reloaded", "cert_file", f.cfg.CertFile)
	})
}
