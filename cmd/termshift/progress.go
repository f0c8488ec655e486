package main

import (
	"fmt"
	"io"
	"sort"
	"strings"
	"sync"
	"time"

	"golang.org/x/term"

	"github.com/termshift/termshift/restore"
)

// progress renders restore events: on a terminal a redrawn bar per running
// table or collection (rows, bytes, rate, ETA); otherwise a plain line per
// object every few seconds and when it finishes.
type progress struct {
	w        io.Writer
	tty      bool
	mu       sync.Mutex
	objs     map[string]*objProgress
	lastDraw time.Time
	drawn    int
	every    time.Duration
}

type objProgress struct {
	ev      restore.Event
	started time.Time
	printed time.Time
}

func newProgress(w io.Writer) *progress {
	tty := false
	if f, ok := w.(interface{ Fd() uintptr }); ok && f.Fd() != ^uintptr(0) {
		tty = term.IsTerminal(int(f.Fd()))
	}
	return &progress{w: w, tty: tty, objs: map[string]*objProgress{}, every: 5 * time.Second}
}

// Event is a restore.Progress.
func (p *progress) Event(ev restore.Event) {
	p.mu.Lock()
	defer p.mu.Unlock()
	now := time.Now()
	o, ok := p.objs[ev.Object]
	if !ok {
		o = &objProgress{started: now, printed: now}
		p.objs[ev.Object] = o
	}
	o.ev = ev
	if p.tty {
		if ev.Done || now.Sub(p.lastDraw) > 100*time.Millisecond {
			p.draw(now)
		}
		return
	}
	if ev.Done || now.Sub(o.printed) >= p.every {
		o.printed = now
		fmt.Fprintln(p.w, line(ev, now.Sub(o.started)))
	}
	if ev.Done {
		delete(p.objs, ev.Object)
	}
}

func (p *progress) draw(now time.Time) {
	p.lastDraw = now
	if p.drawn > 0 {
		fmt.Fprintf(p.w, "\x1b[%dA", p.drawn)
	}
	names := make([]string, 0, len(p.objs))
	for n := range p.objs {
		names = append(names, n)
	}
	sort.Strings(names)
	p.drawn = 0
	for _, n := range names {
		o := p.objs[n]
		fmt.Fprintf(p.w, "\x1b[2K%s\n", line(o.ev, now.Sub(o.started)))
		p.drawn++
		if o.ev.Done {
			delete(p.objs, n)
			p.drawn-- // finished lines stay on screen above the running ones
		}
	}
}

// barWidth is the number of cells of a progress bar.
const barWidth = 20

// line renders one object's progress: state, name, a bar when the total is
// known (full once the object is done), the count in its unit, and for
// rows and documents the bytes read and the rate.
func line(ev restore.Event, elapsed time.Duration) string {
	unit := ev.Unit
	if unit == "" {
		unit = restore.UnitRows
	}
	state := "   "
	if ev.Done {
		state = "ok "
	}
	frac, known := fraction(ev)
	bar := ""
	if known {
		n := int(frac * barWidth)
		bar = "[" + strings.Repeat("#", n) + strings.Repeat(".", barWidth-n) + "] "
	}
	out := fmt.Sprintf("%s%-40s %s%10d %s", state, ev.Object, bar, ev.Count, unit)
	if unit == restore.UnitObjects || (ev.Bytes == 0 && ev.TotalBytes == 0) {
		return out // bytes mean nothing for definitions
	}
	rate := 0.0
	if s := elapsed.Seconds(); s > 0 {
		rate = float64(ev.Bytes) / s
	}
	out += fmt.Sprintf(" %9s %9s/s", human(float64(ev.Bytes)), human(rate))
	if known && !ev.Done && frac > 0 && elapsed > 0 {
		left := time.Duration(float64(elapsed) * (1 - frac) / frac)
		out += " eta " + left.Round(time.Second).String()
	}
	return out
}

// fraction is how much of the object is done: by count when its total is
// known, else by bytes; all of it once it is done.
func fraction(ev restore.Event) (float64, bool) {
	var f float64
	switch {
	case ev.Total > 0:
		f = float64(ev.Count) / float64(ev.Total)
	case ev.TotalBytes > 0:
		f = float64(ev.Bytes) / float64(ev.TotalBytes)
	case ev.Done:
		return 1, true
	default:
		return 0, false
	}
	if ev.Done || f > 1 {
		f = 1
	}
	return f, true
}

func human(b float64) string {
	units := []string{"B", "KiB", "MiB", "GiB", "TiB"}
	i := 0
	for b >= 1024 && i < len(units)-1 {
		b /= 1024
		i++
	}
	return fmt.Sprintf("%.1f%s", b, units[i])
}
