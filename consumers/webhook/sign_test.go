package webhook

import (
	"os"
	"path/filepath"
	"strings"
	"testing"
)

// TestSignStandardWebhooksVector signs the test vector of the Standard
// Webhooks reference libraries: a receiver using any of them verifies
// ferry's signatures.
func TestSignStandardWebhooksVector(t *testing.T) {
	t.Parallel()
	s, err := ParseSecret("whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw")
	if err != nil {
		t.Fatal(err)
	}
	got := Sign([]Secret{s}, "msg_p5jXN8AQM9LWM0D4loKWxJek", 1614265330, []byte(`{"test": 2432232314}`))
	if want := "v1,g0hM9SsE+OTPJTGt/tmIKtSyZlE3uFJELVlNIOLJ1OE="; got != want {
		t.Errorf("Sign = %q, want %q", got, want)
	}
	two := Sign([]Secret{s, s}, "msg_p5jXN8AQM9LWM0D4loKWxJek", 1614265330, []byte(`{"test": 2432232314}`))
	if want := "v1,g0hM9SsE+OTPJTGt/tmIKtSyZlE3uFJELVlNIOLJ1OE= v1,g0hM9SsE+OTPJTGt/tmIKtSyZlE3uFJELVlNIOLJ1OE="; two != want {
		t.Errorf("Sign with two secrets = %q, want both signatures space-separated", two)
	}
	if strings.Contains(s.String(), "MfKQ") {
		t.Errorf("Secret.String() = %q shows the key", s.String())
	}
}

func TestParseSecret(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name, in, err string
	}{
		{"24 bytes", "whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw", ""},
		{"64 bytes", "whsec_" + strings.Repeat("QUFB", 21) + "QQ==", ""},
		{"no prefix", "MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw", "must start with whsec_"},
		{"not base64", "whsec_not base64!", "not standard base64"},
		{"too short", "whsec_c2hvcnQ=", "the key is 5 bytes; it must be 24 to 64"},
		{"too long", "whsec_" + strings.Repeat("QUFB", 22), "the key is 66 bytes"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			_, err := ParseSecret(tt.in)
			switch {
			case tt.err == "" && err != nil:
				t.Errorf("ParseSecret(%q) = %v, want nil", tt.in, err)
			case tt.err != "" && (err == nil || !strings.Contains(err.Error(), tt.err)):
				t.Errorf("ParseSecret(%q) = %v, want an error containing %q", tt.in, err, tt.err)
			}
		})
	}
}

func TestLoadSecrets(t *testing.T) {
	t.Parallel()
	dir := t.TempDir()
	write := func(name, text string) string {
		p := filepath.Join(dir, name)
		if err := os.WriteFile(p, []byte(text), 0o600); err != nil {
			t.Fatal(err)
		}
		return p
	}
	two := write("two", "whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw\n\n  whsec_"+strings.Repeat("QUFB", 8)+"  \n")
	if s, err := LoadSecrets(two); err != nil || len(s) != 2 {
		t.Errorf("LoadSecrets(two lines) = %d secrets, %v; want 2, nil", len(s), err)
	}
	if _, err := LoadSecrets(write("empty", "\n\n")); err == nil || !strings.Contains(err.Error(), "holds no secret") {
		t.Errorf("LoadSecrets(empty) = %v, want 'holds no secret'", err)
	}
	if _, err := LoadSecrets(write("bad", "whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw\nsecret\n")); err == nil || !strings.Contains(err.Error(), "line 2: must start with whsec_") {
		t.Errorf("LoadSecrets(bad second line) = %v, want it to name line 2", err)
	}
	if _, err := LoadSecrets(filepath.Join(dir, "missing")); err == nil || !strings.Contains(err.Error(), "no such file") {
		t.Errorf("LoadSecrets(missing) = %v, want no such file", err)
	}
}
