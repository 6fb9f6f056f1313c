package ingress

import (
	"errors"
	"fmt"
	"strings"
	"time"

	"github.com/ferry-gw/ferry/ingress/clientaddr"
)

// Config is the `server` section of ferry.yaml: HTTP timeouts and shutdown.
type Config struct {
	// ReadTimeout bounds reading one request; default 30s.
	ReadTimeout time.Duration `yaml:"read_timeout"`
	// WriteTimeout bounds writing one response; default 0 (none), so that
	// long-lived streams are not cut.
	WriteTimeout time.Duration `yaml:"write_timeout"`
	// IdleTimeout closes keep-alive connections idle for longer; default 120s.
	IdleTimeout time.Duration `yaml:"idle_timeout"`
	// ReadBufferSize bounds the request line and headers; default 16384.
	ReadBufferSize int `yaml:"read_buffer_size"`
	// ShutdownDelay is how long /readyz reports 503 before the listener
	// closes, so load balancers stop routing here; default 0.
	ShutdownDelay time.Duration `yaml:"shutdown_delay"`
	// GracePeriod bounds how long in-flight requests may take to finish
	// after shutdown begins; default 15s.
	GracePeriod time.Duration `yaml:"grace_period"`
	// AccessLog writes one log line per request; default true.
	AccessLog *bool `yaml:"access_log"`
	// AccessLogLevel is the level of access log lines: debug, info (the
	// default), warn or error. Lines below log.level are not written.
	AccessLogLevel string `yaml:"access_log_level"`
	// AccessLogBodyBytes logs up to this many bytes of each request body,
	// as received, in its access log line, for debugging. The default, 0,
	// never logs bodies; bodies may hold personal data.
	AccessLogBodyBytes int `yaml:"access_log_body_bytes"`
	// SSE configures the Server-Sent Events of /v1/streams.
	SSE SSEConfig `yaml:"sse"`
	// CORS configures cross-origin access for browser clients; off by
	// default.
	CORS CORSConfig `yaml:"cors"`
	// TrustedProxies lists the addresses and CIDR prefixes of the proxies
	// (load balancers) whose proxy header ferry believes about the client
	// address. Empty (the default) believes none: the TCP peer is the
	// client, whatever headers a request carries.
	TrustedProxies []string `yaml:"trusted_proxies"`
	// ProxyHeader is the header a trusted proxy names the client in:
	// X-Forwarded-For (the default; walked from the right past trusted
	// proxies) or X-Real-IP.
	ProxyHeader string `yaml:"proxy_header"`
}

func (c Config) withDefaults() Config {
	if c.ReadTimeout == 0 {
		c.ReadTimeout = 30 * time.Second
	}
	if c.IdleTimeout == 0 {
		c.IdleTimeout = 120 * time.Second
	}
	if c.ReadBufferSize == 0 {
		c.ReadBufferSize = 16 << 10
	}
	if c.GracePeriod == 0 {
		c.GracePeriod = DefaultGracePeriod
	}
	if c.AccessLog == nil {
		t := true
		c.AccessLog = &t
	}
	if c.AccessLogLevel == "" {
		c.AccessLogLevel = "info"
	}
	c.SSE = c.SSE.withDefaults()
	c.CORS = c.CORS.withDefaults()
	if h := clientaddr.CanonicalHeader(c.ProxyHeader); h != "" {
		c.ProxyHeader = h
	}
	return c
}

// WithDefaults returns c with every unset field at its documented default.
func (c Config) WithDefaults() Config { return c.withDefaults() }

// Validate reports every problem of the section, each as "field: problem".
func (c Config) Validate() error {
	var errs []error
	for _, f := range []struct {
		name string
		d    time.Duration
	}{
		{"read_timeout", c.ReadTimeout}, {"write_timeout", c.WriteTimeout}, {"idle_timeout", c.IdleTimeout},
		{"shutdown_delay", c.ShutdownDelay}, {"grace_period", c.GracePeriod},
	} {
		if f.d < 0 {
			errs = append(errs, fmt.Errorf("%s: must be >= 0", f.name))
		}
	}
	if c.ReadBufferSize < 0 {
		errs = append(errs, errors.New("read_buffer_size: must be > 0"))
	}
	switch strings.ToLower(c.AccessLogLevel) {
	case "", "debug", "info", "warn", "error":
	default:
		errs = append(errs, fmt.Errorf("access_log_level: must be debug, info, warn or error, not %q", c.AccessLogLevel))
	}
	if c.AccessLogBodyBytes < 0 {
		errs = append(errs, errors.New("access_log_body_bytes: must be >= 0"))
	}
	_, proxyErrs := clientaddr.NewTrust(c.TrustedProxies, c.ProxyHeader)
	errs = append(errs, proxyErrs...)
	errs = append(errs, prefixErrs("sse", c.SSE.Validate())...)
	errs = append(errs, prefixErrs("cors", c.CORS.Validate())...)
	return errors.Join(errs...)
}

// prefixErrs splits a joined error and prefixes each part with a field.
func prefixErrs(field string, err error) []error {
	parts := splitErrs(err)
	out := make([]error, len(parts))
	for i, e := range parts {
		out[i] = fmt.Errorf("%s.%w", field, e)
	}
	return out
}

// splitErrs returns the parts of a joined error, or err alone.
func splitErrs(err error) []error {
	if err == nil {
		return nil
	}
	if j, ok := err.(interface{ Unwrap() []error }); ok {
		return j.Unwrap()
	}
	return []error{err}
}

// DefaultGracePeriod is server.grace_period's default.
const DefaultGracePeriod = 15 * time.Second
