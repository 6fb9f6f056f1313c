package apidocs

import (
	"maps"
	"slices"
	"strconv"
	"strings"

	"github.com/ferry-gw/ferry/ingress/identity"
	"github.com/ferry-gw/ferry/schemas"
	"github.com/ferry-gw/ferry/topics"
)

// asyncAPIDoc is an AsyncAPI 3.0 document, written from ferry's side: ferry
// sends each route's events to its topic and, on request/reply routes,
// receives the replies on the reply topic.
type asyncAPIDoc struct {
	AsyncAPI           string         `json:"asyncapi"`
	Info               docInfo        `json:"info"`
	DefaultContentType string         `json:"defaultContentType"`
	Servers            map[string]obj `json:"servers,omitempty"`
	Channels           map[string]obj `json:"channels"`
	Operations         map[string]obj `json:"operations"`
	Components         obj            `json:"components"`
}

// kafkaBinding is the version of the AsyncAPI Kafka bindings used.
const kafkaBinding = "0.5.0"

// Record header names of request/reply (Spring Kafka's) and of replies.
// They are spelled out here until topics names them.
const (
	headerCorrelationID  = "kafka_correlationId"
	headerReplyTopic     = "kafka_replyTopic"
	headerReplyPartition = "kafka_replyPartition"
	headerStatus         = "ferry-status"
	headerResponsePrefix = "ferry-header-"
)

// correlationIDRef points at the correlation id of request/reply messages.
const correlationIDRef = "#/components/correlationIds/ferry.correlationId"

// asyncAPIDoc describes the Kafka side: a channel per topic, a message per
// route (payload schema, CloudEvents headers, key) and per reply, and a
// send operation per route, with its reply channel on request/reply routes.
func (d *Description) asyncAPIDoc(b *schemas.Bundle, comps map[string]any) *asyncAPIDoc {
	doc := &asyncAPIDoc{
		AsyncAPI:           "3.0.0",
		Info:               docInfo{Title: d.Title, Version: d.Version, Description: d.Description},
		DefaultContentType: "application/json",
		Channels:           make(map[string]obj),
		Operations:         make(map[string]obj),
	}
	if len(d.Brokers) > 0 {
		doc.Servers = make(map[string]obj, len(d.Brokers))
		for i, host := range d.Brokers {
			name := "kafka"
			if len(d.Brokers) > 1 {
				name += "-" + strconv.Itoa(i+1)
			}
			doc.Servers[name] = obj{"host": host, "protocol": "kafka", "description": "A Kafka bootstrap server."}
		}
	}

	// Channel ids: AsyncAPI allows A-Z a-z 0-9 _ - in them; topics may
	// also hold dots.
	chanIDs := make(map[string]string) // topic -> channel id
	taken := make(map[string]bool)
	channel := func(topic string) (id string, ch obj) {
		if id, ok := chanIDs[topic]; ok {
			return id, doc.Channels[id]
		}
		base := channelID(topic)
		id = base
		for n := 2; taken[id]; n++ {
			id = base + "-" + strconv.Itoa(n)
		}
		taken[id] = true
		chanIDs[topic] = id
		ch = obj{
			"address":  topic,
			"title":    topic,
			"messages": obj{},
			"bindings": obj{"kafka": obj{"topic": topic, "bindingVersion": kafkaBinding}},
		}
		doc.Channels[id] = ch
		return id, ch
	}

	messages := make(map[string]any)
	for _, r := range d.Routes {
		if r.IsView() {
			continue // a GET route reads; it sends nothing to Kafka
		}
		msgName := uniqueName(messages, r.Name)
		messages[msgName] = requestMessage(r, b)
		var reply obj
		if r.Reply != nil {
			replyChID, replyCh := channel(r.Reply.Topic)
			replyName := uniqueName(messages, r.Name+".reply")
			messages[replyName] = replyMessage(r, b)
			replyCh["messages"].(obj)[replyName] = ref("#/components/messages/" + replyName)
			reply = obj{
				"channel":  ref("#/channels/" + replyChID),
				"messages": []obj{ref("#/channels/" + replyChID + "/messages/" + replyName)},
			}
		}
		// A split route sends to each of its targets: one operation per
		// target, the first named after the route.
		total := 0
		for _, t := range r.Split {
			total += t.Weight
		}
		for i, topic := range r.Topics() {
			chID, ch := channel(topic)
			ch["messages"].(obj)[msgName] = ref("#/components/messages/" + msgName)
			op := obj{
				"action":       "send",
				"channel":      ref("#/channels/" + chID),
				"messages":     []obj{ref("#/channels/" + chID + "/messages/" + msgName)},
				"title":        r.Name,
				"summary":      r.Method + " " + r.Path + " publishes its body to " + topic + ".",
				"x-ferry-http": obj{"method": r.Method, "path": r.Path},
			}
			if reply != nil {
				op["summary"] = r.Method + " " + r.Path + " sends its body to " + topic +
					" and answers with the reply from " + r.Reply.Topic + " that carries the same kafka_correlationId."
				op["reply"] = reply
			}
			id := r.Name
			if len(r.Split) > 0 {
				t := r.Split[i]
				op["summary"] = op["summary"].(string) + " Split target: weight " + strconv.Itoa(t.Weight) + " of " +
					strconv.Itoa(total) + ", sticky by record key" + splitWhen(t.When) + "."
				op["x-ferry-split"] = obj{"weight": t.Weight, "total": total}
				if i > 0 {
					id = r.Name + "-" + chID
				}
			}
			doc.Operations[id] = op
		}
	}

	doc.Components = obj{
		"schemas":  comps,
		"messages": messages,
		"correlationIds": obj{"ferry.correlationId": obj{
			"description": "kafka_correlationId: the bytes of the request's ce_id. A reply must carry the same bytes (Spring Kafka request/reply: @SendTo copies it).",
			"location":    "$message.header#/" + headerCorrelationID,
		}},
	}
	return doc
}

// requestMessage is the message a route publishes.
func requestMessage(r topics.Route, b *schemas.Bundle) obj {
	str := func(desc string) obj { return obj{"type": "string", "description": desc} }
	props := obj{
		topics.HeaderSpecVersion: obj{"const": topics.SpecVersion, "description": "CloudEvents spec version."},
		topics.HeaderID:          obj{"type": "string", "format": "uuid", "description": "The event id, a UUIDv7 (unique, time-sortable); the id of the HTTP 202 body."},
		topics.HeaderSource:      obj{"const": r.Source, "description": "ce_source of the route."},
		topics.HeaderType:        obj{"const": r.EventType, "description": "ce_type of the route."},
		topics.HeaderTime:        obj{"type": "string", "format": "date-time", "description": "When ferry received the request (RFC 3339)."},
		topics.HeaderContentType: str("The request's JSON media type: application/json or application/*+json."),
		topics.HeaderTraceParent: obj{"type": "string", "pattern": "^[0-9a-f]{2}-[0-9a-f]{32}-[0-9a-f]{16}-[0-9a-f]{2}$",
			"description": "W3C trace context: the client's when valid, else a new trace."},
		topics.HeaderAuthType: obj{"enum": []string{identity.PrincipalJWT, identity.PrincipalAPIKey, identity.PrincipalAnonymous},
			"description": "CloudEvents authcontext: the kind of principal that sent the request."},
		topics.HeaderAuthID: str("CloudEvents authcontext: the JWT subject or the API key id."),
	}
	required := []string{topics.HeaderSpecVersion, topics.HeaderID, topics.HeaderSource, topics.HeaderType,
		topics.HeaderTime, topics.HeaderContentType, topics.HeaderTraceParent}
	for _, h := range r.Headers {
		props[h.Name] = str("From the route's template " + h.Value.String() + ".")
		required = append(required, h.Name)
	}
	m := obj{
		"name":        r.Name,
		"title":       r.Method + " " + r.Path,
		"summary":     "The body of " + r.Method + " " + r.Path + ", as a " + r.EventType + " CloudEvent (Kafka binding, binary mode): the value is the body unchanged.",
		"contentType": "application/json",
		"payload":     schemaFor(b, r.Schema),
	}
	if r.Reply != nil {
		props[headerCorrelationID] = str("The bytes of ce_id. Copy it into the reply.")
		props[headerReplyTopic] = obj{"const": r.Reply.Topic, "description": "Where to send the reply."}
		props[headerReplyPartition] = str("The partition to send the reply to: 4 bytes, a big-endian int32. Absent when any partition will do.")
		required = append(required, headerCorrelationID, headerReplyTopic)
		m["correlationId"] = ref(correlationIDRef)
	}
	m["headers"] = obj{"type": "object", "required": required, "properties": props}
	if r.Key != nil {
		m["bindings"] = obj{"kafka": obj{
			"key":            obj{"type": "string", "description": "From the route's key template " + r.Key.String() + "."},
			"bindingVersion": kafkaBinding,
		}}
	}
	return m
}

// replyMessage is the message a backend answers a route's requests with.
func replyMessage(r topics.Route, b *schemas.Bundle) obj {
	return obj{
		"name":        r.Name + ".reply",
		"title":       "Reply to " + r.Method + " " + r.Path,
		"summary":     "A backend's answer to a " + r.EventType + " request; ferry returns it as the HTTP response.",
		"contentType": "application/json",
		"payload":     schemaFor(b, r.Reply.Schema),
		"headers": obj{
			"type":     "object",
			"required": []string{headerCorrelationID},
			"properties": obj{
				headerCorrelationID:      obj{"type": "string", "description": "The request's kafka_correlationId, unchanged."},
				headerStatus:             obj{"type": "string", "pattern": "^[2-5][0-9]{2}$", "description": "The HTTP status of the response, 200 to 599; default 200. Any other value makes the reply a 502 bad-reply."},
				topics.HeaderFinal:       obj{"type": "string", "description": "false (any case) marks a progress reply: ferry streams it to a client that follows the request (Accept: text/event-stream) and keeps waiting for the final reply. Absent, or any other value, the reply is final."},
				topics.HeaderContentType: obj{"type": "string", "description": "The response's Content-Type; default application/json."},
			},
			"patternProperties": obj{
				"^" + headerResponsePrefix: obj{"type": "string", "description": "ferry-header-NAME becomes the response header NAME, when NAME is allowed."},
			},
		},
		"correlationId": ref(correlationIDRef),
	}
}

// channelID turns a topic name into a channel id: A-Z a-z 0-9 _ -.
func channelID(topic string) string {
	b := []byte(topic)
	for i, c := range b {
		if !(c >= 'a' && c <= 'z' || c >= 'A' && c <= 'Z' || c >= '0' && c <= '9' || c == '_' || c == '-') {
			b[i] = '_'
		}
	}
	return string(b)
}

// uniqueName returns name, or name with a suffix, so that it is not a key
// of m.
func uniqueName(m map[string]any, name string) string {
	n := name
	for i := 2; ; i++ {
		if _, ok := m[n]; !ok {
			return n
		}
		n = name + "-" + strconv.Itoa(i)
	}
}

// splitWhen describes the requests a split target is forced for.
func splitWhen(w *topics.SplitWhen) string {
	if w == nil {
		return ""
	}
	var conds []string
	for _, k := range slices.Sorted(maps.Keys(w.Header)) {
		conds = append(conds, "header "+k+" = "+strconv.Quote(w.Header[k]))
	}
	for _, k := range slices.Sorted(maps.Keys(w.Claim)) {
		conds = append(conds, "claim "+k+" = "+strconv.Quote(w.Claim[k]))
	}
	return "; always for requests with " + strings.Join(conds, " and ")
}
