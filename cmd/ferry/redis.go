package main

import (
	"errors"
	"fmt"
	"net/url"
	"strconv"

	"github.com/redis/go-redis/v9"
)

// RedisConfig is the `redis` section.
type RedisConfig struct {
	// URL is a redis://, rediss:// (TLS) or unix:// URL with a host (or
	// socket path): redis://HOST[:PORT][/DB]. Empty (the default) runs an
	// embedded in-process Redis (miniredis) through the same client code.
	URL string `yaml:"url"`
}

// Validate refuses a URL go-redis would read as something else than
// written: one without a host (go-redis quietly dials localhost:6379), a
// port out of range, a unix:// URL without a path, or options go-redis
// refuses. Its messages never hold the URL's password.
func (c RedisConfig) Validate() error {
	if c.URL == "" {
		return nil
	}
	u, err := url.Parse(c.URL)
	if err != nil {
		return errors.New("url: not a valid URL") // url's error would repeat the password
	}
	shown := c.URL
	if _, ok := u.User.Password(); ok {
		shown = u.Redacted()
	}
	switch u.Scheme {
	case "redis", "rediss":
		if u.Hostname() == "" {
			return fmt.Errorf("url: %q has no host; write %s://HOST[:PORT][/DB]", shown, u.Scheme)
		}
		if p := u.Port(); p != "" {
			if n, err := strconv.Atoi(p); err != nil || n < 1 || n > 65535 {
				return fmt.Errorf("url: %q: the port must be 1-65535", shown)
			}
		}
	case "unix":
		if u.Path == "" {
			return fmt.Errorf("url: %q has no socket path; write unix:///PATH/TO/redis.sock", shown)
		}
	default:
		return errors.New("url: must be a redis://, rediss:// or unix:// URL")
	}
	if _, err := redis.ParseURL(c.URL); err != nil {
		return fmt.Errorf("url: %q: %w", shown, err)
	}
	return nil
}

// Address is the Redis the URL names, for logs: scheme, host, port and
// database (or socket path), never the user or password; "" for the
// embedded Redis. It expects a valid URL.
func (c RedisConfig) Address() string {
	if c.URL == "" {
		return ""
	}
	o, err := redis.ParseURL(c.URL)
	if err != nil {
		return "(invalid)"
	}
	if o.Network == "unix" {
		return "unix://" + o.Addr
	}
	scheme := "redis"
	if o.TLSConfig != nil {
		scheme = "rediss"
	}
	return scheme + "://" + o.Addr + "/" + strconv.Itoa(o.DB)
}
