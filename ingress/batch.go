package ingress

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"strconv"
	"sync"
	"unicode/utf8"

	"github.com/gofiber/fiber/v2"

	"github.com/ferry-gw/ferry/consumers"
	"github.com/ferry-gw/ferry/ingress/problem"
	"github.com/ferry-gw/ferry/topics"
)

// mimeNDJSONBatch is the media type of a batch given as one JSON value per
// line.
const mimeNDJSONBatch = "application/x-ndjson"

// batchItem is one record's entry in a batch answer: where it was stored,
// or the problem that kept it out.
type batchItem struct {
	Index     int              `json:"index"`
	Status    int              `json:"status"`
	ID        string           `json:"id,omitempty"`
	Topic     string           `json:"topic,omitempty"`
	Partition *int32           `json:"partition,omitempty"`
	Offset    *int64           `json:"offset,omitempty"`
	Problem   *problem.Details `json:"problem,omitempty"`
}

// Transactor writes records in one Kafka transaction (topics.Transactor).
type Transactor interface {
	ProduceAll(ctx context.Context, msgs []*topics.Message) ([]topics.Position, error)
}

// batchAnswer is the body of a batch route's answer.
type batchAnswer struct {
	Produced int         `json:"produced"`
	Failed   int         `json:"failed"`
	Records  []batchItem `json:"records"`
}

// handleBatch serves a route with a batch section: the body is a JSON array
// (or NDJSON) of records, each validated against the route's schema and
// keyed by its template on its own. The valid ones are produced together;
// the answer is 200 when all were stored, else 207, with one entry per
// record in order: its position, or the problem that kept it out (a
// record refused is never produced; the others are).
func (s *Server) handleBatch(c *fiber.Ctx, r topics.Route, ri *reqInfo) error {
	body := c.Body()
	if len(body) > r.BodyLimit {
		return problem.New(problem.BodyTooLarge, "the body is "+strconv.Itoa(len(body))+" bytes; this route accepts at most "+strconv.Itoa(r.BodyLimit))
	}
	elems, err := splitBatch(c.Get(fiber.HeaderContentType), body)
	if err != nil {
		return err
	}
	switch {
	case len(elems) == 0:
		return problem.New(problem.BadRequest, "the batch is empty: send at least one record")
	case len(elems) > r.Batch.MaxRecords:
		return problem.New(problem.BadRequest, fmt.Sprintf("the batch holds %d records; this route takes at most %d per request", len(elems), r.Batch.MaxRecords))
	}
	items := make([]batchItem, len(elems))
	msgs := make([]*topics.Message, len(elems))
	fail := func(i int, err error) {
		pe := toProblem(err)
		d := pe.Details(c.Path(), ri.id)
		items[i] = batchItem{Index: i, Status: pe.Type.Status, Problem: &d}
	}
	for i, el := range elems {
		if r.Schema != "" && s.deps.Validator != nil {
			if err := s.deps.Validator.Validate(r.Schema, el); err != nil {
				fail(i, err)
				continue
			}
		}
		m, err := s.message(c, &r, ri, fiber.MIMEApplicationJSON, el, nil)
		if err != nil {
			fail(i, err)
			continue
		}
		msgs[i] = m
	}
	ctx := c.UserContext()
	if r.Batch.Atomic {
		return s.produceAtomic(c, ri, items, msgs)
	}
	// franz-go batches what is produced together; each record is still
	// acknowledged (or not) on its own.
	if ep, ok := s.deps.Producer.(EachProducer); ok {
		pos, errs := s.produceEach(ctx, ep, msgs)
		for i, m := range msgs {
			switch {
			case m == nil:
			case errs[i] != nil:
				fail(i, errs[i])
			default:
				items[i] = batchItem{Index: i, Status: fiber.StatusAccepted, ID: m.ID, Topic: pos[i].Topic, Partition: &pos[i].Partition, Offset: &pos[i].Offset}
			}
		}
		return s.answerBatch(c, ri, items)
	}
	var wg sync.WaitGroup
	for i, m := range msgs {
		if m == nil {
			continue
		}
		wg.Go(func() {
			pos, err := s.produce(ctx, m)
			if err != nil {
				fail(i, err)
				return
			}
			items[i] = batchItem{Index: i, Status: fiber.StatusAccepted, ID: m.ID, Topic: pos.Topic, Partition: &pos.Partition, Offset: &pos.Offset}
		})
	}
	wg.Wait()
	return s.answerBatch(c, ri, items)
}

// answerBatch answers a batch whose records were all produced or refused:
// 200 when all were stored, else 207.
func (s *Server) answerBatch(c *fiber.Ctx, ri *reqInfo, items []batchItem) error {
	ans := batchAnswer{Records: items}
	for _, it := range items {
		if it.Problem == nil {
			ans.Produced++
		} else {
			ans.Failed++
		}
	}
	ri.produced = ans.Produced > 0
	status := fiber.StatusOK
	if ans.Failed > 0 {
		status = fiber.StatusMultiStatus
	}
	return writeBatch(c, status, ans)
}

// produceAtomic writes the records of an atomic batch in one transaction,
// or none of them: when a record was refused (items holds its problem),
// or the transaction failed (every record gets its problem). The answer
// is 200 when all were committed; 422 (a record refused) or the
// transaction's error status otherwise, with nothing produced.
func (s *Server) produceAtomic(c *fiber.Ctx, ri *reqInfo, items []batchItem, msgs []*topics.Message) error {
	ans := batchAnswer{Records: items}
	refused := false
	for _, it := range items {
		if it.Problem != nil {
			refused = true
		}
	}
	notProduced := func(pe *problem.Error) {
		d := pe.Details(c.Path(), ri.id)
		for i := range items {
			if items[i].Problem == nil {
				items[i] = batchItem{Index: i, Status: pe.Type.Status, Problem: &d}
			}
		}
		ans.Failed = len(items)
	}
	if refused {
		notProduced(problem.New(problem.Validation, "not produced: another record of this atomic batch was refused"))
		return writeBatch(c, fiber.StatusUnprocessableEntity, ans)
	}
	pos, err := s.deps.Atomic.ProduceAll(c.UserContext(), msgs)
	if err != nil {
		pe := toProblem(err)
		notProduced(pe)
		if pe.RetryAfter > 0 {
			c.Set(fiber.HeaderRetryAfter, strconv.Itoa(pe.RetryAfter))
		}
		return writeBatch(c, pe.Type.Status, ans)
	}
	for i, m := range msgs {
		items[i] = batchItem{Index: i, Status: fiber.StatusAccepted, ID: m.ID, Topic: pos[i].Topic, Partition: &pos[i].Partition, Offset: &pos[i].Offset}
	}
	ans.Produced = len(items)
	ri.produced = true
	return writeBatch(c, fiber.StatusOK, ans)
}

// writeBatch answers a batch with status and ans.
func writeBatch(c *fiber.Ctx, status int, ans batchAnswer) error {
	out, err := json.Marshal(ans)
	if err != nil {
		return fmt.Errorf("batch answer: %w", err)
	}
	c.Status(status)
	c.Set(fiber.HeaderContentType, fiber.MIMEApplicationJSON)
	c.Response().SetBody(out)
	return nil
}

// splitBatch cuts a batch body into its records: the elements of a JSON
// array (application/json or application/*+json), or the non-empty lines
// of NDJSON. The records are copies: the body is Fiber's.
func splitBatch(contentType string, body []byte) ([][]byte, error) {
	mt, err := parseMediaType(contentType)
	if err != nil {
		return nil, err
	}
	if _, err := jsonMediaType(contentType); err != nil && mt != mimeNDJSONBatch {
		return nil, problem.New(problem.UnsupportedMedia, "a batch is a JSON array (application/json) or NDJSON (application/x-ndjson)")
	}
	if !utf8.Valid(body) {
		return nil, notUTF8(body)
	}
	if mt == mimeNDJSONBatch {
		var out [][]byte
		for n, line := range bytes.Split(body, []byte("\n")) {
			line = bytes.TrimSpace(line)
			if len(line) == 0 {
				continue
			}
			if !consumers.ValidJSON(line) {
				return nil, problem.New(problem.MalformedJSON, fmt.Sprintf("line %d of the NDJSON batch is not one JSON value", n+1))
			}
			out = append(out, bytes.Clone(line))
		}
		return out, nil
	}
	if consumers.ValidJSON(body) {
		if elems, ok := splitArray(body); ok {
			return elems, nil
		}
	}
	// Not a JSON array: encoding/json says where and why.
	var elems []json.RawMessage
	if err := json.Unmarshal(body, &elems); err != nil {
		var te *json.UnmarshalTypeError
		if errors.As(err, &te) {
			return nil, problem.New(problem.MalformedJSON, "a batch body is a JSON array of records, not a JSON "+te.Value)
		}
		return nil, malformedJSON(body, err)
	}
	out := make([][]byte, len(elems))
	for i, el := range elems {
		out[i] = []byte(el) // Unmarshal copied them
	}
	return out, nil
}

// splitArray returns copies of the elements of b, a valid JSON text (the
// caller checked), or false when it is not an array. One pass that only
// tracks strings and nesting: validity was checked already, at about a
// third of the cost of decoding into []json.RawMessage, which took 70% of
// a batch request's CPU (BenchmarkBatchThroughput).
func splitArray(b []byte) ([][]byte, bool) {
	i := 0
	for i < len(b) && isJSONSpace(b[i]) {
		i++
	}
	if i == len(b) || b[i] != '[' {
		return nil, false
	}
	var out [][]byte
	depth, start := 0, -1
	elem := func(end int) {
		for end > start && isJSONSpace(b[end-1]) {
			end--
		}
		out = append(out, bytes.Clone(b[start:end]))
		start = -1
	}
	for i++; i < len(b); i++ {
		switch c := b[i]; c {
		case '"':
			if start < 0 {
				start = i
			}
			for i++; i < len(b) && b[i] != '"'; i++ {
				if b[i] == '\\' {
					i++
				}
			}
		case '{', '[':
			if start < 0 {
				start = i
			}
			depth++
		case '}', ']':
			if depth == 0 { // the array's end
				if start >= 0 {
					elem(i)
				}
				return out, true
			}
			depth--
		case ',':
			if depth == 0 {
				elem(i)
			}
		case ' ', '\t', '\n', '\r':
		default:
			if start < 0 {
				start = i
			}
		}
	}
	return nil, false
}

func isJSONSpace(c byte) bool { return c == ' ' || c == '\t' || c == '\n' || c == '\r' }
