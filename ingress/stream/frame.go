package stream

import "github.com/ferry-gw/ferry/consumers"

// AppendFrame appends d as the JSON of one WebSocket text frame of a
// stream: {"id","type","key","headers","partition","offset","timestamp",
// "value"}, where id is the resume position (as an SSE event's id) and
// type the record's CloudEvents type, or "message" when it has none.
func AppendFrame(dst []byte, d *consumers.Delivery) []byte {
	dst = append(dst, `{"id":`...)
	dst = appendJSONString(dst, d.ID)
	dst = append(dst, `,"type":`...)
	dst = appendJSONString(dst, eventName(d.Type()))
	mark := len(dst)
	dst = appendEnvelope(dst, d)
	dst[mark] = ',' // the envelope's opening brace joins the object above
	return dst
}
