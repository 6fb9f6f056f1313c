package ingress_test

import (
	"context"
	"fmt"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
	"time"

	"github.com/chromedp/chromedp"

	"github.com/ferry-gw/ferry/consumers"
	"github.com/ferry-gw/ferry/ingress"
	"github.com/ferry-gw/ferry/ingress/console/consoletest"
	"github.com/ferry-gw/ferry/topics"
	"github.com/ferry-gw/ferry/topics/topicstest"
)

// streamPage is the page the browser opens: an EventSource on the stream,
// recording what it receives.
const streamPage = `<!doctype html>
<title>ferry stream</title>
<script>
window.got = []; window.opens = 0; window.errors = 0;
const es = new EventSource(%q);
es.onopen = () => { window.opens++; };
es.onerror = () => { window.errors++; };
es.addEventListener("com.example.test", (e) => { window.got.push(e.lastEventId + " " + e.data); });
</script>`

// TestBrowserEventSource opens, in headless Chromium, a page served by the
// test from another origin (so CORS is exercised) whose EventSource
// receives events, is dropped by the server, reconnects by itself with
// Last-Event-ID, and receives what was produced while it was away, every
// event exactly once.
func TestBrowserEventSource(t *testing.T) {
	t.Parallel()

	var g *streamGateway
	page := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Content-Type", "text/html; charset=utf-8")
		fmt.Fprintf(w, streamPage, g.url+"/v1/streams/s")
	}))
	defer page.Close()
	g = startStreamGateway(t, streamSetup{
		streams: []topics.StreamConfig{{Name: "s", Topic: "t", Auth: topics.AuthNone}},
		hub:     consumers.HubConfig{Buffer: 64, History: 128},
		server: ingress.Config{
			SSE:  ingress.SSEConfig{Retry: 500 * time.Millisecond},
			CORS: ingress.CORSConfig{AllowOrigins: []string{page.URL}},
		},
	})

	ctx := consoletest.Browser(t)
	// The first call starts the browser, which lives as long as its
	// context: no timeout on it (the test's own deadline bounds it).
	if err := chromedp.Do(ctx, chromedp.Navigate(page.URL)); err != nil {
		t.Fatalf("chromium: %v", err)
	}

	state := func() (got []string, opens int) {
		t.Helper()
		ectx, ecancel := context.WithTimeout(ctx, 5*time.Second)
		defer ecancel()
		got, err := chromedp.Run(ectx, chromedp.Evaluate[[]string](`window.got`))
		if err != nil {
			t.Fatalf("evaluate: %v", err)
		}
		opens, err = chromedp.Run(ectx, chromedp.Evaluate[int](`window.opens`))
		if err != nil {
			t.Fatalf("evaluate: %v", err)
		}
		return got, opens
	}
	waitFor := func(what string, ok func(got []string, opens int) bool) []string {
		t.Helper()
		var got []string
		var opens int
		topicstest.Eventually(t, 20*time.Second, 20*time.Millisecond, func() error {
			if got, opens = state(); !ok(got, opens) {
				return fmt.Errorf("waiting for %s: %d opens, received %q", what, opens, got)
			}
			return nil
		})
		return got
	}
	waitFor("the stream to open", func(_ []string, opens int) bool { return opens >= 1 })
	g.produce(t, "t", "a", "b", "c")
	waitFor("3 events", func(got []string, _ int) bool { return len(got) == 3 })

	// The server drops the connection; what is produced before the browser
	// is back must still arrive, through Last-Event-ID.
	if n := g.ln.dropAll(); n == 0 {
		t.Fatal("no connection to drop")
	}
	g.produce(t, "t", "d", "e")
	waitFor("the reconnect and 5 events", func(got []string, opens int) bool { return opens >= 2 && len(got) >= 5 })
	g.produce(t, "t", "f")
	got := waitFor("6 events", func(got []string, _ int) bool { return len(got) >= 6 })

	lastBeforeDrop, _, _ := strings.Cut(got[2], " ")
	resumed := false
	for _, h := range g.ln.requestHeads() {
		resumed = resumed || strings.Contains(strings.ToLower(h), "\r\nlast-event-id: "+lastBeforeDrop+"\r\n")
	}
	if !resumed {
		t.Errorf("no request carried Last-Event-ID: %s; requests:\n%s", lastBeforeDrop, strings.Join(g.ln.requestHeads(), "\n"))
	}

	var datas []string
	for _, e := range got {
		id, data, _ := strings.Cut(e, " ")
		if _, err := consumers.ParseCursor(id); err != nil {
			t.Errorf("lastEventId %q: %v", id, err)
		}
		datas = append(datas, data)
	}
	sortStrings(datas)
	if strings.Join(datas, ",") != "a,b,c,d,e,f" {
		t.Errorf("the browser received %q, want a..f exactly once", got)
	}
}

func sortStrings(s []string) {
	for i := 1; i < len(s); i++ {
		for j := i; j > 0 && s[j] < s[j-1]; j-- {
			s[j], s[j-1] = s[j-1], s[j]
		}
	}
}
