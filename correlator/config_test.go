package correlator

import (
	"strings"
	"testing"
	"time"
)

func TestConfigValidate(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name string
		cfg  Config
		want []string // substrings of the error, in order; none means valid
	}{
		{name: "defaults", cfg: Config{}},
		{name: "partition layout", cfg: Config{Layout: "partition"}},
		{name: "bad layout", cfg: Config{Layout: "ring"}, want: []string{`layout: must be "shared" or "partition", not "ring"`}},
		{name: "negative caps", cfg: Config{MaxPending: -1, MaxPendingPerPrincipal: -1}, want: []string{"max_pending: must be > 0", "max_pending_per_principal: must be > 0"}},
		{name: "per principal over global", cfg: Config{MaxPending: 10, MaxPendingPerPrincipal: 20}, want: []string{"max_pending_per_principal: must be <= max_pending (10)"}},
		{name: "short ttl", cfg: Config{ResultTTL: time.Millisecond}, want: []string{"result_ttl: must be at least 1s"}},
		{name: "headers", cfg: Config{HeaderAllowlist: []string{"X-Ok", "content-length", "bad header"}},
			want: []string{"header_allowlist[1]: content-length cannot be set by replies", `header_allowlist[2]: "bad header" is not a header name`}},
		{name: "prefix", cfg: Config{KeyPrefix: "a{b}"}, want: []string{"key_prefix: must not contain spaces or braces"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			err := tt.cfg.WithDefaults().Validate()
			if len(tt.want) == 0 {
				if err != nil {
					t.Errorf("Validate() = %v, want nil", err)
				}
				return
			}
			if err == nil {
				t.Fatalf("Validate() = nil, want %q", tt.want)
			}
			lines := strings.Split(err.Error(), "\n")
			if len(lines) != len(tt.want) {
				t.Fatalf("Validate() = %q, want %d problems", lines, len(tt.want))
			}
			for i, w := range tt.want {
				if lines[i] != w {
					t.Errorf("Validate() problem %d = %q, want %q", i, lines[i], w)
				}
			}
		})
	}
}
