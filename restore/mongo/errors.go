package mongo

import (
	"fmt"

	"github.com/termshift/termshift"
)

// FormatError is a backup file that does not hold what its format promises:
// a bad BSON length, a truncated document, a broken archive, a CRC mismatch.
// Offset counts bytes of the decompressed stream.
type FormatError struct {
	File   string
	Offset int64
	Msg    string
	Err    error // the underlying cause, if any (an I/O or gzip error)
}

func (e *FormatError) Error() string {
	s := fmt.Sprintf("%s at offset %d: %s", e.File, e.Offset, e.Msg)
	if e.Err != nil {
		s += ": " + e.Err.Error()
	}
	return s
}

func (e *FormatError) Unwrap() error { return e.Err }

// Is makes every FormatError match termshift.ErrInvalid.
func (e *FormatError) Is(target error) bool { return target == termshift.ErrInvalid }
