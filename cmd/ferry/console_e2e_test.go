package main

import (
	"context"
	"encoding/json"
	"fmt"
	"net/url"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/chromedp/cdproto/emulation"
	"github.com/chromedp/cdproto/page"
	"github.com/chromedp/cdproto/runtime"
	"github.com/chromedp/chromedp"
	"github.com/google/go-cmp/cmp"
	"github.com/twmb/franz-go/pkg/kgo"

	"github.com/ferry-gw/ferry/ingress/console/consoletest"
)

// pageWatch counts what the console's pages did that they never should:
// script errors and JavaScript dialogs (each dialog is dismissed).
type pageWatch struct {
	mu      sync.Mutex
	errors  []string
	dialogs int
}

func (w *pageWatch) add(f func()) {
	w.mu.Lock()
	defer w.mu.Unlock()
	f()
}

// Dialogs is how many JavaScript dialogs opened so far.
func (w *pageWatch) Dialogs() int {
	w.mu.Lock()
	defer w.mu.Unlock()
	return w.dialogs
}

// consoleBrowser is a headless Chromium on the console of p, started for
// one test: its tab context, and the watch of its pages. A script error
// on a page fails the test; on failure the page is saved as
// testdata/console/NAME.png.
func consoleBrowser(t *testing.T, p *process) (context.Context, *pageWatch) {
	t.Helper()
	ctx := consoletest.Browser(t)
	// The first call starts the browser, which lives as long as its
	// context: no timeout on it (the test's own deadline bounds it).
	if err := chromedp.Do(ctx, chromedp.Navigate("about:blank")); err != nil {
		t.Fatalf("chromium: %v", err)
	}
	w := &pageWatch{}
	go func() {
		for ev, err := range chromedp.Events(ctx, runtime.ExceptionThrown) {
			if err != nil {
				return
			}
			d := ev.ExceptionDetails
			msg := d.Text
			if d.Exception != nil {
				msg += " " + d.Exception.Description
			}
			w.add(func() { w.errors = append(w.errors, fmt.Sprintf("%s (%s:%d)", msg, d.URL, d.LineNumber+1)) })
		}
	}()
	go func() {
		for _, err := range chromedp.Events(ctx, page.JavascriptDialogOpening) {
			if err != nil {
				return
			}
			w.add(func() { w.dialogs++ })
			_, _ = chromedp.Call(ctx, page.HandleJavaScriptDialog, page.HandleJavaScriptDialogParams{Accept: false})
		}
	}()
	// Cleanups run last first: the errors are reported, then the
	// screenshot taken, then the browser stopped.
	t.Cleanup(func() {
		if !t.Failed() {
			return
		}
		sctx, scancel := context.WithTimeout(ctx, 5*time.Second)
		defer scancel()
		png, err := chromedp.Run(sctx, chromedp.FullScreenshot(100))
		if err != nil {
			t.Logf("screenshot: %v", err)
			return
		}
		dir := filepath.Join("..", "..", "testdata", "console")
		name := filepath.Join(dir, strings.ReplaceAll(t.Name(), "/", "_")+".png")
		if err := os.MkdirAll(dir, 0o755); err == nil && os.WriteFile(name, png, 0o644) == nil {
			t.Logf("screenshot of the page: %s", name)
		}
	})
	t.Cleanup(func() {
		w.add(func() {
			for _, e := range w.errors {
				t.Errorf("script error on the page: %s", e)
			}
		})
	})
	inBrowser(t, ctx, "open the console", chromedp.Navigate("http://"+p.http+"/console"))
	return ctx, w
}

// inBrowser runs steps in the browser, bounded by 10 seconds.
func inBrowser(t *testing.T, ctx context.Context, what string, steps ...chromedp.Action[chromedp.Void]) {
	t.Helper()
	rctx, cancel := context.WithTimeout(ctx, 10*time.Second)
	defer cancel()
	if err := chromedp.Do(rctx, steps...); err != nil {
		t.Fatalf("%s: %v", what, err)
	}
}

// evaluate returns the value of a JavaScript expression on the page.
func evaluate[T any](t *testing.T, ctx context.Context, expr string) T {
	t.Helper()
	rctx, cancel := context.WithTimeout(ctx, 10*time.Second)
	defer cancel()
	v, err := chromedp.Run(rctx, chromedp.Evaluate[T](expr))
	if err != nil {
		t.Fatalf("evaluate %s: %v", expr, err)
	}
	return v
}

// scopedToken mints a dev token with the given scopes, as the README's
// Console section does.
func scopedToken(t *testing.T, scope string) string {
	t.Helper()
	out, err := exec.Command(ferryBinary(t), "token", "--key", "../../testdata/keys/dev-jwt.key", "--scope", scope).Output()
	if err != nil {
		t.Fatalf("ferry token: %v", err)
	}
	return strings.TrimSpace(string(out))
}

// loginAs logs in on the console's login page with a bearer token.
func loginAs(t *testing.T, ctx context.Context, token string) {
	t.Helper()
	inBrowser(t, ctx, "log in",
		chromedp.WaitVisible(chromedp.CSS(`#login input[name="secret"]`)),
		chromedp.SetValue(chromedp.CSS(`#login input[name="secret"]`), token),
		chromedp.Click(chromedp.CSS(`#login button[type="submit"]`)),
	)
}

// adminConsole runs bin/ferry with the quickstart config and logs in on
// its console, in a new headless Chromium, with a token holding admin.
func adminConsole(t *testing.T) (*process, context.Context, *pageWatch) {
	t.Helper()
	p := startFerry(t, t.TempDir())
	ctx, w := consoleBrowser(t, p)
	loginAs(t, ctx, scopedToken(t, "admin"))
	return p, ctx, w
}

// visit opens the console page at fragment (#/browse?...), then clicks
// the selectors in click, in order.
func visit(t *testing.T, ctx context.Context, p *process, fragment string, click ...string) {
	t.Helper()
	steps := []chromedp.Action[chromedp.Void]{chromedp.Navigate("http://" + p.http + "/console" + fragment)}
	for _, sel := range click {
		steps = append(steps, chromedp.WaitVisible(chromedp.CSS(sel)), chromedp.Click(chromedp.CSS(sel)))
	}
	inBrowser(t, ctx, "open "+fragment, steps...)
}

// xss is a record value that runs script if it is ever parsed as HTML.
const xss = `<img src=x onerror=alert(1)>`

// TestConsoleBrowseShowsValuesAsText runs bin/ferry with the quickstart
// config, produces a record whose value is HTML that would run script,
// logs in on the console in headless Chromium, finds the topic on the
// topics page, and browses it: the value is shown literally (in the
// table and opened), no <img> element exists, and no dialog opened.
func TestConsoleBrowseShowsValuesAsText(t *testing.T) {
	p, bctx, dialogs := adminConsole(t)
	produce(t, p,
		&kgo.Record{Topic: "customers.events", Key: []byte("c-1"), Value: []byte(`{"kind":"signed-up"}`),
			Headers: []kgo.RecordHeader{{Key: "ce_type", Value: []byte("com.example.customer.event")}}},
		&kgo.Record{Topic: "customers.events", Key: []byte("c-xss"), Value: []byte(xss)},
	)

	inBrowser(t, bctx, "the topics page lists customers.events, links orders.commands to its route and stream",
		chromedp.WaitVisible(chromedp.CSS(`#topics tr[data-topic="customers.events"]`)),
		chromedp.WaitVisible(chromedp.CSS(`#topics tr[data-topic="orders.commands"] a[href="#/try?route=create-order"]`)),
		chromedp.WaitVisible(chromedp.CSS(`#topics tr[data-topic="orders.commands"] a[href="#/tail?stream=order-events"]`)),
		chromedp.WaitVisible(chromedp.CSS(`#topics tr[data-topic="orders.commands"] svg.spark polyline`)))

	visit(t, bctx, p, "#/browse?topic=customers.events&from=earliest")
	waitRows(t, bctx, "the records", 2)
	previews := evaluate[[]string](t, bctx, `[...document.querySelectorAll('td.record-preview')].map(td => td.textContent)`)
	shown := false
	for _, s := range previews {
		shown = shown || s == xss
	}
	if !shown {
		t.Errorf("the record values are shown as %q; want one to be %q, as text", previews, xss)
	}
	evaluate[any](t, bctx, `document.querySelectorAll('tr.record button').forEach(b => b.click())`)
	inBrowser(t, bctx, "open every record", chromedp.WaitVisible(chromedp.CSS(`pre.record-value`)))
	value := evaluate[string](t, bctx, `[...document.querySelectorAll('pre.record-value')].map(p => p.textContent).join('\n')`)
	imgs := evaluate[int](t, bctx, `document.querySelectorAll('#main img, #main [onerror]').length`)
	if !strings.Contains(value, xss) || !strings.Contains(value, `"kind": "signed-up"`) {
		t.Errorf("the opened records show %q; want the HTML as text and the JSON pretty", value)
	}
	if imgs != 0 {
		t.Errorf("the page holds %d <img> or onerror elements: a record value was parsed as HTML", imgs)
	}
	if n := dialogs.Dialogs(); n != 0 {
		t.Errorf("%d JavaScript dialogs opened: a record value ran as script", n)
	}
}

// TestConsoleScopesShown: a token without the replay scopes gets the
// topics page's 403, said as such.
func TestConsoleScopesShown(t *testing.T) {
	p := startFerry(t, t.TempDir())
	bctx, _ := consoleBrowser(t, p)
	loginAs(t, bctx, scopedToken(t, "orders:write"))
	inBrowser(t, bctx, "the topics page refuses", chromedp.WaitVisible(chromedp.CSS(`.problem`)))
	msg := evaluate[string](t, bctx, `document.querySelector('.problem').textContent`)
	if !strings.Contains(msg, "Your scopes do not allow this page (403)") {
		t.Errorf("the topics page says %q, want the 403 explained", msg)
	}
}

// produce writes records to p's embedded broker.
func produce(t *testing.T, p *process, recs ...*kgo.Record) {
	t.Helper()
	cl, err := kgo.NewClient(kgo.SeedBrokers(p.kafka))
	if err != nil {
		t.Fatal(err)
	}
	defer cl.Close()
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	if err := cl.ProduceSync(ctx, recs...).FirstErr(); err != nil {
		t.Fatal(err)
	}
}

// produceTo writes records with the given keys and JSON values {"n": i}
// to topic on p's embedded broker.
func produceTo(t *testing.T, p *process, topic string, keys ...string) {
	t.Helper()
	recs := make([]*kgo.Record, len(keys))
	for i, k := range keys {
		recs[i] = &kgo.Record{Topic: topic, Key: []byte(k), Value: fmt.Appendf(nil, `{"n":%d}`, i)}
	}
	produce(t, p, recs...)
}

// waitRows waits until the page shows n records in its table.
func waitRows(t *testing.T, ctx context.Context, what string, n int) {
	t.Helper()
	inBrowser(t, ctx, what, chromedp.Poll[chromedp.Void](fmt.Sprintf(`document.querySelectorAll('tr.record').length === %d`, n)))
}

// TestConsoleTailPauseResume tails the quickstart's stream while records
// are published: they appear live; records published while paused
// appear after resume, each once.
func TestConsoleTailPauseResume(t *testing.T) {
	p, bctx, _ := adminConsole(t)
	visit(t, bctx, p, "#/tail?stream=order-events", "#tail-start")
	inBrowser(t, bctx, "the tail is live",
		chromedp.Poll[chromedp.Void](`document.querySelector('#tail-status')?.textContent.startsWith('Live')`))
	produceTo(t, p, "orders.commands", "c-1", "c-2", "c-3")
	waitRows(t, bctx, "3 live records", 3)
	inBrowser(t, bctx, "pause",
		chromedp.Click(chromedp.CSS(`#tail-pause`)),
		chromedp.Poll[chromedp.Void](`document.querySelector('#tail-status')?.textContent.startsWith('Paused')`),
	)
	produceTo(t, p, "orders.commands", "c-4", "c-5")
	if n := evaluate[int](t, bctx, `document.querySelectorAll('tr.record').length`); n != 3 {
		t.Errorf("a paused tail shows %d records, want the 3 before the pause", n)
	}
	inBrowser(t, bctx, "resume", chromedp.Click(chromedp.CSS(`#tail-pause`)))
	waitRows(t, bctx, "the 2 records published while paused", 5)
	keys := evaluate[[]string](t, bctx, `[...document.querySelectorAll('td.record-key')].map(td => td.textContent).sort()`)
	if got := strings.Join(keys, ","); got != "c-1,c-2,c-3,c-4,c-5" {
		t.Errorf("the tail shows keys %s, want c-1..c-5 once each", got)
	}
}

// TestConsoleRedrive dry-runs a redrive of the records of one key, then
// confirms it: the count and the first records are shown first, and the
// copy writes exactly those records to the target topic.
func TestConsoleRedrive(t *testing.T) {
	p, bctx, _ := adminConsole(t)
	keys := make([]string, 0, 25)
	for i := range 25 {
		keys = append(keys, map[bool]string{true: "redo", false: "other"}[i%5 != 0])
	}
	produceTo(t, p, "customers.events", keys...)
	visit(t, bctx, p, "#/redrive?topic=customers.events&from=earliest&key=redo&target=orders.commands", "#redrive-dry")
	inBrowser(t, bctx, "dry run", chromedp.WaitVisible(chromedp.CSS(`#redrive-confirm`)))
	count := evaluate[string](t, bctx, `document.querySelector('#redrive-count').textContent`)
	if !strings.Contains(count, "20 of 25 records") {
		t.Errorf("the dry run says %q, want 20 of 25 records", count)
	}
	waitRows(t, bctx, "the first 10 records", 10)
	inBrowser(t, bctx, "confirm",
		chromedp.Click(chromedp.CSS(`#redrive-confirm`)),
		chromedp.WaitVisible(chromedp.CSS(`#redrive-done`)),
	)
	recs := consume(t, p.kafka, "orders.commands", 20)
	for _, r := range recs {
		from := ""
		for _, h := range r.Headers {
			if h.Key == "ferry-redriven-from" {
				from = string(h.Value)
			}
		}
		if string(r.Key) != "redo" || !strings.HasPrefix(from, "customers.events/") {
			t.Errorf("copied record key %q, ferry-redriven-from %q; want redo from customers.events", r.Key, from)
		}
	}
}

// TestConsoleTryAndFollow sends a request/response route's request from
// the Try page with Prefer: respond-async, and follows it to its reply
// (the SDK echo responder answers).
func TestConsoleTryAndFollow(t *testing.T) {
	p, bctx, _ := adminConsole(t)
	(&env{addrs: []string{p.kafka}, prefix: "console:"}).echo(t, nil)
	visit(t, bctx, p, "#/try?route=quote")
	inBrowser(t, bctx, "send a quote",
		chromedp.Poll[chromedp.Void](`document.querySelector('#try-route')?.value === 'quote'`),
		chromedp.SetValue(chromedp.CSS(`#try textarea[name="body"]`), `{"symbol":"ACME"}`),
		chromedp.SetValue(chromedp.CSS(`#try input[name="prefer"]`), "respond-async"),
		chromedp.Click(chromedp.CSS(`#try-send`)),
		chromedp.WaitVisible(chromedp.CSS(`#try-follow`)),
	)
	if s := evaluate[string](t, bctx, `document.querySelector('#try-status').textContent`); !strings.HasPrefix(s, "202") {
		t.Errorf("Try says %q, want a 202", s)
	}
	inBrowser(t, bctx, "follow it",
		chromedp.Click(chromedp.CSS(`#try-follow`)),
		chromedp.WaitVisible(chromedp.CSS(`#follow`)),
		chromedp.SetValue(chromedp.CSS(`#follow input[name="wait"]`), "10"),
		chromedp.Click(chromedp.CSS(`#follow button[type="submit"]`)),
		chromedp.Poll[chromedp.Void](`document.querySelector('#follow-status')?.textContent.startsWith('Reply 200')`),
	)
	if body := evaluate[string](t, bctx, `document.querySelector('#follow-body').textContent`); !strings.Contains(body, `"symbol": "ACME"`) {
		t.Errorf("Follow shows the body %q, want the echoed request", body)
	}
	inBrowser(t, bctx, "the request and reply records", chromedp.WaitVisible(chromedp.CSS(`#follow-reply`)))
	req := evaluate[string](t, bctx, `document.querySelector('#follow-request').textContent`)
	rep := evaluate[string](t, bctx, `document.querySelector('#follow-reply').textContent`)
	if !strings.HasPrefix(req, "Request: quotes.requests partition ") || !regexp.MustCompile(`^Reply: quotes\.replies partition \d+ offset \d+ at \S+ · \d+ ms after the request`).MatchString(rep) {
		t.Errorf("Follow shows\n%s\n%s\nwant the request in quotes.requests and its reply in quotes.replies with the latency", req, rep)
	}
}

// TestConsoleBrowseValueFilterPages browses a topic with two value
// filters, five records a page, and follows Next to the end: the pages
// hold, once each, exactly the records kcat reads from the topic that
// meet both conditions.
func TestConsoleBrowseValueFilterPages(t *testing.T) {
	kcat, err := exec.LookPath("kcat")
	if err != nil {
		t.Skip("kcat is not installed (.ci/run installs it)")
	}
	p, bctx, _ := adminConsole(t)
	var recs []*kgo.Record
	for i := range 40 {
		status := map[bool]string{true: "failed", false: "ok"}[i%3 == 0]
		recs = append(recs, &kgo.Record{Topic: "customers.events", Key: fmt.Appendf(nil, "c-%d", i),
			Value: fmt.Appendf(nil, `{"status":%q,"amount":%d}`, status, i*10)})
	}
	recs = append(recs, &kgo.Record{Topic: "customers.events", Key: []byte("not-json"), Value: []byte(`status=failed`)})
	produce(t, p, recs...)

	// What kcat reads, filtered here by the same conditions.
	out, err := exec.Command(kcat, "-b", p.kafka, "-C", "-t", "customers.events", "-o", "beginning", "-e", "-q", "-f", "%k %s\n").Output()
	if err != nil {
		t.Fatalf("kcat: %v", err)
	}
	var want []string
	for _, line := range strings.Split(strings.TrimSpace(string(out)), "\n") {
		key, value, _ := strings.Cut(line, " ")
		var v struct {
			Status string
			Amount float64
		}
		if json.Unmarshal([]byte(value), &v) == nil && v.Status == "failed" && v.Amount > 100 {
			want = append(want, key)
		}
	}
	if len(want) < 6 {
		t.Fatalf("kcat finds %d matching records, want more than a page (kcat output:\n%s)", len(want), out)
	}

	where := url.QueryEscape("/status = \"failed\"\n/amount > 100")
	visit(t, bctx, p, "#/browse?topic=customers.events&from=earliest&limit=5&where="+where)
	const keysShown = `[...document.querySelectorAll('td.record-key')].map(td => td.textContent)`
	pager := func(label, js string) string {
		return "[...document.querySelectorAll('.pager button')].find(b => b.textContent.includes('" + label + "'))" + js
	}
	onPage := func(page int) {
		t.Helper()
		inBrowser(t, bctx, fmt.Sprintf("page %d", page), chromedp.Poll[chromedp.Void](
			fmt.Sprintf(`document.querySelector('#main .note[aria-live]')?.textContent.includes('(page %d)')`, page)))
	}
	var pages [][]string
	for page := 1; ; page++ {
		onPage(page)
		pages = append(pages, evaluate[[]string](t, bctx, keysShown))
		if evaluate[bool](t, bctx, pager("Next", ".disabled")) {
			break
		}
		if page > 20 {
			t.Fatal("more than 20 pages")
		}
		evaluate[any](t, bctx, pager("Next", ".click()"))
	}
	// Previous goes back a page, to the same records.
	if n := len(pages); n > 1 {
		evaluate[any](t, bctx, pager("Previous", ".click()"))
		onPage(n - 1)
		if back := evaluate[[]string](t, bctx, keysShown); !slices.Equal(back, pages[n-2]) {
			t.Errorf("Previous shows %q, want page %d's %q", back, n-1, pages[n-2])
		}
	}
	all := slices.Concat(pages...)
	slices.Sort(want)
	slices.Sort(all)
	if diff := cmp.Diff(want, all); diff != "" {
		t.Errorf("the pages hold other records than kcat's that match (-kcat +console):\n%s", diff)
	}
}

// TestConsoleRedriveByHand picks three records on the Browse page and
// redrives them: the dry run shows those three, and the copy writes
// exactly them to the target topic.
func TestConsoleRedriveByHand(t *testing.T) {
	p, bctx, _ := adminConsole(t)
	produceTo(t, p, "customers.events", "k0", "k1", "k2", "k3", "k4", "k5", "k6", "k7", "k8", "k9")
	visit(t, bctx, p, "#/browse?topic=customers.events&from=earliest")
	waitRows(t, bctx, "the records", 10)
	evaluate[any](t, bctx, `[...document.querySelectorAll('tr.record')]
		.filter(tr => ['k2', 'k5', 'k7'].includes(tr.querySelector('td.record-key').textContent))
		.forEach(tr => tr.querySelector('input.pick').click())`)
	inBrowser(t, bctx, "redrive the selection",
		chromedp.Click(chromedp.CSS(`#browse-redrive`)),
		chromedp.WaitVisible(chromedp.CSS(`#redrive input[name="target"]`)),
		chromedp.SetValue(chromedp.CSS(`#redrive input[name="target"]`), "orders.commands"),
		chromedp.Click(chromedp.CSS(`#redrive-dry`)),
		chromedp.WaitVisible(chromedp.CSS(`#redrive-confirm`)),
	)
	if count := evaluate[string](t, bctx, `document.querySelector('#redrive-count').textContent`); !strings.Contains(count, "3 of 3 selected") {
		t.Errorf("the dry run says %q, want 3 of 3 selected", count)
	}
	inBrowser(t, bctx, "confirm",
		chromedp.Click(chromedp.CSS(`#redrive-confirm`)),
		chromedp.WaitVisible(chromedp.CSS(`#redrive-done`)),
	)
	var keys []string
	for _, r := range consume(t, p.kafka, "orders.commands", 3) {
		keys = append(keys, string(r.Key))
	}
	slices.Sort(keys)
	if got := strings.Join(keys, ","); got != "k2,k5,k7" {
		t.Errorf("the target holds %s, want the picked k2,k5,k7", got)
	}
}

// TestConsoleTailValueFilter tails the quickstart's stream with a value
// filter (its filters allow where): only the records that meet it show.
func TestConsoleTailValueFilter(t *testing.T) {
	p, bctx, _ := adminConsole(t)
	visit(t, bctx, p, "#/tail?stream=order-events")
	inBrowser(t, bctx, "start with a value filter",
		chromedp.WaitVisible(chromedp.CSS(`#tail textarea[name="where"]`)),
		chromedp.SetValue(chromedp.CSS(`#tail textarea[name="where"]`), "/n != 1"),
		chromedp.Click(chromedp.CSS(`#tail-start`)),
		chromedp.Poll[chromedp.Void](`document.querySelector('#tail-status')?.textContent.startsWith('Live')`))
	produceTo(t, p, "orders.commands", "a", "b", "c") // values {"n":0}, {"n":1}, {"n":2}
	waitRows(t, bctx, "the 2 records that meet the filter", 2)
	produceTo(t, p, "orders.commands", "d") // {"n":0}: the sentinel, after b
	waitRows(t, bctx, "the sentinel", 3)
	keys := evaluate[[]string](t, bctx, `[...document.querySelectorAll('td.record-key')].map(td => td.textContent).sort()`)
	if got := strings.Join(keys, ","); got != "a,c,d" {
		t.Errorf("the filtered tail shows keys %s, want a,c,d (b has n=1)", got)
	}
}

// TestConsolePhoneAndDark opens the topics and browse pages on a 390 px
// wide phone screen in dark mode: nothing is wider than the screen (wide
// tables scroll in their own box) and the page is dark.
func TestConsolePhoneAndDark(t *testing.T) {
	p, bctx, _ := adminConsole(t)
	produceTo(t, p, "customers.events", "c-1", "c-2")
	if _, err := chromedp.Call(bctx, emulation.SetDeviceMetricsOverride, emulation.SetDeviceMetricsOverrideParams{Width: 390, Height: 844, DeviceScaleFactor: 2, Mobile: true}); err != nil {
		t.Fatal(err)
	}
	if _, err := chromedp.Call(bctx, emulation.SetEmulatedMedia, emulation.SetEmulatedMediaParams{
		Features: []*emulation.MediaFeature{{Name: "prefers-color-scheme", Value: "dark"}}}); err != nil {
		t.Fatal(err)
	}
	for _, page := range []string{"#/topics", "#/browse?topic=customers.events&from=earliest"} {
		visit(t, bctx, p, page)
		inBrowser(t, bctx, page, chromedp.WaitVisible(chromedp.CSS(`#main table`)))
		if w := evaluate[[]int](t, bctx, `[innerWidth, document.documentElement.scrollWidth]`); w[0] != 390 || w[1] > w[0] {
			t.Errorf("%s: the window is %d px wide and the page %d px; want 390 and no wider", page, w[0], w[1])
		}
		if bg := evaluate[string](t, bctx, `getComputedStyle(document.body).backgroundColor`); bg != "rgb(22, 24, 27)" {
			t.Errorf("%s: the background is %s in dark mode, want the dark rgb(22, 24, 27)", page, bg)
		}
	}
}
