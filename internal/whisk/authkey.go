package whisk

import (
	"crypto/rand"
	"crypto/sha256"
	"crypto/subtle"
	"encoding/hex"
	"fmt"
	"strings"
)

// AuthKey is an API key "uuid:secret". Only the uuid and a hash of the secret
// are ever stored.
type AuthKey struct {
	UUID   string
	Secret string
}

func (k AuthKey) String() string { return k.UUID + ":" + k.Secret }

const keyAlphabet = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789"

// NewAuthKey makes a random key in OpenWhisk's shape: a v4 UUID and a
// 64-character alphanumeric secret.
func NewAuthKey() AuthKey {
	var u [16]byte
	_, _ = rand.Read(u[:])
	u[6] = u[6]&0x0f | 0x40
	u[8] = u[8]&0x3f | 0x80
	h := hex.EncodeToString(u[:])
	id := h[0:8] + "-" + h[8:12] + "-" + h[12:16] + "-" + h[16:20] + "-" + h[20:32]
	secret := make([]byte, 64)
	var r [64]byte
	_, _ = rand.Read(r[:])
	for i := range secret {
		// 62 does not divide 256; the bias this leaves is below 1% per
		// character and irrelevant for a 64-character secret.
		secret[i] = keyAlphabet[int(r[i])%len(keyAlphabet)]
	}
	return AuthKey{UUID: id, Secret: string(secret)}
}

// ParseAuthKey parses "uuid:secret".
func ParseAuthKey(s string) (AuthKey, error) {
	id, secret, ok := strings.Cut(strings.TrimSpace(s), ":")
	if !ok || len(id) != 36 || strings.Count(id, "-") != 4 || len(secret) < 8 {
		return AuthKey{}, fmt.Errorf("an API key is uuid:secret, with a 36-character uuid")
	}
	return AuthKey{UUID: id, Secret: secret}, nil
}

// HashSecret is what the store keeps of a secret. Secrets are 64 random
// characters, so a plain SHA-256 cannot be brute-forced and keeps the
// authentication of every request cheap (no bcrypt on the hot path).
func HashSecret(secret string) string {
	sum := sha256.Sum256([]byte(secret))
	return hex.EncodeToString(sum[:])
}

// SecretMatches compares a presented secret with a stored hash in constant time.
func SecretMatches(secret, hash string) bool {
	got := HashSecret(secret)
	return subtle.ConstantTimeCompare([]byte(got), []byte(hash)) == 1
}
