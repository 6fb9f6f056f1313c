package ingress

import (
	"errors"
	"strings"

	"github.com/ferry-gw/ferry/ingress/identity"
	"github.com/ferry-gw/ferry/ingress/policy"
)

// AuthConfig is the `auth` section of ferry.yaml, composed inline of two
// parts: who may call ferry (JWT bearer tokens, API keys: identity.Config,
// embedded) and the traffic policy around them (rate_limits and
// idempotency: Policy).
type AuthConfig struct {
	identity.Config `yaml:",inline"`
	Policy          policy.Config `yaml:",inline"`
}

// WithDefaults returns c with every unset field at its documented default.
func (c AuthConfig) WithDefaults() AuthConfig {
	c.Config = c.Config.WithDefaults()
	c.Policy = c.Policy.WithDefaults()
	return c
}

// Validate reports every problem of the section, each as "field: problem",
// in the order they always came: the credentials', the policy's, then the
// jwt section's. It reads no files and no environment; Check does.
func (c AuthConfig) Validate() error {
	var errs, jwtErrs []error
	for _, err := range splitErrs(c.Config.Validate()) {
		if strings.HasPrefix(err.Error(), "jwt") {
			jwtErrs = append(jwtErrs, err)
		} else {
			errs = append(errs, err)
		}
	}
	errs = append(errs, splitErrs(c.Policy.Validate())...)
	return errors.Join(append(errs, jwtErrs...)...)
}
