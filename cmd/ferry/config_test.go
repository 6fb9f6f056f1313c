package main

import (
	"flag"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"
	"gopkg.in/yaml.v3"
)

var update = flag.Bool("update", false, "rewrite the golden files of TestCheckGolden")

// TestCheckGolden runs `ferry check` on each testdata/config/NAME.yaml and
// compares what it prints with NAME.golden: its warnings (stderr) and
// "ok", or every problem, one per line, with its field path. Issue 16
// item 15: unknown-keys (did you mean), route-overlap (warnings).
func TestCheckGolden(t *testing.T) {
	files, err := filepath.Glob("testdata/config/*.yaml")
	if err != nil || len(files) == 0 {
		t.Fatalf("no golden configs: %v", err)
	}
	for _, f := range files {
		name := strings.TrimSuffix(filepath.Base(f), ".yaml")
		t.Run(name, func(t *testing.T) {
			var stdout, stderr strings.Builder
			code := run(t.Context(), []string{"check", f}, &stdout, &stderr)
			got := stderr.String() + "ok\n"
			if code != 0 {
				got = strings.TrimSuffix(stderr.String(), "ferry: invalid config\n")
			} else if !strings.HasSuffix(stdout.String(), "ok ("+strings.SplitN(stdout.String(), "ok (", 2)[1]) {
				t.Errorf("check printed %q", stdout.String())
			}
			if code != 0 && code != 1 {
				t.Errorf("check exit code = %d, want 0 or 1", code)
			}
			golden := strings.TrimSuffix(f, ".yaml") + ".golden"
			if *update {
				if err := os.WriteFile(golden, []byte(got), 0o644); err != nil {
					t.Fatal(err)
				}
				return
			}
			want, err := os.ReadFile(golden)
			if err != nil {
				t.Fatal(err)
			}
			if diff := cmp.Diff(string(want), got); diff != "" {
				t.Errorf("ferry check %s (-want +got):\n%s", f, diff)
			}
		})
	}
}

func TestQuickstartConfigsAreValid(t *testing.T) {
	for _, f := range []string{"../../testdata/ferry.yaml", "../../testdata/ferry.compose.yaml"} {
		if _, err := loadConfig(f); err != nil {
			t.Errorf("loadConfig(%s):\n%s", f, formatErrors(err))
		}
	}
}

func TestExpandEnv(t *testing.T) {
	t.Setenv("FERRY_T_HOST", "kafka-1")
	t.Setenv("FERRY_T_EMPTY", "")
	tests := []struct{ in, want, err string }{
		{"${FERRY_T_HOST}:9092", "kafka-1:9092", ""},
		{"${FERRY_T_NOPE:-fallback}", "fallback", ""},
		{"${FERRY_T_EMPTY:-fallback}", "fallback", ""},
		{"${FERRY_T_NOPE:-}", "", ""},
		{"$${FERRY_T_HOST} stays", "${FERRY_T_HOST} stays", ""},
		{"cost: $5 and {path.id}", "cost: $5 and {path.id}", ""},
		{"${FERRY_T_NOPE}", "", "environment variable FERRY_T_NOPE is not set"},
	}
	for _, tt := range tests {
		n := &yaml.Node{Kind: yaml.ScalarNode, Value: tt.in}
		err := expandEnv(n)
		if tt.err != "" {
			if err == nil || err.Error() != tt.err {
				t.Errorf("expandEnv(%q) error = %v, want %q", tt.in, err, tt.err)
			}
			continue
		}
		if err != nil || n.Value != tt.want {
			t.Errorf("expandEnv(%q) = %q, %v; want %q", tt.in, n.Value, err, tt.want)
		}
	}
}

func TestLoadConfigAppliesDefaults(t *testing.T) {
	dir := t.TempDir()
	path := filepath.Join(dir, "ferry.yaml")
	if err := os.WriteFile(path, []byte("routes: [{name: a, path: /v1/a, topic: a, auth: none}]\nkafka: {embedded: {data_dir: data}}\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	cfg, err := loadConfig(path)
	if err != nil {
		t.Fatalf("loadConfig: %v", err)
	}
	if cfg.Listen != ":8080" || cfg.Kafka.Embedded.Listen != "127.0.0.1:9092" || !*cfg.Kafka.CreateTopics ||
		cfg.Kafka.ProduceTimeout != 10*time.Second || cfg.Server.GracePeriod != 15*time.Second {
		t.Errorf("defaults not applied: %+v", cfg.Config)
	}
	if len(cfg.Server.TrustedProxies) != 0 || cfg.Server.ProxyHeader != "X-Forwarded-For" {
		t.Errorf("server.trusted_proxies = %q, proxy_header = %q; want none (headers ignored) and X-Forwarded-For",
			cfg.Server.TrustedProxies, cfg.Server.ProxyHeader)
	}
	if want := filepath.Join(dir, "data"); cfg.Kafka.Embedded.DataDir != want {
		t.Errorf("data_dir = %q, want %q (relative to the config file)", cfg.Kafka.Embedded.DataDir, want)
	}
}

func TestRunUsage(t *testing.T) {
	var out, errOut strings.Builder
	if code := run(t.Context(), nil, &out, &errOut); code != 2 {
		t.Errorf("ferry with no command exits %d, want 2", code)
	}
	if code := run(t.Context(), []string{"bogus"}, &out, &errOut); code != 2 {
		t.Errorf("ferry bogus exits %d, want 2", code)
	}
	if code := run(t.Context(), []string{"check"}, &out, &errOut); code != 2 {
		t.Errorf("ferry check without a file exits %d, want 2", code)
	}
	if code := run(t.Context(), []string{"check", "does-not-exist.yaml"}, &out, &errOut); code != 1 {
		t.Errorf("ferry check on a missing file exits %d, want 1", code)
	}
}

func TestEditDistance(t *testing.T) {
	t.Parallel()
	for _, tt := range []struct {
		a, b string
		want int
	}{{"", "", 0}, {"scope", "scopes", 1}, {"lsiten", "listen", 1}, {"timout", "timeout", 1}, {"kafak", "kafka", 1}, {"retries", "reply", 5}, {"ab", "", 2}} {
		if got := editDistance(tt.a, tt.b); got != tt.want {
			t.Errorf("editDistance(%q, %q) = %d, want %d", tt.a, tt.b, got, tt.want)
		}
	}
}
