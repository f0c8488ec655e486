package local

import (
	"bufio"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"strings"
	"time"

	"github.com/termshift/termshift/rollout/store"
)

// Append writes one entry as one line with O_APPEND (so concurrent writers
// never interleave inside a line) and syncs it to disk.
func (st *Store) Append(_ context.Context, e store.Entry) error {
	if err := st.Init(); err != nil {
		return err
	}
	if e.Time.IsZero() {
		e.Time = time.Now()
	}
	e.Time = e.Time.UTC()
	if e.Actor == "" {
		u, h := store.Actor()
		e.Actor = u + "@" + h
	}
	data, err := json.Marshal(e)
	if err != nil {
		return fmt.Errorf("encode journal entry: %w", err)
	}
	f, err := os.OpenFile(st.journalPath(), os.O_WRONLY|os.O_APPEND|os.O_CREATE, 0o600)
	if err != nil {
		return fmt.Errorf("open journal: %w", err)
	}
	_, werr := f.Write(append(data, '\n'))
	serr := f.Sync()
	cerr := f.Close()
	if err := errors.Join(werr, serr, cerr); err != nil {
		return fmt.Errorf("append to journal: %w", err)
	}
	return nil
}

// ReadJournal returns every entry, oldest first. A torn line (a crash
// mid-append) is skipped and counted.
func (st *Store) ReadJournal(_ context.Context) (entries []store.Entry, torn int, err error) {
	f, err := os.Open(st.journalPath())
	if errors.Is(err, fs.ErrNotExist) {
		return nil, 0, nil
	}
	if err != nil {
		return nil, 0, fmt.Errorf("read journal: %w", err)
	}
	defer f.Close()
	sc := bufio.NewScanner(f)
	sc.Buffer(make([]byte, 64*1024), 4*1024*1024)
	for sc.Scan() {
		text := strings.TrimSpace(sc.Text())
		if text == "" {
			continue
		}
		var e store.Entry
		if err := json.Unmarshal([]byte(text), &e); err != nil {
			torn++
			continue
		}
		entries = append(entries, e)
	}
	if err := sc.Err(); err != nil {
		return nil, 0, fmt.Errorf("read journal: %w", err)
	}
	return entries, torn, nil
}
