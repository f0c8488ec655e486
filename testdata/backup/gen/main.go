// Command gen builds the fake edX production behind testdata/backup:
//
//	go run ./testdata/backup/gen mysql EDXAPP XQUEUE            fill the source schemas
//	go run ./testdata/backup/gen mongo DIR MODULESTORE FORUM     write a mongodump directory
//	go run ./testdata/backup/gen rabbitmq FILE VHOST             export RabbitMQ definitions
//	go run ./testdata/backup/gen counts                          print what the world holds
//	go run ./testdata/backup/gen manifest SNAP EDXAPP XQUEUE MODULESTORE FORUM VHOST
//	                                                             write SNAP/manifest.json
//
// The local servers come from .termshift-dev/env (`make services`). Run it
// through generate.sh.
package main

import (
	"context"
	"fmt"
	"os"
	"sort"

	"github.com/termshift/termshift"
)

func main() {
	if err := run(os.Args[1:]); err != nil {
		fmt.Fprintln(os.Stderr, "gen:", err)
		os.Exit(1)
	}
}

func setting(name string) (string, error) {
	v, ok := termshift.LocalSetting(name)
	if !ok && name != "TERMSHIFT_RABBITMQ_MANAGEMENT_PASSWORD" {
		return "", fmt.Errorf("%s is not set: run `make services`", name)
	}
	return v, nil
}

func run(args []string) error {
	if len(args) == 0 {
		return fmt.Errorf("usage: gen mysql|mongo|rabbitmq|counts ARGS")
	}
	w := NewWorld()
	switch {
	case args[0] == "mysql" && len(args) == 3:
		dsn, err := setting("TERMSHIFT_MYSQL_DSN")
		if err != nil {
			return err
		}
		return fillMySQL(context.Background(), dsn, args[1], args[2], w)
	case args[0] == "mongo" && len(args) == 4:
		counts, err := writeMongoDump(args[1], args[2], args[3], w)
		if err != nil {
			return err
		}
		names := make([]string, 0, len(counts))
		for n := range counts {
			names = append(names, n)
		}
		sort.Strings(names)
		for _, n := range names {
			fmt.Printf("%s\t%d\n", n, counts[n])
		}
		return nil
	case args[0] == "rabbitmq" && len(args) == 3:
		var vals [3]string
		for i, n := range []string{"TERMSHIFT_RABBITMQ_MANAGEMENT_URL", "TERMSHIFT_RABBITMQ_MANAGEMENT_USER", "TERMSHIFT_RABBITMQ_MANAGEMENT_PASSWORD"} {
			v, err := setting(n)
			if err != nil {
				return err
			}
			vals[i] = v
		}
		return exportRabbitMQ(vals[0], vals[1], vals[2], args[2], args[1])
	case args[0] == "manifest" && len(args) == 7:
		return writeManifest(args[1], args[2], args[3], args[4], args[5], args[6], w)
	case args[0] == "counts":
		fmt.Printf("auth_user\t%d\nauth_userprofile\t%d\nstudent_courseenrollment\t%d\ncourseware_studentmodule\t%d\ndemo_tasks\t%d\nqueue_submission\t%d\n",
			len(w.Users), len(w.Users), len(w.Enrollments), len(w.Modules), len(w.Tasks), len(w.Submissions))
		return nil
	}
	return fmt.Errorf("unknown or incomplete command %q", args)
}
