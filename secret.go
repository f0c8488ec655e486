package termshift

import "log/slog"

// Secret is a password or any other value that must never be printed, logged
// or journaled. Every formatting path prints "[redacted]"; Reveal is the only
// way to the value, so a leak is visible in review.
type Secret string

const redacted = "[redacted]"

// Reveal returns the secret value. Call it only where the value is handed to
// a driver or written to a 0600 file.
func (s Secret) Reveal() string { return string(s) }

// String implements fmt.Stringer.
func (s Secret) String() string { return redacted }

// GoString implements fmt.GoStringer, so %#v does not leak either.
func (s Secret) GoString() string { return redacted }

// LogValue implements slog.LogValuer.
func (s Secret) LogValue() slog.Value { return slog.StringValue(redacted) }

// MarshalText keeps secrets out of JSON and YAML written by accident.
// Credentials files are written with Reveal, explicitly.
func (s Secret) MarshalText() ([]byte, error) { return []byte(redacted), nil }

// Credential is a user name and its password on one server.
type Credential struct {
	User     string
	Password Secret
}
