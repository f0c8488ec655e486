package mysql

import (
	"encoding/json"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"sync"

	"github.com/termshift/termshift"
	"github.com/termshift/termshift/restore"
)

// checkpoint records what a restore finished, so that a killed restore can
// continue. The unit of work is a whole table: a table is recorded only
// after all of its rows are committed (and its deferred indexes built), and
// an unrecorded table is redone from scratch (dropped, created, reloaded).
// A crash between the last commit and the record only costs reloading that
// table, never a duplicate row. Views, triggers and routines are one last
// unit, redone whole after dropping whatever of them exists.
type checkpoint struct {
	Format string `json:"format"`
	Source string `json:"source"`
	Path   string `json:"path"`
	From   string `json:"from"`
	To     string `json:"to"`
	// Files is the fingerprint of the backup files the restore reads: a
	// resume refuses a backup that changed since.
	Files      restore.Fingerprint   `json:"files,omitempty"`
	SchemaDone bool                  `json:"schema_done"`
	Tables     map[string]tableCheck `json:"tables"`
	PostDone   bool                  `json:"post_done"`

	file string
	mu   sync.Mutex
}

type tableCheck struct {
	Expected int64   `json:"expected"`
	Bytes    int64   `json:"bytes"`
	Seconds  float64 `json:"seconds"`
}

// loadCheckpoint reads file; a missing file is (nil, nil).
func loadCheckpoint(file string) (*checkpoint, error) {
	b, err := os.ReadFile(file)
	if errors.Is(err, fs.ErrNotExist) {
		return nil, nil
	}
	if err != nil {
		return nil, fmt.Errorf("read checkpoint: %w", err)
	}
	var cp checkpoint
	if err := json.Unmarshal(b, &cp); err != nil {
		return nil, fmt.Errorf("checkpoint %s: %v: %w", file, err, termshift.ErrInvalid)
	}
	cp.file = file
	if cp.Tables == nil {
		cp.Tables = map[string]tableCheck{}
	}
	return &cp, nil
}

// done reports whether table was finished by an earlier run.
func (cp *checkpoint) done(table string) (tableCheck, bool) {
	if cp == nil {
		return tableCheck{}, false
	}
	cp.mu.Lock()
	defer cp.mu.Unlock()
	tc, ok := cp.Tables[table]
	return tc, ok
}

// update changes the checkpoint with f and writes it atomically: a temp
// file, fsync, rename, fsync of the directory. A nil or file-less
// checkpoint only keeps the state in memory.
func (cp *checkpoint) update(f func(*checkpoint)) error {
	if cp == nil {
		return nil
	}
	cp.mu.Lock()
	defer cp.mu.Unlock()
	f(cp)
	if cp.file == "" {
		return nil
	}
	b, err := json.MarshalIndent(cp, "", "  ")
	if err != nil {
		return err
	}
	dir := filepath.Dir(cp.file)
	tmp, err := os.CreateTemp(dir, filepath.Base(cp.file)+".tmp*")
	if err != nil {
		return fmt.Errorf("write checkpoint: %w", err)
	}
	defer os.Remove(tmp.Name())
	if _, err := tmp.Write(b); err != nil {
		tmp.Close()
		return fmt.Errorf("write checkpoint: %w", err)
	}
	if err := tmp.Sync(); err != nil {
		tmp.Close()
		return fmt.Errorf("write checkpoint: %w", err)
	}
	if err := tmp.Close(); err != nil {
		return fmt.Errorf("write checkpoint: %w", err)
	}
	if err := os.Rename(tmp.Name(), cp.file); err != nil {
		return fmt.Errorf("write checkpoint: %w", err)
	}
	if d, err := os.Open(dir); err == nil {
		_ = d.Sync()
		d.Close()
	}
	return nil
}
