package termshift

import (
	"errors"
	"fmt"
	"strings"
)

// Sentinel errors the CLI maps to exit codes with errors.Is.
var (
	// ErrLocked: another command holds the environment's lock.
	ErrLocked = errors.New("locked")
	// ErrRefused: the command would touch the live release or the rollback
	// target, or another safety rule forbids it.
	ErrRefused = errors.New("refused")
	// ErrNotFound: a release, namespace, snapshot or file does not exist.
	ErrNotFound = errors.New("not found")
	// ErrVerifyFailed: a verify check failed.
	ErrVerifyFailed = errors.New("verify failed")
	// ErrInvalid: input (a name, a file, a flag) is not acceptable.
	ErrInvalid = errors.New("invalid")
	// ErrAccessDenied: a server refused a credential (a probe's answer:
	// this credential does not get into that namespace).
	ErrAccessDenied = errors.New("access denied")
)

// PartialError reports a multi-part operation (carve, restore, teardown,
// cutover) that stopped half way: which parts are done, which failed, why.
type PartialError struct {
	Op     string
	Done   []string
	Failed []string
	Err    error
}

func (e *PartialError) Error() string {
	var b strings.Builder
	fmt.Fprintf(&b, "%s stopped half way: %v", e.Op, e.Err)
	if len(e.Done) > 0 {
		fmt.Fprintf(&b, "; done: %s", strings.Join(e.Done, ", "))
	} else {
		b.WriteString("; nothing done")
	}
	if len(e.Failed) > 0 {
		fmt.Fprintf(&b, "; failed: %s", strings.Join(e.Failed, ", "))
	}
	return b.String()
}

func (e *PartialError) Unwrap() error { return e.Err }

// HintError carries advice for the operator next to the error itself: what to
// do next. The CLI prints the hint on its own line.
type HintError struct {
	Err  error
	Hint string
}

func (e *HintError) Error() string { return e.Err.Error() }
func (e *HintError) Unwrap() error { return e.Err }

// WithHint wraps err with a hint; nil stays nil.
func WithHint(err error, hint string) error {
	if err == nil {
		return nil
	}
	return &HintError{Err: err, Hint: hint}
}
