package mongo

import (
	"fmt"
	"time"

	"github.com/termshift/termshift"
)

// Config tells a Carver how to reach the MongoDB server.
type Config struct {
	// URI is the administrator's connection string, e.g.
	// "mongodb://admin:pw@127.0.0.1:27017/?authSource=admin". It is a Secret
	// because it holds a password.
	URI termshift.Secret
	// Timeout bounds each operation when the URI sets no timeoutMS, so a
	// stalled server fails a carve instead of hanging it; default 2 minutes.
	Timeout time.Duration
}

// DefaultTimeout bounds each operation when neither Config nor the URI does.
const DefaultTimeout = 2 * time.Minute

func (c Config) timeout() time.Duration {
	if c.Timeout > 0 {
		return c.Timeout
	}
	return DefaultTimeout
}

func (c Config) validate() error {
	if c.URI == "" {
		return fmt.Errorf("mongo config: empty URI: %w", termshift.ErrInvalid)
	}
	return nil
}
