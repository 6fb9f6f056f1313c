package ingress

import (
	"errors"
	"time"
)

// SSEConfig is the `server.sse` section: how /v1/streams keeps its
// Server-Sent Events connections.
type SSEConfig struct {
	// Heartbeat is how often an idle stream sends a comment, so that
	// proxies keep it open and a client that went away is noticed; default
	// 15s. A departed client's resources are freed within Heartbeat.
	Heartbeat time.Duration `yaml:"heartbeat"`
	// Retry is the reconnection delay sent to clients (the SSE retry
	// field); default 2s.
	Retry time.Duration `yaml:"retry"`
}

// Defaults of SSEConfig.
const (
	DefaultHeartbeat = 15 * time.Second
	DefaultRetry     = 2 * time.Second
)

func (c SSEConfig) withDefaults() SSEConfig {
	if c.Heartbeat == 0 {
		c.Heartbeat = DefaultHeartbeat
	}
	if c.Retry == 0 {
		c.Retry = DefaultRetry
	}
	return c
}

// Validate reports every problem of the section, each as "field: problem".
func (c SSEConfig) Validate() error {
	var errs []error
	if c.Heartbeat < 0 || (c.Heartbeat > 0 && c.Heartbeat < 10*time.Millisecond) {
		errs = append(errs, errors.New("heartbeat: must be at least 10ms"))
	}
	if c.Retry < 0 {
		errs = append(errs, errors.New("retry: must be >= 0"))
	}
	return errors.Join(errs...)
}
