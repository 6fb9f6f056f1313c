// Package consumers reads Kafka for clients: the stream hub that fans one
// shared consumer per topic out to many SSE subscribers, the replay reader
// for bounded history reads, and a small SDK for responders
// (responder.go: Responder, Handler, Request, Reply).
//
// It may import topics and franz-go; it knows nothing about HTTP.
package consumers
