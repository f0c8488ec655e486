package mongo

import (
	"errors"
	"fmt"
	"testing"

	"go.mongodb.org/mongo-driver/v2/mongo"
)

// The codes the local server cannot produce (FerretDB has no roles, and is
// not Atlas) are checked on errors shaped as the driver delivers them;
// TestProbeRefusals checks the ones it can against the real server.
func TestRefusedCodes(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name string
		err  error
		want bool
	}{
		{"unauthorized", mongo.CommandError{Code: 13, Name: "Unauthorized"}, true},
		{"authentication failed", mongo.CommandError{Code: 18, Name: "AuthenticationFailed"}, true},
		{"atlas bad auth", mongo.CommandError{Code: 8000, Name: "AtlasError", Message: "bad auth : authentication failed"}, true},
		{"wrapped", fmt.Errorf("list collections: %w", mongo.CommandError{Code: 13}), true},
		{"write error", mongo.WriteException{WriteErrors: []mongo.WriteError{{Code: 13}}}, true},
		{"namespace not found", mongo.CommandError{Code: 26, Name: "NamespaceNotFound"}, false},
		{"user not found on its own", mongo.CommandError{Code: 11, Name: "UserNotFound"}, false},
		{"no server code", errors.New("server selection timeout"), false},
	}
	for _, tt := range tests {
		if got := refused(tt.err); got != tt.want {
			t.Errorf("%s: refused(%v) = %v, want %v", tt.name, tt.err, got, tt.want)
		}
	}
}
