package ingress

// Handlers whose waits watch for a client hang-up (ingress/hangup): the
// label of ferry_client_hangups_total.
const (
	hangupReply        = "reply"         // a sync request waiting for its reply
	hangupResult       = "result"        // GET /v1/results with Prefer: wait
	hangupResultStream = "result_stream" // GET /v1/results as SSE
	hangupStream       = "stream"        // an SSE stream
	hangupPoll         = "group_poll"    // a consumer group member's poll
)
