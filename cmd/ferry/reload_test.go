package main

import (
	"slices"
	"testing"
)

// TestRestartOnly: a reload names the settings it cannot apply. The tls
// section is one (its files are re-read from the running paths, but the
// paths, client_auth and min_version are the listener's): a change there
// was applied to nothing and said nothing.
func TestRestartOnly(t *testing.T) {
	t.Parallel()
	base := func() *loaded {
		return &loaded{Config: Config{Listen: ":8443", TLS: &TLSConfig{CertFile: "s.pem", KeyFile: "k.pem", ClientCAFile: "ca.pem", ClientAuth: "verify_if_given"}}}
	}
	if got := restartOnly(base(), base()); len(got) != 0 {
		t.Errorf("the same config needs a restart for %v", got)
	}
	for name, edit := range map[string]func(*loaded){
		"client_auth": func(l *loaded) { l.TLS.ClientAuth = "require" },
		"min_version": func(l *loaded) { l.TLS.MinVersion = "1.3" },
		"a new path":  func(l *loaded) { l.TLS.CertFile = "other.pem" },
		"no tls":      func(l *loaded) { l.TLS = nil },
	} {
		next := base()
		edit(next)
		if got := restartOnly(base(), next); !slices.Equal(got, []string{"tls"}) {
			t.Errorf("%s: needs_restart %v, want [tls]", name, got)
		}
	}
}
