package identity

import "strings"

// Credential schemes.
const (
	// SchemeBearer is a JWT in "Authorization: Bearer <token>" (or in the
	// auth cookie).
	SchemeBearer = "Bearer"
	// SchemeAPIKey is an API key in the API key header or in
	// "Authorization: ApiKey <key>".
	SchemeAPIKey = "ApiKey"
)

// Credential is what a request presents to prove who sent it. Value is
// only valid during the call that receives it: it may point into the
// request's buffers.
type Credential struct {
	Scheme string // SchemeBearer or SchemeAPIKey
	Value  string
}

// Presented is what a request presents, copied out of it by the HTTP
// layer: the values of its credential headers and cookie. A new kind of
// credential adds its field here.
type Presented struct {
	// Authorization is the Authorization header.
	Authorization string
	// APIKey is the API key header, named APIKeyHeader (for messages).
	APIKey, APIKeyHeader string
	// Cookie is the bearer token of the auth cookie, "" when the cookie is
	// absent, malformed or not read for this request (see Config.Cookie).
	Cookie string
}

// Credential picks the one credential p carries: the API key header, else
// the Authorization header, else the cookie. Both headers at once are
// refused as ambiguous; none is ErrNoCredentials. Other errors wrap
// ErrInvalidCredentials and ErrMalformedCredentials.
func (p Presented) Credential() (Credential, error) {
	switch {
	case p.Authorization != "" && p.APIKey != "":
		return Credential{}, Invalid("send one credential, not both an Authorization and an "+p.APIKeyHeader+" header", ErrMalformedCredentials)
	case p.APIKey != "":
		if !isVisibleASCII(p.APIKey) {
			return Credential{}, Invalid("the API key is malformed", ErrMalformedCredentials)
		}
		return Credential{Scheme: SchemeAPIKey, Value: p.APIKey}, nil
	case p.Authorization == "":
		if p.Cookie != "" {
			return Credential{Scheme: SchemeBearer, Value: p.Cookie}, nil
		}
		return Credential{}, ErrNoCredentials
	}
	return ParseAuthorization(p.Authorization)
}

// CookieToken returns the value of an auth cookie if it can be a bearer
// token (visible ASCII), else "".
func CookieToken(v string) string {
	if v == "" || !isVisibleASCII(v) {
		return ""
	}
	return v
}

// ParseAuthorization parses an Authorization header value: "Bearer
// <token68>" or "ApiKey <key>", the scheme case-insensitive (RFC 9110
// 11.1), separated by one or more spaces. It never returns the value in an
// error.
func ParseAuthorization(h string) (Credential, error) {
	i := strings.IndexByte(h, ' ')
	if i < 0 {
		if strings.EqualFold(h, SchemeBearer) || strings.EqualFold(h, SchemeAPIKey) {
			return Credential{}, Invalid("the Authorization header has no credentials after its scheme", ErrMalformedCredentials)
		}
		return Credential{}, Invalid("the Authorization header is malformed; send Bearer <token> or ApiKey <key>", ErrMalformedCredentials)
	}
	scheme, value := h[:i], strings.TrimLeft(h[i+1:], " ")
	var cred Credential
	switch {
	case strings.EqualFold(scheme, SchemeBearer):
		cred.Scheme = SchemeBearer
		if !isToken68(value) {
			return Credential{}, Invalid("the bearer token is empty or malformed", ErrMalformedCredentials)
		}
	case strings.EqualFold(scheme, SchemeAPIKey):
		cred.Scheme = SchemeAPIKey
		if !isVisibleASCII(value) {
			return Credential{}, Invalid("the API key is empty or malformed", ErrMalformedCredentials)
		}
	default:
		return Credential{}, Invalid("the Authorization scheme is not supported; send Bearer <token> or ApiKey <key>", ErrMalformedCredentials)
	}
	cred.Value = value
	return cred, nil
}

// isToken68 reports whether s is an RFC 9110 token68: 1*( ALPHA / DIGIT /
// "-" / "." / "_" / "~" / "+" / "/" ) *"=".
func isToken68(s string) bool {
	n := len(s)
	for n > 0 && s[n-1] == '=' {
		n--
	}
	if n == 0 {
		return false
	}
	for i := 0; i < n; i++ {
		if !token68Chars[s[i]] {
			return false
		}
	}
	return true
}

// token68Chars are the characters of a token68 before its padding.
var token68Chars = func() (t [256]bool) {
	for c := 0; c < 256; c++ {
		t[c] = c >= 'a' && c <= 'z' || c >= 'A' && c <= 'Z' || c >= '0' && c <= '9' || strings.IndexByte("-._~+/", byte(c)) >= 0
	}
	return t
}()

// isVisibleASCII reports whether s is non-empty and only visible ASCII.
func isVisibleASCII(s string) bool {
	if s == "" {
		return false
	}
	for i := 0; i < len(s); i++ {
		if s[i] <= ' ' || s[i] > '~' {
			return false
		}
	}
	return true
}
