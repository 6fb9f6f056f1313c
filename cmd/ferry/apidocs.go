package main

import (
	"github.com/ferry-gw/ferry/ingress"
	"github.com/ferry-gw/ferry/ingress/apidocs"
)

// apiDocs is what /openapi.json and /asyncapi.json say beyond the routes
// and schemas: this build's version, the auth section's security schemes,
// and the Kafka bootstrap servers ferry uses (the embedded broker's
// address when it runs one).
func apiDocs(cfg *loaded, brokers []string) ingress.Option {
	return ingress.WithAPIDocs(apidocs.Info{
		Title:       "ferry",
		Version:     version,
		Description: "HTTP routes of this ferry gateway and the Kafka events they publish, generated from its config.",
		Auth:        cfg.Auth.Config,
		Brokers:     brokers,
	})
}
