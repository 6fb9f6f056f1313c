package identity

import (
	"errors"
	"strings"
	"testing"
)

// FuzzAuthorization fuzzes ParseAuthorization, which reads the untrusted
// Authorization header. Invariants:
//   - it never panics;
//   - a success has scheme Bearer or ApiKey and a non-empty value of
//     visible ASCII that ends the input; a Bearer value is a token68;
//     formatting the credential back and parsing it again gives it again;
//   - a failure wraps ErrInvalidCredentials and ErrMalformedCredentials,
//     and its message is one of a fixed set: it never echoes the input.
func FuzzAuthorization(f *testing.F) {
	for _, s := range []string{
		"Bearer eyJhbGciOiJFZERTQSJ9.eyJzdWIiOiJhIn0.c2ln", "bearer a", "Bearer  a==", "Bearer", "Bearer ",
		"ApiKey k-1", "apikey  k", "Basic dXNlcjpw", "", " ", "Bearer a b", "Bearer\ta", "Bearer é", "ApiKey \x7f",
	} {
		f.Add(s)
	}
	reasons := map[string]bool{}
	for _, s := range []string{
		"the Authorization header has no credentials after its scheme",
		"the Authorization header is malformed; send Bearer <token> or ApiKey <key>",
		"the bearer token is empty or malformed",
		"the API key is empty or malformed",
		"the Authorization scheme is not supported; send Bearer <token> or ApiKey <key>",
	} {
		reasons[ErrInvalidCredentials.Error()+": "+s] = true
	}
	f.Fuzz(func(t *testing.T, h string) {
		cred, err := ParseAuthorization(h)
		if err != nil {
			if !errors.Is(err, ErrInvalidCredentials) || !errors.Is(err, ErrMalformedCredentials) || !reasons[err.Error()] {
				t.Fatalf("ParseAuthorization(%q) error %q is not a fixed malformed-credentials error", h, err)
			}
			if cred != (Credential{}) {
				t.Fatalf("ParseAuthorization(%q) = %+v with error %v", h, cred, err)
			}
			return
		}
		if cred.Scheme != SchemeBearer && cred.Scheme != SchemeAPIKey {
			t.Fatalf("ParseAuthorization(%q) scheme %q", h, cred.Scheme)
		}
		if !isVisibleASCII(cred.Value) || !strings.HasSuffix(h, cred.Value) {
			t.Fatalf("ParseAuthorization(%q) value %q is not visible ASCII ending the input", h, cred.Value)
		}
		if cred.Scheme == SchemeBearer && !isToken68(cred.Value) {
			t.Fatalf("ParseAuthorization(%q) bearer %q is not a token68", h, cred.Value)
		}
		again, err := ParseAuthorization(cred.Scheme + " " + cred.Value)
		if err != nil || again != cred {
			t.Fatalf("ParseAuthorization(format(%+v)) = %+v, %v", cred, again, err)
		}
	})
}
