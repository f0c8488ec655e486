package rollout

import (
	"bufio"
	"encoding/json"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"strings"
	"time"
)

// Entry is one line of the journal: who did what, when, why, and how it
// ended. It never holds a secret: Append redacts every credential the
// environment knows before writing.
type Entry struct {
	Time    time.Time `json:"time"`
	Actor   string    `json:"actor"`
	Command string    `json:"command"`
	Release string    `json:"release,omitempty"`
	Reason  string    `json:"reason,omitempty"`
	Step    string    `json:"step,omitempty"`
	Outcome string    `json:"outcome"` // started, done, failed, refused, forced, skipped
	Detail  string    `json:"detail,omitempty"`
}

// Journal appends entries to journal.jsonl.
type Journal struct {
	st     Store
	redact func(string) string
}

// Journal opens the store's journal; redact removes secrets from text.
func (st Store) Journal(redact func(string) string) *Journal {
	if redact == nil {
		redact = func(s string) string { return s }
	}
	return &Journal{st: st, redact: redact}
}

// Append writes one entry and syncs it to disk.
func (j *Journal) Append(e Entry) error {
	if err := j.st.Init(); err != nil {
		return err
	}
	if e.Time.IsZero() {
		e.Time = time.Now()
	}
	e.Time = e.Time.UTC()
	if e.Actor == "" {
		u, h := Actor()
		e.Actor = u + "@" + h
	}
	e.Reason = j.redact(e.Reason)
	e.Detail = j.redact(e.Detail)
	data, err := json.Marshal(e)
	if err != nil {
		return fmt.Errorf("encode journal entry: %w", err)
	}
	f, err := os.OpenFile(j.st.journalPath(), os.O_WRONLY|os.O_APPEND|os.O_CREATE, 0o600)
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

// ReadJournal returns every entry, oldest first. A torn last line (a crash
// mid-append) is skipped and reported in the returned count.
func (st Store) ReadJournal() (entries []Entry, torn int, err error) {
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
	for line := 1; sc.Scan(); line++ {
		text := strings.TrimSpace(sc.Text())
		if text == "" {
			continue
		}
		var e Entry
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
