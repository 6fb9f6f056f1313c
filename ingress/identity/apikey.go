package identity

import (
	"crypto/sha256"
	"crypto/subtle"
	"encoding/hex"
	"errors"
	"maps"
	"slices"
)

// maxAPIKeyBytes bounds an API key; anything longer is refused unhashed.
const maxAPIKeyBytes = 512

// apiKeys holds the configured keys by the SHA-256 of their value. It is
// immutable and safe for concurrent use.
type apiKeys struct {
	hashes     [][sha256.Size]byte
	principals []*Principal
}

var errUnknownAPIKey = errors.New("unknown API key")

func newAPIKeys(cfgs []APIKeyConfig) *apiKeys {
	k := &apiKeys{}
	for _, c := range cfgs {
		var h [sha256.Size]byte
		_, _ = hex.Decode(h[:], []byte(c.SHA256)) // checked by Validate
		k.hashes = append(k.hashes, h)
		k.principals = append(k.principals, &Principal{
			ID:     c.ID,
			Kind:   PrincipalAPIKey,
			Scopes: slices.Clone(c.Scopes),
			Claims: maps.Clone(c.Claims),
		})
	}
	return k
}

// lookup returns the principal of key. It hashes the key and compares the
// hash with every configured hash in constant time, so that neither the
// position of a match nor a near miss shows in the timing.
func (k *apiKeys) lookup(key string) (*Principal, error) {
	if len(key) > maxAPIKeyBytes {
		return nil, Invalid("the API key is invalid", errUnknownAPIKey)
	}
	h := sha256.Sum256([]byte(key))
	found := -1
	for i := range k.hashes {
		if subtle.ConstantTimeCompare(h[:], k.hashes[i][:]) == 1 {
			found = i
		}
	}
	if found < 0 {
		return nil, Invalid("the API key is invalid", errUnknownAPIKey)
	}
	return k.principals[found], nil
}
