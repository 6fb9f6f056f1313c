package ingress

import (
	"context"
	"encoding/base64"
	"encoding/json"
	"errors"
	"net/http"
	"strconv"
	"strings"
	"time"
	"unicode/utf8"

	"github.com/gofiber/fiber/v2"

	"github.com/ferry-gw/ferry/consumers/view"
	"github.com/ferry-gw/ferry/ingress/problem"
	"github.com/ferry-gw/ferry/ingress/stream"
	"github.com/ferry-gw/ferry/topics"
)

// Views gives the GET routes the view of the topic they read.
type Views interface {
	// View returns the view of topic, or false when there is none.
	View(topic string) (View, bool)
}

// View is the latest record of each key of one topic (consumers/view).
type View interface {
	Get(key string) (view.Entry, bool, error)
	Wait(ctx context.Context, key, etag string) (view.Entry, bool, error)
	List(prefix, after string, limit int) ([]view.Entry, bool, error)
}

// List paging of GET collections.
const (
	defaultViewLimit = 100
	maxViewLimit     = 1000
)

// viewGet serves a GET route: one key's latest record, or a page of keys.
func (s *Server) viewGet(r topics.Route) fiber.Handler {
	return func(c *fiber.Ctx) error {
		var v View
		if s.deps.Views != nil {
			v, _ = s.deps.Views.View(r.Topic)
		}
		if v == nil {
			return problem.New(problem.ViewUnavailable, "no view reads "+r.Topic)
		}
		f := fields{c: c, s: s}
		if r.Key == nil {
			return s.viewList(c, r, v, f)
		}
		k, err := r.Key.Append(nil, f, nil)
		if err != nil {
			return templateProblem("record key", err)
		}
		key := string(k)
		e, ok, err := v.Get(key)
		if err != nil {
			return viewProblem(err)
		}
		inm := c.Get(fiber.HeaderIfNoneMatch)
		if ok && inm != "" && etagMatches(inm, e.ETag()) {
			pref := parsePrefer(c.Request().Header.PeekAll("Prefer"))
			if !pref.hasWait {
				return notModified(c, &e)
			}
			ctx, cancel := context.WithTimeout(c.UserContext(), pref.wait)
			stop := context.AfterFunc(s.streams, cancel)
			e, ok, err = v.Wait(ctx, key, e.ETag())
			stop()
			cancel()
			if err != nil {
				return viewProblem(err)
			}
			c.Set("Preference-Applied", "wait="+strconv.Itoa(int(pref.wait/time.Second)))
			if ok && etagMatches(inm, e.ETag()) {
				return notModified(c, &e)
			}
		}
		if !ok {
			return problem.New(problem.KeyNotFound, "no record has key "+stream.QuoteParam(key))
		}
		if ims := c.Get(fiber.HeaderIfModifiedSince); inm == "" && ims != "" {
			// Only without If-None-Match, which wins (RFC 9110 13.1.3).
			if since, err := http.ParseTime(ims); err == nil && !e.Time.Truncate(time.Second).After(since) {
				return notModified(c, &e)
			}
		}
		c.Set(fiber.HeaderETag, e.ETag())
		c.Set(fiber.HeaderLastModified, e.Time.UTC().Format(http.TimeFormat))
		c.Set(fiber.HeaderCacheControl, "no-cache")
		ct := e.ContentType
		if ct == "" {
			// No content-type header (another producer): JSON when it is.
			ct = fiber.MIMEOctetStream
			if utf8.Valid(e.Value) && json.Valid(e.Value) {
				ct = fiber.MIMEApplicationJSON
			}
		}
		c.Set(fiber.HeaderContentType, ct)
		return c.Send(e.Value)
	}
}

// notModified answers 304 for e.
func notModified(c *fiber.Ctx, e *view.Entry) error {
	c.Set(fiber.HeaderETag, e.ETag())
	c.Set(fiber.HeaderLastModified, e.Time.UTC().Format(http.TimeFormat))
	c.Status(fiber.StatusNotModified)
	return nil
}

// etagMatches reports whether an If-None-Match list names etag (weak
// comparison, as RFC 9110 asks for If-None-Match), or is "*".
func etagMatches(inm, etag string) bool {
	for _, t := range strings.Split(inm, ",") {
		t = strings.TrimPrefix(strings.TrimSpace(t), "W/")
		if t == "*" || t == etag {
			return true
		}
	}
	return false
}

// viewProblem maps a view's error to its answer.
func viewProblem(err error) error {
	pe := problem.New(problem.ViewUnavailable, err.Error())
	if errors.Is(err, view.ErrNotReady) {
		pe.RetryAfter = 1
	}
	return pe
}

// viewItem is one element of a GET collection.
type viewItem struct {
	Key       string          `json:"key"`
	Value     json.RawMessage `json:"value"`
	ETag      string          `json:"etag"`
	Partition int32           `json:"partition"`
	Offset    int64           `json:"offset"`
	Timestamp time.Time       `json:"timestamp"`
	// ValueEncoding is "base64" when Value holds bytes that are not
	// UTF-8, in base64.
	ValueEncoding string `json:"value_encoding,omitempty"`
}

// cursorMark starts every cursor a collection gives (before base64), so
// that one it did not give is refused rather than read as a key.
const cursorMark = "k1:"

// viewList answers a page of a GET collection: a JSON array in key
// order, and a Link to the next page (rel="next") with an opaque cursor.
func (s *Server) viewList(c *fiber.Ctx, r topics.Route, v View, f fields) error {
	limit := defaultViewLimit
	if q := c.Query("limit"); q != "" {
		n, err := strconv.Atoi(q)
		if err != nil || n < 1 {
			return problem.New(problem.BadRequest, "limit must be a positive integer")
		}
		if n > maxViewLimit {
			return problem.New(problem.BadRequest, "limit is at most "+strconv.Itoa(maxViewLimit))
		}
		limit = n
	}
	var after string
	if cur := c.Query("cursor"); cur != "" {
		b, err := base64.RawURLEncoding.DecodeString(cur)
		key, ok := strings.CutPrefix(string(b), cursorMark)
		if err != nil || !ok {
			return problem.New(problem.BadRequest, "cursor is not one this route gave")
		}
		after = key
	}
	var prefix string
	if r.KeyPrefix != nil {
		p, err := r.KeyPrefix.Append(nil, f, nil)
		if err != nil {
			return templateProblem("key prefix", err)
		}
		prefix = string(p)
		if after != "" && !strings.HasPrefix(after, prefix) {
			return problem.New(problem.BadRequest, "cursor is not one this route gave")
		}
	}
	es, more, err := v.List(prefix, after, limit)
	if err != nil {
		return viewProblem(err)
	}
	items := make([]viewItem, len(es))
	for i, e := range es {
		// A value that is not JSON (another producer wrote it) is
		// embedded as a string, or in base64 flagged value_encoding when
		// it is not UTF-8 either, as streams and replays send it: the
		// answer stays JSON and keeps every byte.
		item := viewItem{Key: e.Key, Value: json.RawMessage(e.Value), ETag: e.ETag(), Partition: e.Partition, Offset: e.Offset, Timestamp: e.Time.UTC()}
		switch {
		case utf8.Valid(e.Value) && json.Valid(e.Value):
		case utf8.Valid(e.Value):
			item.Value, _ = json.Marshal(string(e.Value))
		default:
			item.Value, _ = json.Marshal(base64.StdEncoding.EncodeToString(e.Value))
			item.ValueEncoding = "base64"
		}
		items[i] = item
	}
	if more {
		next := base64.RawURLEncoding.EncodeToString([]byte(cursorMark + es[len(es)-1].Key))
		c.Set(fiber.HeaderLink, "<"+c.Path()+"?limit="+strconv.Itoa(limit)+"&cursor="+next+`>; rel="next"`)
	}
	c.Set(fiber.HeaderCacheControl, "no-cache")
	return c.JSON(items)
}
