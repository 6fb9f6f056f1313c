package webhook

import (
	"bufio"
	"bytes"
	"crypto/hmac"
	"crypto/sha256"
	"encoding/base64"
	"fmt"
	"os"
	"strconv"
	"strings"
)

// SecretPrefix starts every signing secret (Standard Webhooks: "whsec_"
// and the base64 of the key).
const SecretPrefix = "whsec_"

// Bounds of a secret's key, in bytes (Standard Webhooks: at least 24, at
// most 64).
const (
	minSecretBytes = 24
	maxSecretBytes = 64
)

// Secret is one HMAC-SHA256 signing key. Its String never shows the key.
type Secret struct{ key []byte }

// String hides the key, so that a Secret in a log line reveals nothing.
func (Secret) String() string { return SecretPrefix + "…" }

// ParseSecret reads "whsec_<base64 of 24-64 bytes>".
func ParseSecret(s string) (Secret, error) {
	b64, ok := strings.CutPrefix(s, SecretPrefix)
	if !ok {
		return Secret{}, fmt.Errorf("must start with %s", SecretPrefix)
	}
	key, err := base64.StdEncoding.DecodeString(b64)
	if err != nil {
		return Secret{}, fmt.Errorf("the part after %s is not standard base64", SecretPrefix)
	}
	if len(key) < minSecretBytes || len(key) > maxSecretBytes {
		return Secret{}, fmt.Errorf("the key is %d bytes; it must be %d to %d (e.g. head -c 32 /dev/urandom | base64)", len(key), minSecretBytes, maxSecretBytes)
	}
	return Secret{key: key}, nil
}

// LoadSecrets reads a secret file: one secret per line (blank lines are
// skipped). Every secret signs every request, so that a receiver can move
// to a new secret without losing a delivery: add the new one, let the
// receiver accept it, then remove the old one.
func LoadSecrets(path string) ([]Secret, error) {
	raw, err := os.ReadFile(path)
	if err != nil {
		return nil, err // names the file
	}
	var out []Secret
	sc := bufio.NewScanner(bytes.NewReader(raw))
	for n := 1; sc.Scan(); n++ {
		line := strings.TrimSpace(sc.Text())
		if line == "" {
			continue
		}
		s, err := ParseSecret(line)
		if err != nil {
			return nil, fmt.Errorf("%s line %d: %w", path, n, err)
		}
		out = append(out, s)
	}
	if len(out) == 0 {
		return nil, fmt.Errorf("%s holds no secret", path)
	}
	return out, nil
}

// Sign returns the webhook-signature header value for one request: for
// each secret "v1," and the base64 of HMAC-SHA256 over "id.timestamp.body",
// separated by spaces (Standard Webhooks 1.0, symmetric signatures).
func Sign(secrets []Secret, id string, timestamp int64, body []byte) string {
	var b strings.Builder
	var ts [20]byte
	tsb := strconv.AppendInt(ts[:0], timestamp, 10)
	for i, s := range secrets {
		mac := hmac.New(sha256.New, s.key)
		mac.Write([]byte(id))
		mac.Write([]byte{'.'})
		mac.Write(tsb)
		mac.Write([]byte{'.'})
		mac.Write(body)
		if i > 0 {
			b.WriteByte(' ')
		}
		b.WriteString("v1,")
		b.WriteString(base64.StdEncoding.EncodeToString(mac.Sum(nil)))
	}
	return b.String()
}
