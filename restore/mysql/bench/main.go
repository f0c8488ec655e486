// Command bench is the termshift side of `make bench-restore` (run.sh): it
// restores a backup with restore/mysql, or runs another loader, and prints
// the wall time and the peak RSS of what it ran.
//
//	bench restore -dir D -path P -from S -to T -threads N   restore with termshift
//	bench measure -- CMD ARGS...                            run CMD, print seconds and peak RSS
package main

import (
	"context"
	"flag"
	"fmt"
	"log/slog"
	"os"
	"os/exec"
	"syscall"
	"time"

	"github.com/termshift/termshift"
	"github.com/termshift/termshift/restore"
	"github.com/termshift/termshift/restore/mysql"
)

func main() {
	if len(os.Args) < 2 {
		fmt.Fprintln(os.Stderr, "usage: bench restore|measure ...")
		os.Exit(2)
	}
	var err error
	switch os.Args[1] {
	case "restore":
		err = restoreCmd(os.Args[2:])
	case "measure":
		err = measure(os.Args[2:])
	default:
		err = fmt.Errorf("unknown command %q", os.Args[1])
	}
	if err != nil {
		fmt.Fprintln(os.Stderr, "bench:", err)
		os.Exit(1)
	}
}

func restoreCmd(args []string) error {
	fs := flag.NewFlagSet("restore", flag.ExitOnError)
	dir := fs.String("dir", "", "backup root directory")
	path := fs.String("path", "", "backup inside dir: a mydumper directory or NAME.sql[.gz]")
	from := fs.String("from", "", "source schema")
	to := fs.String("to", "", "target schema")
	threads := fs.Int("threads", 2, "loader connections")
	inserts := fs.Bool("inserts", false, "load the INSERTs as written, never with LOAD DATA LOCAL INFILE")
	verbose := fs.Bool("v", false, "log every table's time (debug)")
	fs.Parse(args)
	dsn, ok := termshift.LocalSetting("TERMSHIFT_MYSQL_DSN")
	if !ok {
		return fmt.Errorf("TERMSHIFT_MYSQL_DSN is not set: run `make services`")
	}
	level := slog.LevelWarn
	if *verbose {
		level = slog.LevelDebug
	}
	start := time.Now()
	loader := &mysql.Loader{DSN: termshift.Secret(dsn), Inserts: *inserts}
	rep, err := loader.Load(context.Background(), restore.Dir{Root: *dir}, *path, restore.Request{
		From: *from, To: *to, Threads: *threads, DropExisting: true,
		Logger: slog.New(slog.NewTextHandler(os.Stderr, &slog.HandlerOptions{Level: level})),
	})
	if err != nil {
		return err
	}
	expected, loaded, bytes := rep.Totals()
	fmt.Printf("termshift restored %d rows (%d read from the backup, %.1f MB) in %.2fs, proof ok=%v\n",
		loaded, expected, float64(bytes)/1e6, time.Since(start).Seconds(), rep.OK())
	if !rep.OK() {
		return fmt.Errorf("proof failed: %v", rep.Warnings)
	}
	return nil
}

// measure runs a command and prints "seconds=S maxrss_kib=K" on stdout's
// last line.
func measure(args []string) error {
	if len(args) > 0 && args[0] == "--" {
		args = args[1:]
	}
	if len(args) == 0 {
		return fmt.Errorf("measure: no command")
	}
	cmd := exec.Command(args[0], args[1:]...)
	cmd.Stdin, cmd.Stdout, cmd.Stderr = os.Stdin, os.Stdout, os.Stderr
	start := time.Now()
	if err := cmd.Run(); err != nil {
		return fmt.Errorf("%s: %w", args[0], err)
	}
	secs := time.Since(start).Seconds()
	ru, _ := cmd.ProcessState.SysUsage().(*syscall.Rusage)
	var rss int64
	if ru != nil {
		rss = ru.Maxrss // KiB on Linux
	}
	fmt.Printf("seconds=%.2f maxrss_kib=%d\n", secs, rss)
	return nil
}
