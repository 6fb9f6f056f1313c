package apidocs

import (
	"slices"
	"strconv"
	"strings"

	"github.com/ferry-gw/ferry/ingress/problem"
	"github.com/ferry-gw/ferry/schemas"
	"github.com/ferry-gw/ferry/topics"
)

// openAPIDoc is an OpenAPI 3.1 document. Structs keep the order of the
// top-level fields; maps come out sorted.
type openAPIDoc struct {
	OpenAPI           string                           `json:"openapi"`
	Info              docInfo                          `json:"info"`
	JSONSchemaDialect string                           `json:"jsonSchemaDialect"`
	Tags              []obj                            `json:"tags"`
	Paths             map[string]map[string]*operation `json:"paths"`
	Components        openAPIComponents                `json:"components"`
}

type docInfo struct {
	Title       string `json:"title"`
	Version     string `json:"version"`
	Description string `json:"description,omitempty"`
}

type openAPIComponents struct {
	Schemas         map[string]any `json:"schemas"`
	Parameters      map[string]obj `json:"parameters"`
	Headers         map[string]obj `json:"headers"`
	SecuritySchemes map[string]obj `json:"securitySchemes,omitempty"`
}

// operation is an OpenAPI Operation Object, with ferry's extensions.
type operation struct {
	OperationID string          `json:"operationId"`
	Summary     string          `json:"summary,omitempty"`
	Description string          `json:"description,omitempty"`
	Tags        []string        `json:"tags,omitempty"`
	Parameters  []obj           `json:"parameters,omitempty"`
	RequestBody obj             `json:"requestBody,omitempty"`
	Responses   map[string]obj  `json:"responses"`
	Security    *[]securityReqs `json:"security,omitempty"`
	// Where the route's events go, for readers of the document.
	Topic      string `json:"x-ferry-topic,omitempty"`
	ReplyTopic string `json:"x-ferry-reply-topic,omitempty"`
	EventType  string `json:"x-ferry-event-type,omitempty"`
}

// securityReqs is a Security Requirement Object: scheme name -> scopes.
type securityReqs map[string][]string

// Tags of the operations.
const (
	tagRoutes = "routes"
	tagFerry  = "ferry"
)

// openAPIDoc describes the HTTP side: every configured route with its
// parameters, body schema, responses and security, and ferry's own
// endpoints.
func (d *Description) openAPIDoc(b *schemas.Bundle, comps map[string]any) *openAPIDoc {
	schemes, schemeNames := d.securitySchemes()
	doc := &openAPIDoc{
		OpenAPI:           "3.1.0",
		Info:              docInfo{Title: d.Title, Version: d.Version, Description: d.Description},
		JSONSchemaDialect: jsonSchemaDialect,
		Tags: []obj{
			{"name": tagRoutes, "description": "Configured routes: each publishes its body to a Kafka topic as a CloudEvent."},
			{"name": tagFerry, "description": "ferry's own endpoints."},
		},
		Paths: make(map[string]map[string]*operation),
		Components: openAPIComponents{
			Schemas:         comps,
			Parameters:      openAPIParameters(),
			Headers:         openAPIHeaders(),
			SecuritySchemes: schemes,
		},
	}
	add := func(path, method string, op *operation) {
		if doc.Paths[path] == nil {
			doc.Paths[path] = make(map[string]*operation)
		}
		doc.Paths[path][strings.ToLower(method)] = op
	}
	// OpenAPI holds /a/{x} and /a/{y} to be the same path: routes whose
	// paths differ only in parameter names share the first one's path,
	// their parameters renamed by position.
	canonical := make(map[string]topics.Route)
	for _, r := range d.Routes {
		shape := pathShape(r.Path)
		first, ok := canonical[shape]
		if !ok {
			canonical[shape], first = r, r
		}
		add(first.Path, r.Method, routeOperation(r, first.Params, b, schemeNames, d.Auth.Introspection != nil))
	}
	for _, e := range ferryEndpoints(d.Served.Metrics) {
		add(e.path, "GET", e.op)
	}
	for _, e := range d.Served.endpoints(schemeNames) {
		add(e.path, e.method, e.op)
	}
	return doc
}

// apiEndpoint is one of ferry's own API operations on a path.
type apiEndpoint struct {
	path, method string
	op           *operation
}

// securityFor requires one of the schemes with scopes; optional adds the
// empty requirement, so that anonymous callers are allowed too.
func securityFor(schemes, scopes []string, optional bool) *[]securityReqs {
	if len(schemes) == 0 {
		return nil // no scheme configured: nothing to name
	}
	reqs := make([]securityReqs, 0, len(schemes)+1)
	if optional {
		reqs = append(reqs, securityReqs{})
	}
	for _, n := range schemes {
		reqs = append(reqs, securityReqs{n: append([]string{}, scopes...)})
	}
	return &reqs
}

// endpoints describes the results, streams, replay and topics endpoints
// served.
func (sv Served) endpoints(schemes []string) []apiEndpoint {
	sse := obj{"text/event-stream": obj{"schema": obj{"type": "string"}}}
	var eps []apiEndpoint
	if sv.Results {
		eps = append(eps, apiEndpoint{"/v1/results/{id}", "GET", &operation{
			OperationID: "ferry:result", Tags: []string{tagFerry},
			Summary:    "The reply of an earlier request/response request (Prefer: wait=N long-polls; Accept: text/event-stream streams progress and the final reply)",
			Parameters: []obj{pathParam("id", "The request's event id (its Location).")},
			Security:   securityFor(schemes, nil, true),
			Responses: with(map[string]obj{
				"200": {"description": "The final reply: its status, allowlisted headers and body.", "content": obj{"application/json": anyJSON, "text/event-stream": sse["text/event-stream"]}},
				"202": {"description": "Still pending (Retry-After)."},
			}, problems(problem.ResultNotFound, problem.ForbiddenResult, problem.Unauthenticated, problem.ResultsUnavailable, problem.BadReply)),
		}})
	}
	if sv.Streams {
		streams := slices.SortedFunc(slices.Values(sv.StreamList), func(a, b topics.StreamConfig) int { return strings.Compare(a.Name, b.Name) })
		eps = append(eps, apiEndpoint{"/v1/streams/{name}", "GET", &operation{
			OperationID: "ferry:stream", Tags: []string{tagFerry},
			Summary:     "A configured stream as Server-Sent Events; resume with Last-Event-ID (each stream's scopes are in the config)",
			Description: streamsDescription(streams),
			Parameters:  streamParameters(streams),
			Security:    securityFor(schemes, nil, false),
			Responses: with(map[string]obj{"200": {"description": "The event stream.", "content": sse}},
				problems(problem.StreamNotFound, problem.BadPosition, problem.BadFilter, problem.NotAcceptable,
					problem.Unauthenticated, problem.Forbidden, problem.StreamUnavailable)),
		}})
	}

	if sv.Replay {
		scopes := sv.ReplayScopes
		replayProblems := problems(problem.TopicNotAllowed, problem.TopicNotFound, problem.TooManyReplays, problem.BadPosition, problem.InvalidRange,
			problem.LimitTooLarge, problem.BadFilter, problem.Unauthenticated)
		eps = append(eps,
			apiEndpoint{"/v1/replay/{topic}", "GET", &operation{
				OperationID: "ferry:replay", Tags: []string{tagFerry},
				Summary: "A topic's records between two positions: NDJSON (default), a JSON array (format=json) or SSE",
				Parameters: []obj{pathParam("topic", "A topic on replay.topics."),
					queryParam("from", "earliest (default), latest, PARTITION:OFFSET,..., an RFC 3339 time or -DURATION."),
					queryParam("to", "As from; default the high watermarks at the start."),
					queryParam("where", whereDoc+"."),
					queryParam("limit", "Most records to return."), queryParam("format", "ndjson, json or sse.")},
				Security: securityFor(schemes, scopes, false),
				Responses: with(map[string]obj{"200": {"description": "The records.", "content": obj{
					"application/x-ndjson": obj{"schema": obj{"type": "string"}}, "application/json": anyJSON, "text/event-stream": sse["text/event-stream"]}}},
					replayProblems),
			}},
			apiEndpoint{"/v1/replay/{topic}/redrive", "POST", &operation{
				OperationID: "ferry:redrive", Tags: []string{tagFerry},
				Summary:     "Copy the selected records to a target topic on replay.topics (dry_run counts only)",
				Parameters:  []obj{pathParam("topic", "A topic on replay.topics.")},
				RequestBody: obj{"required": true, "content": obj{"application/json": anyJSON}},
				Security:    securityFor(schemes, scopes, false),
				Responses:   with(map[string]obj{"200": {"description": "Counts of the records selected and copied.", "content": obj{"application/json": anyJSON}}}, replayProblems),
			}},
			apiEndpoint{"/v1/topics", "GET", &operation{
				OperationID: "ferry:topics", Tags: []string{tagFerry},
				Summary:   "The topics replay may read, with partitions and start/end offsets",
				Security:  securityFor(schemes, scopes, false),
				Responses: with(map[string]obj{"200": {"description": "The topics.", "content": obj{"application/json": anyJSON}}}, problems(problem.Unauthenticated)),
			}},
			apiEndpoint{"/v1/topics/{topic}", "GET", &operation{
				OperationID: "ferry:topic", Tags: []string{tagFerry},
				Summary:    "One topic replay may read, with per-partition detail",
				Parameters: []obj{pathParam("topic", "A topic on replay.topics.")},
				Security:   securityFor(schemes, scopes, false),
				Responses:  with(map[string]obj{"200": {"description": "The topic.", "content": obj{"application/json": anyJSON}}}, problems(problem.TopicNotAllowed, problem.TopicNotFound, problem.Unauthenticated)),
			}},
		)
	}
	if sv.Groups {
		eps = append(eps, groupEndpoints(schemes)...)
	}
	return eps
}

// groupEndpoints describes the HTTP consumer groups.
func groupEndpoints(schemes []string) []apiEndpoint {
	groupProblems := []problem.Type{problem.BadRequest, problem.Unauthenticated, problem.Forbidden, problem.GroupNotAllowed,
		problem.RedisUnavailable, problem.KafkaUnavailable, problem.ShuttingDown}
	group := pathParam("group", "The consumer group: Kafka's group id, covered by a rule of the groups section.")
	topic := pathParam("topic", "A topic the group's rule lets it read.")
	member := obj{"name": "Ferry-Member-Id", "in": "header", "schema": obj{"type": "string"},
		"description": "The member's id, as a poll answered it; a poll without one joins as a new member."}
	return []apiEndpoint{
		{"/v1/groups/{group}/topics/{topic}/poll", "POST", &operation{
			OperationID: "ferry:group-poll", Tags: []string{tagFerry},
			Summary:     "The member's next records, from the partitions it holds; renews its lease (body: max_records, max_wait, auto_commit; all optional)",
			Parameters:  []obj{group, topic, member},
			RequestBody: obj{"required": false, "content": obj{"application/json": anyJSON}},
			Security:    securityFor(schemes, nil, false),
			Responses: with(map[string]obj{"200": {"description": "member_id, members, partitions, records, and commit: the body that commits them.", "content": obj{"application/json": anyJSON}}},
				problems(append(groupProblems, problem.TopicNotFound, problem.TooManyReplays)...)),
		}},
		{"/v1/groups/{group}/commit", "POST", &operation{
			OperationID: "ferry:group-commit", Tags: []string{tagFerry},
			Summary:     "Commit Kafka group offsets (the next offset to read) of partitions the member holds",
			Parameters:  []obj{group, member},
			RequestBody: obj{"required": true, "content": obj{"application/json": anyJSON}},
			Security:    securityFor(schemes, nil, false),
			Responses: with(map[string]obj{"200": {"description": "The offsets committed.", "content": obj{"application/json": anyJSON}}},
				problems(append(groupProblems, problem.PartitionNotHeld, problem.GroupOffsetsRefused)...)),
		}},
		{"/v1/groups/{group}/topics/{topic}/members/{member}", "DELETE", &operation{
			OperationID: "ferry:group-leave", Tags: []string{tagFerry},
			Summary:    "The member leaves the group at once; its partitions go to the others at their next poll",
			Parameters: []obj{group, topic, pathParam("member", "The member's id.")},
			Security:   securityFor(schemes, nil, false),
			Responses:  with(map[string]obj{"204": {"description": "The member left."}}, problems(groupProblems...)),
		}},
	}
}

// pathParam describes a path parameter.
func pathParam(name, desc string) obj {
	return obj{"name": name, "in": "path", "required": true, "description": desc, "schema": obj{"type": "string"}}
}

// queryParam describes a query parameter.
func queryParam(name, desc string) obj {
	return obj{"name": name, "in": "query", "description": desc, "schema": obj{"type": "string"}}
}

// problems describes the problem responses of pts, by status.
func problems(pts ...problem.Type) map[string]obj {
	out := make(map[string]obj)
	byStatus := make(map[int][]problem.Type)
	for _, pt := range pts {
		byStatus[pt.Status] = append(byStatus[pt.Status], pt)
	}
	for st, group := range byStatus {
		out[strconv.Itoa(st)] = problemResponse(group)
	}
	return out
}

// with adds more to the responses rs and returns rs.
func with(rs map[string]obj, more map[string]obj) map[string]obj {
	for k, v := range more {
		rs[k] = v
	}
	return rs
}

// anyJSON is a media type object of any JSON document.
var anyJSON = obj{"schema": obj{}}

// whereDoc describes the where parameter of replays and streams.
const whereDoc = `Only records whose JSON value meets this condition: a JSON Pointer, an operator (=, !=, <, <=, >, >=) and a JSON value, e.g. /status="failed" or /amount>100; repeat it for several (all must hold)`

// pathShape replaces the names of a path's parameters by {}.
func pathShape(p string) string {
	segs := strings.Split(p, "/")
	for i, seg := range segs {
		if strings.HasPrefix(seg, "{") {
			segs[i] = "{}"
		}
	}
	return strings.Join(segs, "/")
}

// routeOperation describes one configured route, whose path parameters are
// documented under the names params (the route's own, unless another route
// with the same path shape named them first).
func routeOperation(r topics.Route, params []string, b *schemas.Bundle, schemes []string, introspection bool) *operation {
	op := &operation{
		OperationID: r.Name,
		Tags:        []string{tagRoutes},
		Topic:       r.Topic,
		EventType:   r.EventType,
		Responses:   make(map[string]obj),
	}
	if r.IsView() {
		return viewOperation(op, r, params, schemes, introspection)
	}
	var desc strings.Builder
	if r.Reply == nil {
		op.Summary = "Publish a " + r.EventType + " event to " + r.Topic
		desc.WriteString("Publishes the body unchanged as the value of a Kafka record on `" + r.Topic +
			"`, in CloudEvents binary mode (ce_type `" + r.EventType + "`, ce_source `" + r.Source + "`). " +
			"The 202 comes only after the broker acknowledged the record.")
	} else {
		op.ReplyTopic = r.Reply.Topic
		op.Summary = "Send a " + r.EventType + " request to " + r.Topic + " and answer with its reply"
		desc.WriteString("Publishes the body as a CloudEvent on `" + r.Topic + "` (ce_type `" + r.EventType +
			"`) with the Spring Kafka request/reply headers, then waits for the reply with the same " +
			"kafka_correlationId on `" + r.Reply.Topic + "` and answers with it: its body, its ferry-status " +
			"(default 200) and allowed ferry-header-* headers. Without a reply within " + r.Reply.Timeout.String() +
			" (or Prefer: wait=N, at most " + r.Reply.MaxWait.String() + ")")
		if r.Reply.OnTimeout == "fail" {
			desc.WriteString(" the answer is a 504.")
		} else {
			desc.WriteString(" the answer is a 202 whose Location serves the reply later.")
		}
	}
	if r.Key != nil {
		desc.WriteString(" Record key: `" + r.Key.String() + "`.")
	}
	if len(r.Split) > 0 {
		desc.WriteString(" Split: each record goes to one of")
		for i, t := range r.Split {
			if i > 0 {
				desc.WriteString(",")
			}
			desc.WriteString(" `" + t.Topic + "` (weight " + strconv.Itoa(t.Weight) + splitWhen(t.When) + ")")
		}
		desc.WriteString(", the same one for the same key; the 202's `topic` names it.")
	}
	if len(r.Scopes) > 0 {
		desc.WriteString(" Scopes required: " + strings.Join(r.Scopes, ", ") + ".")
	}
	op.Description = desc.String()

	// Parameters: the path's, the headers templates read, then ferry's.
	for i, p := range params {
		param := obj{"name": p, "in": "path", "required": true, "schema": obj{"type": "string"}}
		if r.Params[i] != p {
			param["description"] = "The route's {" + r.Params[i] + "}."
		}
		op.Parameters = append(op.Parameters, param)
	}
	var headers []string
	if r.Key != nil {
		headers = append(headers, r.Key.Headers()...)
	}
	for _, h := range r.Headers {
		headers = append(headers, h.Value.Headers()...)
	}
	seen := make(map[string]bool)
	for _, h := range headers {
		lh := strings.ToLower(h)
		if seen[lh] || lh == "accept" || lh == "content-type" || lh == "authorization" {
			continue // OpenAPI ignores parameters of these names
		}
		seen[lh] = true
		op.Parameters = append(op.Parameters, obj{
			"name": h, "in": "header", "required": true,
			"description": "Read into the record's key or headers; missing or empty fails with key-unresolved (422).",
			"schema":      obj{"type": "string", "minLength": 1},
		})
	}
	op.Parameters = append(op.Parameters,
		ref("#/components/parameters/ferry.RequestID"),
		ref("#/components/parameters/ferry.TraceParent"),
		ref("#/components/parameters/ferry.IdempotencyKey"))
	if r.Reply != nil {
		op.Parameters = append(op.Parameters, ref("#/components/parameters/ferry.Prefer"))
	}

	if r.Tombstone {
		desc.Reset()
		desc.WriteString("Produces a tombstone on `" + r.Topic + "`: a record with the key `" + r.Key.String() +
			"` and a null value, which deletes the key from a compacted topic. The request needs no body; any body is ignored.")
		op.Description = desc.String()
	} else {
		op.RequestBody = obj{
			"required":    true,
			"description": "The event's data, published unchanged. Any application/*+json media type is accepted too, and becomes the record's content-type.",
			"content":     requestContent(b, r),
		}
	}

	accepted := obj{
		"content": obj{"application/json": obj{"schema": ref(componentSchemas + "ferry.Accepted")}},
		"headers": obj{"X-Request-ID": ref("#/components/headers/ferry.RequestID")},
	}
	switch {
	case r.Batch != nil:
		op.RequestBody = obj{
			"required":    true,
			"description": "Up to " + strconv.Itoa(r.Batch.MaxRecords) + " records: a JSON array, or NDJSON (one JSON value per line). Each is validated and keyed on its own.",
			"content": obj{
				"application/json":     obj{"schema": obj{"type": "array", "minItems": 1, "maxItems": r.Batch.MaxRecords, "items": schemaFor(b, r.Schema)}},
				"application/x-ndjson": obj{"schema": obj{"type": "string"}},
			},
		}
		batch := obj{"application/json": obj{"schema": obj{"type": "object", "required": []string{"produced", "failed", "records"},
			"properties": obj{"produced": obj{"type": "integer"}, "failed": obj{"type": "integer"},
				"records": obj{"type": "array", "items": obj{"type": "object", "required": []string{"index", "status"},
					"properties": obj{"index": obj{"type": "integer"}, "status": obj{"type": "integer"}, "id": obj{"type": "string"},
						"topic": obj{"type": "string"}, "partition": obj{"type": "integer"}, "offset": obj{"type": "integer"},
						"problem": ref(componentSchemas + "ferry.Problem")}}}}}}}
		op.Responses["200"] = obj{"description": "Every record is stored in Kafka; one entry per record, in order.", "content": batch}
		op.Responses["207"] = obj{"description": "Some records were refused (their problem is in their entry) and were not produced; the others are stored.", "content": batch}
	case r.Reply == nil:
		accepted["description"] = "Stored in Kafka: the broker acknowledged the record."
		op.Responses["202"] = accepted
	default:
		op.Responses["200"] = obj{
			"description": "The backend's reply, with the status of its ferry-status header (default 200). A 2xx reply that violates reply.schema is answered with 502 bad-reply instead; other replies pass as they are.",
			"content":     obj{"application/json": obj{"schema": schemaFor(b, r.Reply.Schema)}},
			"headers":     obj{"X-Request-ID": ref("#/components/headers/ferry.RequestID")},
		}
		accepted["description"] = "Stored in Kafka, but answered before the reply (Prefer: respond-async, or no reply in time): Location serves the reply later."
		accepted["headers"].(obj)["Location"] = ref("#/components/headers/ferry.Location")
		op.Responses["202"] = accepted
	}
	addRouteProblems(op, r, introspection)
	for status, resp := range op.Responses {
		headers, _ := resp["headers"].(obj)
		if headers == nil {
			continue
		}
		for _, h := range r.ResponseHeaders { // response.headers: on every answer
			headers[h.Name] = obj{"description": "Set by the route's response.headers.", "schema": obj{"type": "string", "const": h.Value}}
		}
		if status[0] == '2' {
			// A repeat of an Idempotency-Key gets the first answer.
			headers["Idempotent-Replayed"] = ref("#/components/headers/ferry.IdempotentReplayed")
		}
		if status == "200" && r.Reply != nil && r.Reply.Cache != nil {
			headers["X-Cache"] = obj{"description": "hit: answered from the route's reply cache (no record produced); miss: answered by a responder.",
				"schema": obj{"type": "string", "enum": []string{"hit", "miss"}}}
			headers["Age"] = obj{"description": "On a hit: seconds since the reply was cached.", "schema": obj{"type": "integer", "minimum": 0}}
		}
		if r.RateLimit != nil && (status[0] == '2' || status == "429") {
			headers["RateLimit-Limit"] = ref("#/components/headers/ferry.RateLimitLimit")
			headers["RateLimit-Remaining"] = ref("#/components/headers/ferry.RateLimitRemaining")
			headers["RateLimit-Reset"] = ref("#/components/headers/ferry.RateLimitReset")
		}
	}
	if r.Reply != nil && r.Reply.OnTimeout == "fail" {
		timeout := problemResponse([]problem.Type{problem.ReplyTimeout})
		timeout["description"] = "No reply in time (reply.on_timeout: fail; `" + problem.ReplyTimeout.URI +
			"`). The request was published: the problem's request_id names it."
		op.Responses["504"] = timeout
	}

	op.Security = routeSecurity(r, schemes)
	return op
}

// problemResponse describes the problems of one status.
func problemResponse(pts []problem.Type) obj {
	var desc strings.Builder
	headers := obj{"X-Request-ID": ref("#/components/headers/ferry.RequestID")}
	for i, pt := range pts {
		if i > 0 {
			desc.WriteString("; ")
		}
		desc.WriteString(pt.Title + " (`" + pt.URI + "`)")
		switch pt {
		case problem.KafkaUnavailable, problem.KafkaTimeout, problem.ResponderUnavailable, problem.AuthUnavailable,
			problem.RateLimited, problem.IdempotencyConflict, problem.RedisUnavailable, problem.TooManyPending,
			problem.ShuttingDown, problem.ResultsUnavailable, problem.StreamUnavailable, problem.TooManyReplays:
			headers["Retry-After"] = ref("#/components/headers/ferry.RetryAfter")
		case problem.Unauthenticated, problem.Forbidden:
			headers["WWW-Authenticate"] = ref("#/components/headers/ferry.WWWAuthenticate")
		}
	}
	desc.WriteString(".")
	return obj{
		"description": desc.String(),
		"headers":     headers,
		"content":     obj{"application/problem+json": obj{"schema": ref(componentSchemas + "ferry.Problem")}},
	}
}

func openAPIParameters() map[string]obj {
	return map[string]obj{
		"ferry.RequestID": {
			"name": "X-Request-ID", "in": "header", "required": false,
			"description": "The request id to log and echo, up to 128 visible ASCII characters; ferry makes one otherwise.",
			"schema":      obj{"type": "string", "maxLength": 128},
		},
		"ferry.TraceParent": {
			"name": "traceparent", "in": "header", "required": false,
			"description": "W3C trace context, copied to the record; ferry starts a new trace when it is missing or invalid.",
			"schema":      obj{"type": "string", "pattern": "^[0-9a-f]{2}-[0-9a-f]{32}-[0-9a-f]{16}-[0-9a-f]{2}$"},
		},
		"ferry.IdempotencyKey": {
			"name": "Idempotency-Key", "in": "header", "required": false,
			"description": "Makes a retry safe: a repeat of the same request with this key gets the first answer (Idempotent-Replayed: true) and publishes nothing; the same key with another body is a 422, a repeat while the first is in flight a 409. A quoted string (or a bare one) of 1 to 255 visible ASCII characters, per caller.",
			"schema":      obj{"type": "string", "minLength": 1, "maxLength": 257},
			"example":     `"order-7"`,
		},
		"ferry.Prefer": {
			"name": "Prefer", "in": "header", "required": false,
			"description": "RFC 7240: respond-async answers 202 at once; wait=N waits up to N seconds for the reply (at most reply.max_wait).",
			"schema":      obj{"type": "string"},
			"examples":    obj{"async": obj{"value": "respond-async"}, "wait": obj{"value": "wait=10"}},
		},
	}
}

func openAPIHeaders() map[string]obj {
	return map[string]obj{
		"ferry.RequestID": {
			"description": "The request id: the client's X-Request-ID when it sent a sane one, else a new one.",
			"schema":      obj{"type": "string"},
		},
		"ferry.RetryAfter": {
			"description": "Seconds to wait before retrying.",
			"schema":      obj{"type": "integer", "minimum": 0},
		},
		"ferry.IdempotentReplayed": {
			"description": "true when this is the stored answer to an earlier request with the same Idempotency-Key: nothing was published again.",
			"schema":      obj{"type": "string", "enum": []string{"true"}},
		},
		"ferry.RateLimitLimit": {
			"description": "The caller's budget on this route: its burst.",
			"schema":      obj{"type": "integer", "minimum": 0},
		},
		"ferry.RateLimitRemaining": {
			"description": "Requests the caller may still send at once.",
			"schema":      obj{"type": "integer", "minimum": 0},
		},
		"ferry.RateLimitReset": {
			"description": "Seconds until the budget is full again.",
			"schema":      obj{"type": "integer", "minimum": 0},
		},
		"ferry.WWWAuthenticate": {
			"description": "RFC 6750 challenge naming the schemes accepted and, on a failure, the error (invalid_token, invalid_request, insufficient_scope with the scope needed).",
			"schema":      obj{"type": "string"},
		},
		"ferry.Location": {
			"description": "Where the reply will be served.",
			"schema":      obj{"type": "string", "format": "uri-reference"},
		},
	}
}

// ferryEndpoint is one of ferry's own GET endpoints.
type ferryEndpoint struct {
	path string
	op   *operation
}

// ferryEndpoints lists ferry's own endpoints; /metrics only when served.
func ferryEndpoints(metrics bool) []ferryEndpoint {
	none := &[]securityReqs{}
	jsonDoc := func(desc string) obj {
		return obj{"description": desc, "content": obj{"application/json": obj{"schema": obj{"type": "object"}}}}
	}
	readiness := obj{"content": obj{"application/json": obj{"schema": obj{
		"type":     "object",
		"required": []string{"status", "checks"},
		"properties": obj{
			"status": obj{"enum": []string{"ready", "not_ready"}},
			"checks": obj{"type": "object", "additionalProperties": obj{"type": "string"},
				"description": `"ok", or why the dependency is not usable.`},
		},
	}}}}
	ready, notReady := obj{"description": "Ready for traffic."}, obj{"description": "Starting, shutting down, or a dependency failed."}
	for k, v := range readiness {
		ready[k], notReady[k] = v, v
	}
	eps := []ferryEndpoint{
		{"/healthz", &operation{
			OperationID: "ferry:healthz", Tags: []string{tagFerry}, Security: none,
			Summary:   "Liveness: 200 while the process runs",
			Responses: map[string]obj{"200": jsonDoc(`{"status":"ok"}`)},
		}},
		{"/readyz", &operation{
			OperationID: "ferry:readyz", Tags: []string{tagFerry}, Security: none,
			Summary:   "Readiness: 200 when Kafka, the topics and Redis are usable",
			Responses: map[string]obj{"200": ready, "503": notReady},
		}},
		{"/openapi.json", &operation{
			OperationID: "ferry:openapi", Tags: []string{tagFerry}, Security: none,
			Summary:   "This OpenAPI 3.1 document",
			Responses: map[string]obj{"200": jsonDoc("The OpenAPI document."), "304": {"description": "Not modified (ETag)."}},
		}},
		{"/asyncapi.json", &operation{
			OperationID: "ferry:asyncapi", Tags: []string{tagFerry}, Security: none,
			Summary:   "The AsyncAPI 3.0 document of the Kafka side: topics, messages, request/reply",
			Responses: map[string]obj{"200": jsonDoc("The AsyncAPI document."), "304": {"description": "Not modified (ETag)."}},
		}},
	}
	if metrics {
		eps = append(eps, ferryEndpoint{"/metrics", &operation{
			OperationID: "ferry:metrics", Tags: []string{tagFerry}, Security: none,
			Summary: "Prometheus metrics, in the exposition format the scraper asks for",
			Responses: map[string]obj{"200": {
				"description": "The metrics.",
				"content":     obj{"text/plain": obj{"schema": obj{"type": "string"}}},
			}},
		}})
	}
	return eps
}

// streamsDescription lists the configured streams (sorted by name): topic,
// scopes, filters.
func streamsDescription(streams []topics.StreamConfig) string {
	var b strings.Builder
	b.WriteString("Each event's id is its position, which a client resumes after with the Last-Event-ID header " +
		"(an EventSource sends it when it reconnects) or the last_event_id parameter; Last-Event-ID wins over from.")
	if len(streams) == 0 {
		return b.String()
	}
	b.WriteString(" The configured streams:")
	for _, sc := range streams {
		b.WriteString("\n- `" + sc.Name + "`: topic `" + sc.Topic + "`")
		switch {
		case sc.Auth == topics.AuthNone:
			b.WriteString(", no authentication")
		case len(sc.Scopes) > 0:
			b.WriteString(", scopes " + strings.Join(sc.Scopes, ", "))
		}
		if len(sc.Filters) > 0 {
			b.WriteString(", filters " + strings.Join(sc.Filters, ", "))
		}
		if m := sc.Match; m != nil && m.Pointer != "" {
			b.WriteString(", each subscriber sees only records whose JSON value holds its " + m.Claim + " claim at " + m.Pointer)
		} else if m != nil {
			b.WriteString(", each subscriber sees only records whose " + m.Header + " header equals its " + m.Claim + " claim")
		}
		b.WriteString(".")
	}
	return b.String()
}

// streamParameters describes the parameters of GET /v1/streams/{name}:
// the name (one of the configured streams), where to start, and the
// filters, with a header.NAME parameter for each header filter a stream
// allows.
func streamParameters(streams []topics.StreamConfig) []obj {
	name := obj{"type": "string"}
	if len(streams) > 0 {
		names := make([]string, len(streams))
		for i, sc := range streams {
			names[i] = sc.Name
		}
		name["enum"] = names
	}
	query := func(n, desc string) obj {
		return obj{"name": n, "in": "query", "description": desc, "schema": obj{"type": "string"}}
	}
	params := []obj{
		{"name": "name", "in": "path", "required": true, "description": "The stream's name.", "schema": name},
		query("from", "Where a new subscription starts: earliest, latest (default), an RFC 3339 time or -DURATION (e.g. -5m)."),
		{"name": "Last-Event-ID", "in": "header", "description": "Resume after this event id (an id this stream sent); wins over from.",
			"schema": obj{"type": "string"}},
		query("last_event_id", "As the Last-Event-ID header, for clients that cannot set headers; the header wins."),
		query("key", "Only records with this key (streams whose filters include key)."),
		query("where", whereDoc+" (streams whose filters include where)."),
	}
	// header.NAME, once per header name, with the streams that allow it.
	var headers []string
	allowed := make(map[string][]string)
	for _, sc := range streams {
		for _, f := range sc.Filters {
			h, ok := strings.CutPrefix(f, "header.")
			if !ok {
				continue
			}
			if _, seen := allowed[h]; !seen {
				headers = append(headers, h)
			}
			allowed[h] = append(allowed[h], sc.Name)
		}
	}
	slices.Sort(headers)
	for _, h := range headers {
		params = append(params, query("header."+h, "Only records whose "+h+" header equals this value (streams "+
			strings.Join(allowed[h], ", ")+")."))
	}
	return append(params, query("envelope", "true sends {key, headers, partition, offset, timestamp, value}."))
}

// viewOperation describes a GET route: it reads the latest record of a
// key (or a page of keys) of a compacted topic, and produces nothing.
func viewOperation(op *operation, r topics.Route, params []string, schemes []string, introspection bool) *operation {
	op.EventType = ""
	for _, p := range params {
		op.Parameters = append(op.Parameters, obj{"name": p, "in": "path", "required": true, "schema": obj{"type": "string"}})
	}
	var headers []string
	for _, t := range []*topics.KeyTemplate{r.Key, r.KeyPrefix} {
		if t != nil {
			headers = append(headers, t.Headers()...)
		}
	}
	for _, h := range headers {
		if lh := strings.ToLower(h); lh == "accept" || lh == "content-type" || lh == "authorization" {
			continue
		}
		op.Parameters = append(op.Parameters, obj{"name": h, "in": "header", "required": true, "schema": obj{"type": "string", "minLength": 1}})
	}
	op.Parameters = append(op.Parameters, ref("#/components/parameters/ferry.RequestID"), ref("#/components/parameters/ferry.TraceParent"))
	rid := obj{"X-Request-ID": ref("#/components/headers/ferry.RequestID")}
	if r.Key != nil {
		op.Summary = "Read the latest record of a key of " + r.Topic
		op.Description = "Answers the value of the latest record on `" + r.Topic + "` whose key is `" + r.Key.String() +
			"`, kept in memory from the topic (read from its start, followed live; a tombstone removes the key). " +
			"ETag is the record's partition and offset: If-None-Match answers 304, and with Prefer: wait=N the request waits up to N seconds for a change."
		op.Parameters = append(op.Parameters,
			obj{"name": "If-None-Match", "in": "header", "schema": obj{"type": "string"}, "description": "An ETag this route gave: 304 while it is current."},
			ref("#/components/parameters/ferry.Prefer"))
		op.Responses["200"] = obj{"description": "The record's value, with its content-type.",
			"content": obj{"application/json": obj{"schema": obj{}}},
			"headers": obj{"X-Request-ID": rid["X-Request-ID"], "ETag": obj{"schema": obj{"type": "string"}}, "Last-Modified": obj{"schema": obj{"type": "string"}}}}
		op.Responses["304"] = obj{"description": "The record is still the one If-None-Match names.", "headers": rid}
	} else {
		op.Summary = "List the latest record of each key of " + r.Topic
		desc := "Answers a page of the latest records on `" + r.Topic + "`, in key order"
		if r.KeyPrefix != nil {
			desc += ", of the keys that start with `" + r.KeyPrefix.String() + "`"
		}
		op.Description = desc + `; a Link header (rel="next") names the next page.`
		op.Parameters = append(op.Parameters,
			obj{"name": "limit", "in": "query", "schema": obj{"type": "integer", "minimum": 1, "maximum": 1000, "default": 100}},
			obj{"name": "cursor", "in": "query", "schema": obj{"type": "string"}, "description": "From the Link of the previous page; opaque."})
		op.Responses["200"] = obj{"description": "A page of records.", "headers": obj{"X-Request-ID": rid["X-Request-ID"], "Link": obj{"schema": obj{"type": "string"}}},
			"content": obj{"application/json": obj{"schema": obj{"type": "array", "items": obj{"type": "object",
				"required": []string{"key", "value", "etag", "partition", "offset", "timestamp"},
				"properties": obj{"key": obj{"type": "string"}, "value": obj{}, "etag": obj{"type": "string"},
					"partition": obj{"type": "integer"}, "offset": obj{"type": "integer"}, "timestamp": obj{"type": "string", "format": "date-time"}}}}}}}
	}
	if len(r.Scopes) > 0 {
		op.Description += " Scopes required: " + strings.Join(r.Scopes, ", ") + "."
	}
	addRouteProblems(op, r, introspection)
	op.Security = routeSecurity(r, schemes)
	return op
}

// routeSecurity is the security requirement of route r: none for auth:
// none, else any of the schemes with the route's scopes (nil when no
// scheme is configured).
func routeSecurity(r topics.Route, schemes []string) *[]securityReqs {
	switch {
	case r.Auth == topics.AuthNone:
		return &[]securityReqs{}
	case len(schemes) > 0:
		reqs := make([]securityReqs, 0, len(schemes))
		for _, n := range schemes {
			reqs = append(reqs, securityReqs{n: append([]string{}, r.Scopes...)})
		}
		return &reqs
	}
	return nil
}

// addRouteProblems adds to op one response per status of the problems
// route r can answer with.
func addRouteProblems(op *operation, r topics.Route, introspection bool) {
	byStatus := make(map[int][]problem.Type)
	for _, pt := range routeProblems(r, introspection) {
		byStatus[pt.Status] = append(byStatus[pt.Status], pt)
	}
	for status, pts := range byStatus {
		op.Responses[strconv.Itoa(status)] = problemResponse(pts)
	}
}

// requestContent lists the media types a route accepts (content_types):
// JSON with the route's schema; binary and text bodies, produced as is;
// structured CloudEvents, whose data the schema describes.
func requestContent(b *schemas.Bundle, r topics.Route) obj {
	content := obj{}
	for _, ct := range r.ContentTypes {
		switch ct {
		case topics.MediaJSON:
			content[ct] = obj{"schema": schemaFor(b, r.Schema)}
		case topics.MediaOctetStream:
			content[ct] = obj{"schema": obj{"type": "string", "format": "binary"}}
		case topics.MediaText:
			content[ct] = obj{"schema": obj{"type": "string"}}
		case topics.MediaCloudEvents:
			content[ct] = obj{"schema": obj{"type": "object", "required": []string{"specversion", "id", "source", "type"},
				"properties": obj{"specversion": obj{"const": "1.0"}, "id": obj{"type": "string"}, "source": obj{"type": "string"},
					"type": obj{"type": "string"}, "data": schemaFor(b, r.Schema)}}}
		}
	}
	if len(content) == 0 { // a Route built without NewTable
		content[topics.MediaJSON] = obj{"schema": schemaFor(b, r.Schema)}
	}
	return content
}
