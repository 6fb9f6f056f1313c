// Package correlator turns request/response over Kafka into a function
// call: it keeps waiters keyed by correlation id, consumes reply topics and
// hands each reply to its waiter, and stores late or asynchronous replies
// for /v1/results.
//
// It may import topics, franz-go and go-redis; it knows nothing about HTTP.
package correlator
