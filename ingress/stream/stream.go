// Package stream writes the read side's long responses: the
// Server-Sent Events of a /v1/streams subscription (framing, heartbeats,
// resume ids, the final event; Body), the chunked body of a
// /v1/replay (NDJSON, a JSON array or SSE; WriteReplay), and parses what
// a subscriber asks for (ParseParams). It works on net.Conn, io.Reader
// and what consumers delivers.
//
// It may import consumers, topics and ingress/problem, and never Fiber,
// fasthttp or ingress itself: ingress's handlers check the request, open
// the subscription or the replay, and hand it here with the connection.
package stream

// Observer is what the response bodies report to metrics; nil methods on
// a nil implementation must be safe (ingress/telemetry's Metrics is).
type Observer interface {
	// SSESubscribers adds delta to the open subscriptions of stream.
	SSESubscribers(stream string, delta int)
	// SSEEventsSent counts n events written to subscribers of stream.
	SSEEventsSent(stream string, n int)
	// SSESlowConsumerClosed counts a subscription closed for not keeping up.
	SSESlowConsumerClosed(stream string)
	// ReplayActive adds delta to the replays being streamed.
	ReplayActive(delta int)
	// ReplayRecordsStreamed counts n records streamed by a replay.
	ReplayRecordsStreamed(n int)
}
