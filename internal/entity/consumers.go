package entity

import (
	"crypto/rand"
	"crypto/sha1"
	"crypto/x509"
	"encoding/hex"
	"encoding/pem"
)

// Consumers are the users or applications that call APIs through Gantry.
var Consumers = register(&Schema{
	Name:        "consumers",
	EndpointKey: "username",
	Fields: []*Field{
		idField(),
		createdAtField(),
		updatedAtField(),
		{Name: "username", Kind: String, Unique: true, LenMin: 1},
		{Name: "custom_id", Kind: String, Unique: true, LenMin: 1},
		tagsField(),
	},
	Checks: []Check{needsOneOf("custom_id", "username")},
})

// randomKey returns 32 hexadecimal characters from the system's secure
// random source, the form Kong gives generated keys and secrets.
func randomKey() any {
	var b [16]byte
	if _, err := rand.Read(b[:]); err != nil {
		panic("entity: no secure random source: " + err.Error())
	}
	return hex.EncodeToString(b[:])
}

func consumerField() *Field { return foreignField("consumer", "consumers", true, Cascade) }

// KeyAuthCredentials are API keys of consumers (the key-auth plugin).
var KeyAuthCredentials = register(&Schema{
	Name:        "keyauth_credentials",
	EndpointKey: "key",
	Fields: []*Field{
		idField(),
		createdAtField(),
		consumerField(),
		{Name: "key", Kind: String, Required: true, Unique: true, LenMin: 1, Generate: randomKey},
		tagsField(),
	},
})

// BasicAuthCredentials are username/password pairs of consumers (the
// basic-auth plugin). The password is stored hashed: see
// HashBasicAuthPassword.
var BasicAuthCredentials = register(&Schema{
	Name:        "basicauth_credentials",
	EndpointKey: "username",
	Fields: []*Field{
		idField(),
		createdAtField(),
		consumerField(),
		{Name: "username", Kind: String, Required: true, Unique: true, LenMin: 1},
		{Name: "password", Kind: String, Required: true},
		tagsField(),
	},
})

// HashBasicAuthPassword replaces a basic-auth credential's clear password
// with the digest Kong stores: hex SHA-1 of the password followed by the
// consumer's id. The basic-auth plugin checks a request the same way, so a
// credential moves between Kong and Gantry unchanged.
func HashBasicAuthPassword(e Entity) {
	pw := e.String("password")
	sum := sha1.Sum([]byte(pw + e.Ref("consumer")))
	e["password"] = hex.EncodeToString(sum[:])
}

var jwtAlgorithms = strs("HS256", "HS384", "HS512", "RS256", "RS384", "RS512",
	"ES256", "ES384", "ES512", "PS256", "PS384", "PS512", "EdDSA")

// JWTSecrets are the keys and secrets consumers sign tokens with (the jwt
// plugin).
var JWTSecrets = register(&Schema{
	Name:        "jwt_secrets",
	EndpointKey: "key",
	Fields: []*Field{
		idField(),
		createdAtField(),
		consumerField(),
		{Name: "key", Kind: String, Required: true, Unique: true, LenMin: 1, Generate: randomKey},
		{Name: "secret", Kind: String, Generate: randomKey},
		{Name: "rsa_public_key", Kind: String},
		{Name: "algorithm", Kind: String, Default: "HS256", OneOf: jwtAlgorithms},
		tagsField(),
	},
	Checks: []Check{checkJWTKey},
})

// checkJWTKey wants a PEM public key for the asymmetric algorithms and a
// secret for the HMAC ones. An algorithm set to null counts as the default,
// HS256.
func checkJWTKey(e Entity) []FieldError {
	alg := e.String("algorithm")
	if alg == "" || alg[0] == 'H' {
		if e["secret"] == nil {
			return []FieldError{{Field: "secret", Message: "required field missing"}}
		}
		return nil
	}
	key := e.String("rsa_public_key")
	if key == "" {
		return []FieldError{{Field: "rsa_public_key", Message: "required field missing"}}
	}
	block, _ := pem.Decode([]byte(key))
	if block == nil {
		return []FieldError{{Field: "rsa_public_key", Message: "invalid key"}}
	}
	if _, err := x509.ParsePKIXPublicKey(block.Bytes); err != nil {
		if _, err2 := x509.ParsePKCS1PublicKey(block.Bytes); err2 != nil {
			return []FieldError{{Field: "rsa_public_key", Message: "invalid key: " + err.Error()}}
		}
	}
	return nil
}

// ACLs put consumers in groups that the acl plugin allows or denies.
var ACLs = register(&Schema{
	Name:     "acls",
	CacheKey: []string{"consumer", "group"},
	Fields: []*Field{
		idField(),
		createdAtField(),
		consumerField(),
		{Name: "group", Kind: String, Required: true, LenMin: 1},
		tagsField(),
	},
})
