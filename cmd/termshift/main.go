// Command termshift orchestrates multi-version upgrades of platforms built
// like Open edX: carve per-release namespaces on shared servers, restore
// last night's backup into them, verify, run the next release beside the
// current one, cut traffic over, and roll back with one command.
package main

import (
	"context"
	"os"
	"os/signal"
	"syscall"
)

func main() {
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	code := run(ctx, os.Args[1:], os.Stdout, os.Stderr)
	stop()
	os.Exit(code)
}
