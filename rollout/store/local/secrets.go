package local

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"sort"
	"strings"

	"github.com/termshift/termshift"
)

// storedCredential is a credential as written to secrets/RELEASE.json.
type storedCredential struct {
	User     string `json:"user"`
	Password string `json:"password"`
}

func (st *Store) secretsPath(release string) string {
	return filepath.Join(st.secretsDir(), release+".json")
}

// Credentials returns a release's stored credentials by "service/logical".
func (st *Store) Credentials(_ context.Context, release string) (map[string]termshift.Credential, error) {
	if err := termshift.ValidateRelease(release); err != nil {
		return nil, err
	}
	data, err := os.ReadFile(st.secretsPath(release))
	if errors.Is(err, fs.ErrNotExist) {
		return map[string]termshift.Credential{}, nil
	}
	if err != nil {
		return nil, fmt.Errorf("read credentials of %s: %w", termshift.Quote(release), err)
	}
	var stored map[string]storedCredential
	if err := json.Unmarshal(data, &stored); err != nil {
		return nil, fmt.Errorf("read credentials of %s: damaged file %s", termshift.Quote(release), st.secretsPath(release))
	}
	out := make(map[string]termshift.Credential, len(stored))
	for k, c := range stored {
		out[k] = termshift.Credential{User: c.User, Password: termshift.Secret(c.Password)}
	}
	return out, nil
}

// SaveCredentials writes a release's credentials with mode 0600.
func (st *Store) SaveCredentials(_ context.Context, release string, creds map[string]termshift.Credential) error {
	if err := termshift.ValidateRelease(release); err != nil {
		return err
	}
	if err := st.Init(); err != nil {
		return err
	}
	stored := make(map[string]storedCredential, len(creds))
	for k, c := range creds {
		stored[k] = storedCredential{User: c.User, Password: c.Password.Reveal()}
	}
	data, err := json.MarshalIndent(stored, "", "  ")
	if err != nil {
		return fmt.Errorf("encode credentials: %w", err)
	}
	return termshift.WriteFileAtomic(st.secretsPath(release), data, 0o600)
}

// DeleteCredentials removes a release's credentials file.
func (st *Store) DeleteCredentials(_ context.Context, release string) error {
	if err := termshift.ValidateRelease(release); err != nil {
		return err
	}
	if err := os.Remove(st.secretsPath(release)); err != nil && !errors.Is(err, fs.ErrNotExist) {
		return fmt.Errorf("delete credentials: %w", err)
	}
	return nil
}

// CredentialReleases lists the releases with a credentials file.
func (st *Store) CredentialReleases(_ context.Context) ([]string, error) {
	entries, err := os.ReadDir(st.secretsDir())
	if errors.Is(err, fs.ErrNotExist) {
		return nil, nil
	}
	if err != nil {
		return nil, fmt.Errorf("list credentials: %w", err)
	}
	var out []string
	for _, e := range entries {
		name, ok := strings.CutSuffix(e.Name(), ".json")
		if ok && termshift.ValidateRelease(name) == nil {
			out = append(out, name)
		}
	}
	sort.Strings(out)
	return out, nil
}
