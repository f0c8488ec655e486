package tenancy

import (
	"fmt"
	"strings"

	"github.com/termshift/termshift"
)

// markerPrefix starts every owner marker written as text: a MySQL schema
// comment, a RabbitMQ vhost description, a memcached marker value.
const markerPrefix = "termshift owner="

// FormatMarker renders an owner as the text markers hold:
// "termshift owner=qa/next".
func FormatMarker(o termshift.Owner) string { return markerPrefix + o.String() }

// ParseMarker reads a text marker written by FormatMarker. ok is false when
// s is not one (empty, written by hand, or naming an invalid owner).
func ParseMarker(s string) (o termshift.Owner, ok bool) {
	rest, found := strings.CutPrefix(strings.TrimSpace(s), markerPrefix)
	if !found {
		return termshift.Owner{}, false
	}
	o, err := termshift.ParseOwner(rest)
	if err != nil {
		return termshift.Owner{}, false
	}
	return o, true
}

// NotOursError is Carve's or Drop's answer for a namespace that exists on
// the server but is not the caller's: its marker names another owner, or it
// has no marker (it was made by hand, or by something else), or only its
// user exists. Nothing was changed. It matches termshift.ErrRefused.
type NotOursError struct {
	Namespace termshift.Namespace
	// Server names the server: "mysql 127.0.0.1:3306".
	Server string
	// Found is the owner the marker names; zero when there is no marker.
	Found termshift.Owner
	// Want is the owner the caller acts for.
	Want termshift.Owner
	// UserOnly: the namespace does not exist but its user does. Carve
	// creates the namespace (with its marker) before the user and Drop
	// removes the user first, so such a user was never termshift's.
	UserOnly bool
}

func (e *NotOursError) Error() string {
	where := fmt.Sprintf("%s on %s", e.Namespace, e.Server)
	switch {
	case e.UserOnly:
		return fmt.Sprintf("%s: user %s exists without its namespace: it is not ours", where, termshift.Quote(e.Namespace.User))
	case e.Found.IsZero():
		return where + " exists without a termshift owner marker: it is not ours"
	}
	return fmt.Sprintf("%s belongs to %s, not to %s", where, e.Found, e.Want)
}

// Is makes every NotOursError match termshift.ErrRefused.
func (e *NotOursError) Is(target error) bool { return target == termshift.ErrRefused }

// ValidateOwner checks the owner a Carve or Drop acts for.
func ValidateOwner(o termshift.Owner) error {
	if err := o.Validate(); err != nil {
		return fmt.Errorf("owner %s: %w", termshift.Quote(o.String()), err)
	}
	return nil
}

// UserOnlyNote is the note Drop reports when a namespace is absent but a
// user of its name exists: Drop leaves that user alone.
func UserOnlyNote(user string) string {
	return "user " + termshift.Quote(user) + " exists without its namespace: not ours to drop, left alone"
}
