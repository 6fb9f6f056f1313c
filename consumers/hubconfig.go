package consumers

import (
	"errors"
	"fmt"
)

// HubConfig is the `hub` section of ferry.yaml: how the stream hub behind
// /v1/streams buffers records.
type HubConfig struct {
	// Buffer is how many records a subscriber may fall behind the live feed
	// before it is closed as a slow consumer; default 4096. A burst of
	// records larger than Buffer that arrives at once makes every
	// subscriber of the topic slow, so size it above the largest burst. It bounds the
	// memory one slow client can pin, and it is also how far behind a
	// reconnecting client may be and still resume from memory.
	Buffer int `yaml:"buffer"`
	// History is how many recent records of each stream topic the hub keeps
	// in memory, shared by all its subscribers; default 8192, at least
	// Buffer. A client resuming from an older position catches up from
	// Kafka first.
	History int `yaml:"history"`
}

// Defaults of HubConfig.
const (
	DefaultBuffer  = 4096
	DefaultHistory = 8192
)

// WithDefaults returns c with every unset field at its documented default.
func (c HubConfig) WithDefaults() HubConfig {
	if c.Buffer == 0 {
		c.Buffer = DefaultBuffer
	}
	if c.History == 0 {
		c.History = max(DefaultHistory, c.Buffer)
	}
	return c
}

// Validate reports every problem of the section, each as "field: problem".
func (c HubConfig) Validate() error {
	var errs []error
	if c.Buffer < 0 {
		errs = append(errs, errors.New("buffer: must be > 0"))
	}
	if c.History < 0 {
		errs = append(errs, errors.New("history: must be > 0"))
	} else if c.History > 0 && c.History < c.Buffer {
		errs = append(errs, fmt.Errorf("history: must be >= buffer (%d)", c.Buffer))
	}
	return errors.Join(errs...)
}
