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
	// check takes its file as serve does too (-c, --config).
	for _, args := range [][]string{{"-c", "../../testdata/ferry.yaml"}, {"--config", "../../testdata/ferry.yaml"}, {"--config=../../testdata/ferry.yaml"}} {
		out.Reset()
		if code := run(t.Context(), append([]string{"check"}, args...), &out, &errOut); code != 0 || !strings.Contains(out.String(), ": ok") {
			t.Errorf("ferry check %v exits %d (%s), want 0 and ok", args, code, out.String())
		}
	}
	if code := run(t.Context(), []string{"check", "-c", "../../testdata/ferry.yaml", "other.yaml"}, &out, &errOut); code != 2 {
		t.Errorf("ferry check with -c and a file exits %d, want 2", code)
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

// TestRedisURLIncomplete (issue 16 item 19): a redis.url without a host
// (which go-redis would quietly read as localhost:6379), with a bad port
// or database, or a unix:// URL without a path is refused, and the
// message never repeats the password; complete URLs pass.
func TestRedisURLIncomplete(t *testing.T) {
	t.Parallel()
	tests := []struct{ url, want string }{
		{"redis://", `redis.url: "redis://" has no host; write redis://HOST[:PORT][/DB]`},
		{"rediss://", `redis.url: "rediss://" has no host; write rediss://HOST[:PORT][/DB]`},
		{"redis://:6379", `redis.url: "redis://:6379" has no host; write redis://HOST[:PORT][/DB]`},
		{"redis:///0", `redis.url: "redis:///0" has no host; write redis://HOST[:PORT][/DB]`},
		{"redis://u:pw-in-url@/0", `redis.url: "redis://u:xxxxx@/0" has no host; write redis://HOST[:PORT][/DB]`},
		{"redis://host:0", `redis.url: "redis://host:0": the port must be 1-65535`},
		{"redis://host:99999", `redis.url: "redis://host:99999": the port must be 1-65535`},
		{"redis://u:pw-in-url@host:abc", `redis.url: not a valid URL`},
		{"redis://host/x", `redis.url: "redis://host/x": redis: invalid database number: "x"`},
		{"unix://", `redis.url: "unix://" has no socket path; write unix:///PATH/TO/redis.sock`},
		{"http://localhost:6379", `redis.url: must be a redis://, rediss:// or unix:// URL`},
		{"redis://host", ""},
		{"redis://host:6380/3", ""},
		{"rediss://u:pw@host:6380/0", ""},
		{"redis://[::1]:6379", ""},
		{"unix:///run/redis.sock", ""},
	}
	for _, tt := range tests {
		_, err := (Config{Redis: RedisConfig{URL: tt.url}}).compile()
		var got string
		for _, e := range prefixed("", err) {
			if strings.HasPrefix(e.Error(), "redis.") {
				got = e.Error()
			}
		}
		if got != tt.want {
			t.Errorf("redis.url %q: %q, want %q", tt.url, got, tt.want)
		}
		if strings.Contains(got, "pw-in-url") {
			t.Errorf("redis.url %q: the message repeats the password: %q", tt.url, got)
		}
	}
}

func TestRedisAddress(t *testing.T) {
	t.Parallel()
	for url, want := range map[string]string{
		"redis://host":                   "redis://host:6379/0",
		"rediss://user:pw@host:6380/3":   "rediss://host:6380/3",
		"redis://:pw@[::1]:6379/1":       "redis://[::1]:6379/1",
		"unix://user:pw@/run/redis.sock": "unix:///run/redis.sock",
	} {
		if got := (RedisConfig{URL: url}).Address(); got != want {
			t.Errorf("Address(%q) = %q, want %q", url, got, want)
		}
	}
}
