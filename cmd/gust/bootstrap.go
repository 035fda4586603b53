package main

import (
	"context"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"time"

	"github.com/gustfaas/gust/internal/store"
	"github.com/gustfaas/gust/internal/whisk"
)

const guestNamespace = "guest"

// ensureGuest makes sure the guest namespace exists and returns its key.
// The key is random on first start and kept (mode 0600) in the data
// directory so that every start can print it; the store keeps only its hash.
// envKey, from GUST_GUEST_KEY, replaces it. When the stored key was rotated
// since (and the file not rewritten), the store wins and known is false: we
// cannot print a key of which we only hold the hash.
func ensureGuest(ctx context.Context, st store.Store, dataDir, envKey string) (key whisk.AuthKey, known bool, err error) {
	keyFile := filepath.Join(dataDir, "guest.key")
	if envKey != "" {
		if key, err = whisk.ParseAuthKey(envKey); err != nil {
			return key, false, fmt.Errorf("GUST_GUEST_KEY: %w", err)
		}
	} else if b, err := os.ReadFile(keyFile); err == nil {
		key, _ = whisk.ParseAuthKey(string(b))
	}
	ns, err := st.GetNamespace(ctx, guestNamespace)
	switch {
	case errors.Is(err, whisk.ErrNotFound):
		if key.UUID == "" {
			key = whisk.NewAuthKey()
		}
		err = st.CreateNamespace(ctx, store.Namespace{
			Name: guestNamespace, Subject: guestNamespace, UUID: key.UUID,
			KeyHash: whisk.HashSecret(key.Secret), Created: time.Now().UnixMilli(),
		})
	case err != nil:
	case ns.UUID == key.UUID && whisk.SecretMatches(key.Secret, ns.KeyHash):
	case envKey != "":
		ns.UUID, ns.KeyHash = key.UUID, whisk.HashSecret(key.Secret)
		err = st.UpdateNamespace(ctx, ns)
	default:
		return whisk.AuthKey{}, false, nil
	}
	if err != nil {
		return key, false, err
	}
	if envKey == "" {
		if err := os.WriteFile(keyFile, []byte(key.String()+"\n"), 0o600); err != nil {
			return key, false, err
		}
	}
	return key, true, nil
}

// wskPropertyLine is the line a user pastes to point wsk (or gust) at us.
func wskPropertyLine(apiHost string, key whisk.AuthKey) string {
	return fmt.Sprintf("wsk property set --apihost %s --auth %s", strings.TrimSuffix(apiHost, "/"), key)
}
