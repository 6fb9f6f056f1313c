package main

import (
	"crypto"
	"crypto/ecdsa"
	"crypto/ed25519"
	"crypto/elliptic"
	"crypto/rsa"
	"crypto/x509"
	"encoding/pem"
	"errors"
	"flag"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"strings"
	"time"

	"github.com/golang-jwt/jwt/v5"
)

// Defaults of `ferry token`: the quickstart's dev key and claims, so that
// its tokens pass testdata/ferry.yaml. DEV ONLY: the private key is public
// in this repository.
const (
	devKeyFile  = "testdata/keys/dev-jwt.key"
	devKeyEnv   = "FERRY_DEV_KEY"
	devKID      = "dev"
	devIssuer   = "ferry-dev"
	devAudience = "ferry"
	// expiredAgo is how long ago an --expired token expired: far past any
	// sensible auth.jwt.leeway (default 30s), so it is refused as expired.
	expiredAgo = time.Hour
)

// stringList is a repeatable flag.
type stringList []string

func (l *stringList) String() string     { return strings.Join(*l, ",") }
func (l *stringList) Set(v string) error { *l = append(*l, v); return nil }

// tokenCmd mints a JWT signed with a private key from a PEM file (by
// default the quickstart's dev key) and prints it.
func tokenCmd(args []string, stdout, stderr io.Writer) error {
	fs := flag.NewFlagSet("token", flag.ContinueOnError)
	fs.SetOutput(stderr)
	fs.Usage = func() {
		fmt.Fprint(stderr, `usage: ferry token [flags]

Mints a JWT for trying ferry out. Without --key it signs with the dev key
(DEV ONLY): $`+devKeyEnv+` when set, else `+devKeyFile+` found in
the working directory or a folder above it, or above the ferry binary.

Flags:
`)
		printFlags(stderr, fs, nil)
	}
	var (
		keyFile = fs.String("key", "", "private key `file` (PEM: PKCS#8, PKCS#1 or SEC 1); default the dev key")
		expired = fs.Bool("expired", false, "mint a token that expired an hour ago (to test clients' handling of 401)")
		kid     = fs.String("kid", devKID, "key id (kid header)")
		sub     = fs.String("sub", "dev-user", "subject (sub claim)")
		iss     = fs.String("iss", devIssuer, "issuer (iss claim)")
		aud     = fs.String("aud", devAudience, "audience (aud claim)")
		ttl     = fs.Duration("ttl", time.Hour, "lifetime (exp = now + ttl)")
		scopes  stringList
		claims  stringList
	)
	fs.Var(&scopes, "scope", "scope to grant (repeatable, or space-separated)")
	fs.Var(&claims, "claim", "extra string claim `name=value` (repeatable), e.g. tenant=acme")
	if err := fs.Parse(args); err != nil {
		if errors.Is(err, flag.ErrHelp) {
			return err
		}
		return errUsage // the flag package printed the problem and the usage
	}
	if fs.NArg() > 0 {
		fmt.Fprintf(stderr, "ferry token: unexpected argument %q\n", fs.Arg(0))
		return errUsage
	}
	if *ttl <= 0 {
		fmt.Fprintln(stderr, "ferry token: -ttl must be > 0")
		return errUsage
	}
	path := *keyFile
	if path == "" {
		var err error
		if path, err = devKeyPath(); err != nil {
			return fmt.Errorf("token: %w", err)
		}
	}
	key, method, err := readSigningKey(path)
	if err != nil {
		return fmt.Errorf("token: %w", err)
	}
	now := time.Now()
	if *expired {
		now = now.Add(-*ttl - expiredAgo) // exp = now - expiredAgo
	}
	c := jwt.MapClaims{
		"sub": *sub,
		"iat": now.Unix(),
		"nbf": now.Unix(),
		"exp": now.Add(*ttl).Unix(),
	}
	if *iss != "" {
		c["iss"] = *iss
	}
	if *aud != "" {
		c["aud"] = *aud
	}
	if s := strings.Join(strings.Fields(strings.Join(scopes, " ")), " "); s != "" {
		c["scope"] = s
	}
	for _, kv := range claims {
		name, value, ok := strings.Cut(kv, "=")
		if !ok || name == "" {
			fmt.Fprintf(stderr, "ferry token: -claim %q: want name=value\n", kv)
			return errUsage
		}
		c[name] = value
	}
	t := jwt.NewWithClaims(method, c)
	if *kid != "" {
		t.Header["kid"] = *kid
	}
	signed, err := t.SignedString(key)
	if err != nil {
		return fmt.Errorf("token: sign: %w", err)
	}
	fmt.Fprintln(stdout, signed)
	return nil
}

// devKeyPath finds the dev key: $FERRY_DEV_KEY when set, else
// testdata/keys/dev-jwt.key in the working directory or a folder above it
// (ferry token run inside the repository), else above the executable's
// folder (bin/ferry run from anywhere). Its error names every path tried.
func devKeyPath() (string, error) {
	if p := os.Getenv(devKeyEnv); p != "" {
		if _, err := os.Stat(p); err != nil {
			return "", fmt.Errorf("$%s names %s: %w", devKeyEnv, p, err)
		}
		return p, nil
	}
	var starts, tried []string
	if wd, err := os.Getwd(); err == nil {
		starts = append(starts, wd)
	}
	if exe, err := os.Executable(); err == nil {
		if exe, err = filepath.EvalSymlinks(exe); err == nil {
			starts = append(starts, filepath.Dir(exe))
		}
	}
	for _, dir := range starts {
		first := filepath.Join(dir, devKeyFile)
		for {
			p := filepath.Join(dir, devKeyFile)
			if _, err := os.Stat(p); err == nil {
				return p, nil
			}
			parent := filepath.Dir(dir)
			if parent == dir {
				break
			}
			dir = parent
		}
		tried = append(tried, first+" (and the same path in every folder above)")
	}
	return "", fmt.Errorf("no dev key found; tried %s; pass --key FILE or set %s to the key's path",
		strings.Join(tried, ", "), devKeyEnv)
}

// readSigningKey reads a private key and picks the signing method its type
// implies (RS256, ES256/384/512 by curve, EdDSA).
func readSigningKey(path string) (crypto.Signer, jwt.SigningMethod, error) {
	raw, err := os.ReadFile(path)
	if err != nil {
		return nil, nil, err
	}
	block, _ := pem.Decode(raw)
	if block == nil {
		return nil, nil, fmt.Errorf("%s: no PEM block", path)
	}
	var key any
	switch block.Type {
	case "PRIVATE KEY":
		key, err = x509.ParsePKCS8PrivateKey(block.Bytes)
	case "RSA PRIVATE KEY":
		key, err = x509.ParsePKCS1PrivateKey(block.Bytes)
	case "EC PRIVATE KEY":
		key, err = x509.ParseECPrivateKey(block.Bytes)
	default:
		err = fmt.Errorf("PEM block %q is not a private key", block.Type)
	}
	if err != nil {
		return nil, nil, fmt.Errorf("%s: %w", path, err)
	}
	switch k := key.(type) {
	case *rsa.PrivateKey:
		return k, jwt.SigningMethodRS256, nil
	case ed25519.PrivateKey:
		return k, jwt.SigningMethodEdDSA, nil
	case *ecdsa.PrivateKey:
		switch k.Curve {
		case elliptic.P256():
			return k, jwt.SigningMethodES256, nil
		case elliptic.P384():
			return k, jwt.SigningMethodES384, nil
		case elliptic.P521():
			return k, jwt.SigningMethodES512, nil
		}
	}
	return nil, nil, errors.New(path + ": unsupported key type")
}
