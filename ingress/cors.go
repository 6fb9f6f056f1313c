package ingress

import (
	"errors"
	"fmt"
	"net/url"
	"strings"
	"time"

	"github.com/gofiber/fiber/v2"
	"github.com/gofiber/fiber/v2/middleware/cors"
)

// CORSConfig is the `server.cors` section: which browser origins may call
// ferry, for example a web app that subscribes to /v1/streams with
// EventSource. With no allow_origins (the default) CORS is off and browsers
// refuse cross-origin responses.
type CORSConfig struct {
	// AllowOrigins lists the origins allowed, as scheme://host[:port], or
	// "*" for any. Empty (the default) turns CORS off.
	AllowOrigins []string `yaml:"allow_origins"`
	// AllowCredentials lets browsers send cookies (EventSource with
	// withCredentials: true); default false. It cannot be combined with
	// "*".
	AllowCredentials bool `yaml:"allow_credentials"`
	// AllowHeaders are the request headers allowed; default Authorization,
	// Content-Type, Last-Event-ID, Idempotency-Key, Prefer, X-Request-ID,
	// traceparent.
	AllowHeaders []string `yaml:"allow_headers"`
	// ExposeHeaders are the response headers scripts may read; default
	// X-Request-ID, Location, Retry-After.
	ExposeHeaders []string `yaml:"expose_headers"`
	// MaxAge is how long browsers may cache a preflight answer; default 10m.
	MaxAge time.Duration `yaml:"max_age"`
}

func (c CORSConfig) withDefaults() CORSConfig {
	if len(c.AllowHeaders) == 0 {
		c.AllowHeaders = []string{"Authorization", "Content-Type", "Last-Event-ID", "Idempotency-Key", "Prefer", "X-Request-ID", "traceparent"}
	}
	if len(c.ExposeHeaders) == 0 {
		c.ExposeHeaders = []string{"X-Request-ID", "Location", "Retry-After"}
	}
	if c.MaxAge == 0 {
		c.MaxAge = 10 * time.Minute
	}
	return c
}

// Validate reports every problem of the section, each as "field: problem".
func (c CORSConfig) Validate() error {
	var errs []error
	for i, o := range c.AllowOrigins {
		if o == "*" {
			if c.AllowCredentials {
				errs = append(errs, fmt.Errorf("allow_origins[%d]: \"*\" cannot be used with allow_credentials; list the origins", i))
			}
			continue
		}
		u, err := url.Parse(o)
		if err != nil || (u.Scheme != "http" && u.Scheme != "https") || u.Host == "" || (u.Path != "" && u.Path != "/") ||
			u.RawQuery != "" || u.Fragment != "" || u.User != nil {
			errs = append(errs, fmt.Errorf("allow_origins[%d]: %q is not an origin like https://app.example.com", i, o))
		}
	}
	if c.MaxAge < 0 {
		errs = append(errs, errors.New("max_age: must be >= 0"))
	}
	return errors.Join(errs...)
}

// handler returns the CORS middleware, or nil when CORS is off.
func (c CORSConfig) handler() fiber.Handler {
	if len(c.AllowOrigins) == 0 {
		return nil
	}
	origins := make([]string, len(c.AllowOrigins))
	for i, o := range c.AllowOrigins {
		origins[i] = strings.TrimSuffix(strings.ToLower(o), "/")
	}
	return cors.New(cors.Config{
		AllowOrigins:     strings.Join(origins, ","),
		AllowMethods:     "GET,POST,PUT,PATCH,DELETE,HEAD",
		AllowHeaders:     strings.Join(c.AllowHeaders, ","),
		ExposeHeaders:    strings.Join(c.ExposeHeaders, ","),
		AllowCredentials: c.AllowCredentials,
		MaxAge:           int(c.MaxAge.Seconds()),
	})
}
