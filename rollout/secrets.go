package rollout

import (
	"encoding/json"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"strings"

	"github.com/termshift/termshift"
)

// storedCredential is a credential as written to secrets/RELEASE.json.
type storedCredential struct {
	User     string `json:"user"`
	Password string `json:"password"`
}

func (st Store) secretsPath(release string) string {
	return filepath.Join(st.secretsDir(), release+".json")
}

func credKey(svc termshift.Service, logical string) string { return string(svc) + "/" + logical }

// Credentials returns a release's stored credentials by "service/logical".
func (st Store) Credentials(release string) (map[string]termshift.Credential, error) {
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
func (st Store) SaveCredentials(release string, creds map[string]termshift.Credential) error {
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
	return writeFileAtomic(st.secretsPath(release), data, 0o600)
}

// DeleteCredentials removes a release's credentials file.
func (st Store) DeleteCredentials(release string) error {
	if err := termshift.ValidateRelease(release); err != nil {
		return err
	}
	if err := os.Remove(st.secretsPath(release)); err != nil && !errors.Is(err, fs.ErrNotExist) {
		return fmt.Errorf("delete credentials: %w", err)
	}
	return nil
}

// Redactor returns a function that replaces every stored password and every
// extra secret in text with [redacted]: the journal's and the logs' last line
// of defence.
func (st Store) Redactor(extra ...string) func(string) string {
	secrets := append([]string(nil), extra...)
	if entries, err := os.ReadDir(st.secretsDir()); err == nil {
		for _, e := range entries {
			creds, err := st.Credentials(strings.TrimSuffix(e.Name(), ".json"))
			if err != nil {
				continue
			}
			for _, c := range creds {
				secrets = append(secrets, c.Password.Reveal())
			}
		}
	}
	return replacer(secrets, "[redacted]")
}
