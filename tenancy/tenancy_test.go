package tenancy_test

import (
	"regexp"
	"testing"

	"github.com/termshift/termshift/tenancy"
)

func TestNewPassword(t *testing.T) {
	t.Parallel()
	re := regexp.MustCompile(`^[A-Za-z0-9]{40}$`)
	seen := make(map[string]bool)
	for range 200 {
		p, err := tenancy.NewPassword()
		if err != nil {
			t.Fatal(err)
		}
		if !re.MatchString(p.Reveal()) {
			t.Fatalf("password %q does not match %s", p.Reveal(), re)
		}
		if seen[p.Reveal()] {
			t.Fatalf("password repeated: %q", p.Reveal())
		}
		seen[p.Reveal()] = true
		if got := p.String(); got != "[redacted]" {
			t.Fatalf("password prints as %q", got)
		}
	}
}
