package main

import (
	"fmt"
	"strings"
	"text/tabwriter"
	"time"

	"github.com/spf13/cobra"

	"github.com/termshift/termshift/rollout"
)

func (a *app) backupsCommand() *cobra.Command {
	cmd := &cobra.Command{Use: "backups", Short: "Inspect the environment's backup source"}
	list := &cobra.Command{
		Use:   "list",
		Short: "List the snapshots at the backup source, newest first",
		Args:  cobra.NoArgs,
		RunE: func(cmd *cobra.Command, args []string) error {
			o, err := a.orchestrator(cmd, args)
			if err != nil {
				return err
			}
			snaps, err := o.Backups(cmd.Context())
			if err != nil {
				return err
			}
			if a.jsonOut {
				return a.printJSON(snaps)
			}
			if len(snaps) == 0 {
				fmt.Fprintf(a.stdout, "no snapshots at %s\n", o.Env.Backup.Source)
				return nil
			}
			tw := tabwriter.NewWriter(a.stdout, 0, 4, 2, ' ', 0)
			fmt.Fprintln(tw, "SNAPSHOT\tTIME\tSERVICES\tFILES\tSIZE\tCOMPLETE")
			partial := 0
			for _, s := range snaps {
				complete := "no manifest"
				switch {
				case s.Manifest:
					complete = "manifest"
				case s.Partial:
					complete = "PARTIAL"
					partial++
				}
				fmt.Fprintf(tw, "%s\t%s\t%s\t%d\t%s\t%s\n", s.ID, s.Time.UTC().Format(time.RFC3339), strings.Join(s.Services, ","), s.Files, human(float64(s.Bytes)), complete)
			}
			if err := tw.Flush(); err != nil {
				return err
			}
			fmt.Fprintln(a.stdout, "manifest: written last by termshift backup, checked by restore (files, sha256, counts); no manifest: another tool's backup, proven by its own trailer or finish line")
			if partial > 0 {
				fmt.Fprintf(a.stdout, "PARTIAL: a termshift backup that did not finish (%d): never picked as the newest; run it again with the same --id to replace it\n", partial)
			}
			return nil
		},
	}
	a.addJSONFlag(list)
	var id string
	upload := &cobra.Command{
		Use:   "upload DIR s3://bucket/prefix [--id SNAPSHOT]",
		Short: "Upload a local snapshot directory to S3 as snapshot ID (default: now, so it is the newest)",
		Args:  cobra.ExactArgs(2),
		RunE: func(cmd *cobra.Command, args []string) error {
			dir, dst := args[0], args[1]
			if !strings.HasPrefix(dst, "s3://") {
				return usageError{fmt.Errorf("destination %q: want s3://bucket/prefix", dst)}
			}
			if id == "" {
				id = a.now().UTC().Format("2006-01-02T15:04:05Z")
			}
			if strings.ContainsAny(id, "/\\") || id == "." || id == ".." {
				return usageError{fmt.Errorf("--id %q: a snapshot ID is one path element", id)}
			}
			o, err := a.orchestrator(cmd, args)
			if err != nil {
				return err
			}
			files, bytes, err := rollout.UploadSnapshot(cmd.Context(), o.Env.Backup.S3, dir, dst, id)
			if err != nil {
				return err
			}
			fmt.Fprintf(a.stdout, "uploaded %d files (%s) from %s to %s/%s\n", files, human(float64(bytes)), dir, strings.TrimSuffix(dst, "/"), id)
			return nil
		},
	}
	upload.Flags().StringVar(&id, "id", "", "snapshot ID (default: the current UTC time)")
	cmd.AddCommand(list, upload)
	return cmd
}
