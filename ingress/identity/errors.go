package identity

import (
	"errors"

	"github.com/golang-jwt/jwt/v5"
)

var (
	// ErrNoCredentials means a request to a protected endpoint carries no
	// credentials. It becomes a 401 with a bare WWW-Authenticate challenge.
	ErrNoCredentials = errors.New("no credentials")
	// ErrInvalidCredentials means the credentials were malformed, unknown,
	// expired or failed verification. Errors wrapping it say why in words
	// that are safe to show the client (Reason): never a key or a token.
	ErrInvalidCredentials = errors.New("invalid credentials")
	// ErrMalformedCredentials means the credentials could not be read at
	// all (RFC 6750's invalid_request). Errors wrapping it wrap
	// ErrInvalidCredentials too.
	ErrMalformedCredentials = errors.New("malformed credentials")
	// ErrSchemeNotAccepted means the credentials are of a kind no key is
	// configured for. Errors wrapping it wrap ErrInvalidCredentials too.
	ErrSchemeNotAccepted = errors.New("credential scheme not accepted")
)

// credentialError is an ErrInvalidCredentials with the reason the client
// may read (reason) and the cause only the log may read.
type credentialError struct {
	reason string
	cause  error
}

func (e *credentialError) Error() string { return ErrInvalidCredentials.Error() + ": " + e.reason }

func (e *credentialError) Is(target error) bool { return target == ErrInvalidCredentials }

func (e *credentialError) Unwrap() error { return e.cause }

// Invalid returns an error wrapping ErrInvalidCredentials with a reason
// the client may read and the underlying cause, which only the log may.
func Invalid(reason string, cause error) error {
	return &credentialError{reason: reason, cause: cause}
}

// Reason returns the client-safe reason of an authentication error.
func Reason(err error) string {
	var ce *credentialError
	if errors.As(err, &ce) {
		return ce.reason
	}
	return "the credentials are invalid"
}

// FailureReason is the bounded metric label of an authentication failure:
// one of a fixed set of words, never text from the request.
func FailureReason(err error) string {
	switch {
	case errors.Is(err, ErrNoCredentials):
		return "missing"
	case errors.Is(err, ErrMalformedCredentials):
		return "malformed"
	case errors.Is(err, errUnknownAPIKey):
		return "unknown_api_key"
	case errors.Is(err, ErrSchemeNotAccepted):
		return "scheme_not_accepted"
	case errors.Is(err, errTokenTooLarge):
		return "token_too_large"
	case errors.Is(err, jwt.ErrTokenExpired):
		return "token_expired"
	case errors.Is(err, jwt.ErrTokenNotValidYet):
		return "token_not_yet_valid"
	case errors.Is(err, jwt.ErrTokenSignatureInvalid):
		return "bad_signature"
	case errors.Is(err, jwt.ErrTokenInvalidIssuer), errors.Is(err, jwt.ErrTokenInvalidAudience):
		return "wrong_issuer_or_audience"
	case errors.Is(err, ErrClientCertificate):
		return "invalid_client_certificate"
	}
	return "invalid_token"
}
