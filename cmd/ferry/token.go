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
	"strings"
	"time"

	"github.com/golang-jwt/jwt/v5"
)

// Defaults of `ferry token`: the quickstart's dev key and claims, so that
// its tokens pass testdata/ferry.yaml. DEV ONLY: the private key is public
// in this repository.
const (
	devKeyFile  = "testdata/keys/dev-jwt.key"
	devKID      = "dev"
	devIssuer   = "ferry-dev"
	devAudience = "ferry"
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
		fmt.Fprintln(stderr, "usage: ferry token [flags]\n\nMints a JWT for trying ferry out. The default key is testdata/keys/dev-jwt.key: DEV ONLY.")
		fs.PrintDefaults()
	}
	var (
		keyFile = fs.String("key", devKeyFile, "private key `file` (PEM: PKCS#8, PKCS#1 or SEC 1)")
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
	key, method, err := readSigningKey(*keyFile)
	if err != nil {
		return fmt.Errorf("token: %w", err)
	}
	now := time.Now()
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
