package webhook

import (
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"
)

func secretFile(t testing.TB) string {
	t.Helper()
	p := filepath.Join(t.TempDir(), "hook.secret")
	if err := os.WriteFile(p, []byte("whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	return p
}

// TestValidateNamesEveryField: each problem comes with its field path.
func TestValidateNamesEveryField(t *testing.T) {
	t.Parallel()
	good := Config{Name: "billing", Topic: "orders.events", URL: "https://billing.internal/hooks/orders", SecretFile: secretFile(t)}.WithDefaults()
	if err := Validate([]Config{good}); err != nil {
		t.Fatalf("Validate(good) = %v", err)
	}
	bad := []Config{
		good,
		{Name: "billing", Topic: "__consumer_offsets", URL: "ftp://x", SecretFile: "/nonexistent/secret",
			Filters: []string{"key=a", "header.ce_type=x", "key=b"}, DeadLetterTopic: "__consumer_offsets",
			Retry: RetryConfig{MaxAttempts: -1, Backoff: time.Minute, MaxBackoff: time.Second}, MaxInFlight: 5000},
		{Name: "bad name!", Topic: "t", URL: "https://user:pw@host/x", Filters: []string{"tenant=acme"},
			CircuitBreaker: BreakerConfig{Failures: -1, OpenFor: -time.Second}, Timeout: -1},
		{Name: "loop", Topic: "t", URL: "http://host/x#frag", SecretFile: secretFile(t), DeadLetterTopic: "t"},
	}
	for i := 1; i < len(bad); i++ {
		bad[i] = bad[i].WithDefaults()
	}
	bad[1].Retry.MaxAttempts = -1
	err := Validate(bad)
	if err == nil {
		t.Fatal("Validate(bad) = nil")
	}
	var got []string
	for _, line := range strings.Split(err.Error(), "\n") {
		field, _, _ := strings.Cut(line, ": ")
		got = append(got, field)
	}
	want := []string{
		"webhooks[1].name", "webhooks[1].topic", "webhooks[1].url", "webhooks[1].filters[2]", "webhooks[1].secret_file",
		"webhooks[1].dead_letter_topic", "webhooks[1].retry.max_attempts", "webhooks[1].retry.max_backoff", "webhooks[1].max_in_flight",
		"webhooks[2].name", "webhooks[2].url", "webhooks[2].filters[0]", "webhooks[2].secret_file", "webhooks[2].timeout",
		"webhooks[2].circuit_breaker.failures", "webhooks[2].circuit_breaker.open_for",
		"webhooks[3].url", "webhooks[3].dead_letter_topic",
	}
	if diff := cmp.Diff(want, got); diff != "" {
		t.Errorf("Validate fields (-want +got):\n%s\nerror:\n%v", diff, err)
	}
	for _, s := range []string{"duplicate of webhooks[0].name", "scheme must be http or https", "must not carry credentials", "key is already filtered by filters[0]"} {
		if !strings.Contains(err.Error(), s) {
			t.Errorf("Validate error lacks %q:\n%v", s, err)
		}
	}
}

func TestParseFilters(t *testing.T) {
	t.Parallel()
	f, err := ParseFilters([]string{"key=c-42", "header.X-Tenant=acme=1"})
	if err != nil {
		t.Fatal(err)
	}
	if !f.ByKey || f.Key != "c-42" || len(f.Headers) != 1 || f.Headers[0].Name != "X-Tenant" || f.Headers[0].Value != "acme=1" {
		t.Errorf("ParseFilters = %+v", f)
	}
	for _, in := range []string{"key", "header.=x", "header.a b=x", "value=x"} {
		if _, err := ParseFilters([]string{in}); err == nil {
			t.Errorf("ParseFilters(%q) = nil error", in)
		}
	}
}

func TestGroupID(t *testing.T) {
	t.Parallel()
	if g := (Config{Name: "billing"}).GroupID(); g != "ferry-webhook-billing" {
		t.Errorf("GroupID = %q", g)
	}
}
