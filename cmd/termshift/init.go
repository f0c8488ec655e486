package main

import (
	_ "embed"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"strings"
	"text/template"

	"github.com/spf13/cobra"

	"github.com/termshift/termshift"
	"github.com/termshift/termshift/rollout/envfile"
)

// initTemplate is the environment of the local servers of `make services`.
// Secrets stay out of the file: they are ${VAR} references, resolved from
// the process environment or .termshift-dev/env.
const initTemplate = `# termshift environment for the local servers of ` + "`make services`" + `.
# Secrets are ${VAR} references, resolved from the process environment
# (or, for TERMSHIFT_* names, from .termshift-dev/env).
{{- if not .Found}}
# The local servers were not found when this file was written: set the
# TERMSHIFT_* variables below (a termshift checkout's ` + "`make services`" + ` writes
# them to .termshift-dev/env), and list your memcached clusters.
{{- end}}
name: local
naming: "{logical}_{release}"

servers:
  mysql:
    dsn: "${TERMSHIFT_MYSQL_DSN}"
    user_host: "%"
  mongo:
    uri: "${TERMSHIFT_MONGO_URI}"
  rabbitmq:
    url: "${TERMSHIFT_RABBITMQ_URL}"
    management_url: "${TERMSHIFT_RABBITMQ_MANAGEMENT_URL}"
    management_user: "${TERMSHIFT_RABBITMQ_MANAGEMENT_USER}"
    management_password: "${TERMSHIFT_RABBITMQ_MANAGEMENT_PASSWORD}"
  memcached:
    provider: pool
    clusters:
{{- range $i, $c := .Clusters}}
      cache{{$i}}: [{{range $j, $h := $c}}{{if $j}}, {{end}}"{{$h}}"{{end}}]
{{- end}}

# Logical databases, each with its name in the backup snapshot.
databases:
  mysql:
    - {name: edxapp, backup: edxapp_residential_live}
    - {name: xqueue, backup: xqueue_residential_live}
  mongo:
    - {name: modulestore, backup: modulestore_residential_live}
    - {name: forum, backup: forum_residential_live}
  rabbitmq:
    - {name: celery, backup: celery_residential_live}
  memcached:
    - {name: default}

backup:
  source: {{.BackupSource}}
  s3:
    endpoint: "${TERMSHIFT_S3_ENDPOINT}"
    region: "${TERMSHIFT_S3_REGION}"
    path_style: true
    access_key: "${TERMSHIFT_S3_ACCESS_KEY}"
    secret_key: "${TERMSHIFT_S3_SECRET_KEY}"

scrub:
  preset: openedx

templates:
  - {source: templates/lms.env.json.tmpl, target: lms.env.json}

releases:
  - name: current
    version: "1.0"
    port: 8101
    commands:
      # Migrations run on the release's own schema before it serves, so the
      # cutover needs no maintenance window (pre_cutover stays empty).
      web: [sh, -c, '"$0" migrate --config "$1" && exec "$0" web --config "$1"', {{.LMS}}, "{{"{{"}}.ConfigDir{{"}}"}}/lms.env.json"]
      worker: [{{.LMS}}, worker, --config, "{{"{{"}}.ConfigDir{{"}}"}}/lms.env.json"]
  - name: next
    version: "2.0"
    port: 8102
    commands:
      # Migrations run on the release's own schema before it serves, so the
      # cutover needs no maintenance window (pre_cutover stays empty).
      web: [sh, -c, '"$0" migrate --config "$1" && exec "$0" web --config "$1"', {{.LMS}}, "{{"{{"}}.ConfigDir{{"}}"}}/lms.env.json"]
      worker: [{{.LMS}}, worker, --config, "{{"{{"}}.ConfigDir{{"}}"}}/lms.env.json"]

router:
  provider: local
  listen: "127.0.0.1:8100"         # public traffic
  admin_listen: "127.0.0.1:8099"   # dashboard, status, metrics: never on the public address
  host: lms.localhost
  retention: 72h
  preview:
    allow: ["127.0.0.0/8", "::1/128"]   # who may preview a release that is not live
    # grant_key: "${TERMSHIFT_PREVIEW_KEY}"  # enables signed links: termshift preview-link

verify:
  health_path: /heartbeat
  timeout: 20s
  smoke:
    - {name: version, method: GET, path: /version, status: 200, contains: '"version"'}
`

// lmsTemplate is the demo LMS's configuration template; init writes it
// beside the environment file, so the file works wherever it is written.
//
//go:embed templates/lms.env.json.tmpl
var lmsTemplate []byte

func (a *app) initCommand() *cobra.Command {
	var force bool
	var backupSource, root string
	cmd := &cobra.Command{
		Use:   "init",
		Short: "Write a termshift.yaml for the local servers of `make services`",
		Long: `Write an environment file (--env, default ./termshift.yaml) describing the local
servers that ` + "`make services`" + ` brings up, and two releases of the demo LMS (current
1.0 and next 2.0), with the demo's configuration template beside it
(templates/lms.env.json.tmpl). Secrets stay out of the file as ${VAR}
references. Inside a termshift checkout (or with --root CHECKOUT) the backup
source is its testdata backup and the releases run its bin/demo-lms; elsewhere
--backup-source names yours. An existing file is kept unless --force.`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			if _, err := os.Stat(a.envPath); err == nil && !force {
				return termshift.WithHint(fmt.Errorf("%s exists: not overwritten: %w", a.envPath, termshift.ErrRefused), "pass --force to replace it")
			} else if err != nil && !errors.Is(err, fs.ErrNotExist) {
				return fmt.Errorf("check %s: %w", a.envPath, err)
			}
			envDir, err := filepath.Abs(filepath.Dir(a.envPath))
			if err != nil {
				return err
			}
			if fi, err := os.Stat(envDir); err != nil || !fi.IsDir() {
				return fmt.Errorf("write %s: directory %s does not exist: %w", a.envPath, envDir, termshift.ErrNotFound)
			}
			checkout := findCheckout(root)
			clusters, found := localClusters(a.lookupEnv)
			rel := func(p string) string {
				if r, err := filepath.Rel(envDir, p); err == nil {
					return r
				}
				return p
			}
			bin := "demo-lms" // on PATH, outside a checkout
			if checkout != "" {
				bin = filepath.Join(checkout, "bin", "demo-lms")
			}
			if backupSource == "" {
				if checkout == "" {
					return termshift.WithHint(fmt.Errorf("init: no backup source: this is not a termshift checkout (no testdata/backup here or at --root): %w", termshift.ErrInvalid),
						"pass --backup-source DIR|s3://BUCKET/PREFIX (where your nightly snapshots are), or --root CHECKOUT for the demo backup")
				}
				backupSource = rel(filepath.Join(checkout, "testdata", "backup"))
			}
			var b strings.Builder
			tmpl := template.Must(template.New("env").Parse(initTemplate))
			if err := tmpl.Execute(&b, map[string]any{"Clusters": clusters, "Found": found, "BackupSource": backupSource, "LMS": bin}); err != nil {
				return fmt.Errorf("render environment file: %w", err)
			}
			tmplPath := filepath.Join(envDir, "templates", "lms.env.json.tmpl")
			if _, err := os.Stat(tmplPath); errors.Is(err, fs.ErrNotExist) || force {
				if err := os.MkdirAll(filepath.Dir(tmplPath), 0o755); err != nil {
					return fmt.Errorf("write %s: %w", tmplPath, err)
				}
				if err := os.WriteFile(tmplPath, lmsTemplate, 0o644); err != nil {
					return fmt.Errorf("write %s: %w", tmplPath, err)
				}
			}
			// Check what we are about to write the way `config validate`
			// would; ${VAR}s not set here are the operator's to set.
			if _, err := envfile.ParseEnvironment(a.envPath, []byte(b.String()), placeholderLookup(a.lookupEnv)); err != nil {
				return fmt.Errorf("init: the generated environment does not validate (a bug in init): %w", err)
			}
			if err := os.WriteFile(a.envPath, []byte(b.String()), 0o644); err != nil {
				return fmt.Errorf("write %s: %w", a.envPath, err)
			}
			fmt.Fprintf(a.stdout, "wrote %s (%d memcached clusters, backup %s) and %s\n", a.envPath, len(clusters), backupSource, rel(tmplPath))
			if !found {
				fmt.Fprintln(a.stdout, "the local servers' settings were not found: set the TERMSHIFT_* variables the file names (a termshift checkout's `make services` writes them to .termshift-dev/env) and list your memcached clusters")
			}
			fmt.Fprintln(a.stdout, "next: termshift config validate && termshift carve next && termshift restore next")
			return nil
		},
	}
	cmd.Flags().BoolVar(&force, "force", false, "overwrite an existing environment file and template")
	cmd.Flags().StringVar(&backupSource, "backup-source", "", "backup source to write (default: a checkout's testdata backup; e.g. s3://termshift-backups/prod)")
	cmd.Flags().StringVar(&root, "root", "", "termshift checkout holding testdata/ and bin/ (default: this directory, or the checkout the termshift binary was built in)")
	return cmd
}

// findCheckout finds a termshift checkout: root when given, else the
// working directory or the parent of the directory holding this binary
// (bin/termshift of a checkout). "" when none.
func findCheckout(root string) string {
	isCheckout := func(dir string) bool {
		fi, err := os.Stat(filepath.Join(dir, "testdata", "backup"))
		return err == nil && fi.IsDir()
	}
	var candidates []string
	if root != "" {
		candidates = []string{root}
	} else {
		candidates = append(candidates, ".")
		if exe, err := os.Executable(); err == nil {
			candidates = append(candidates, filepath.Dir(filepath.Dir(exe)))
		}
	}
	for _, c := range candidates {
		if abs, err := filepath.Abs(c); err == nil && isCheckout(abs) {
			return abs
		}
	}
	return ""
}

// localClusters reads TERMSHIFT_MEMCACHED_CLUSTERS ("h:p,h:p;h:p"); without
// it, one cluster on memcached's default port stands in.
func localClusters(lookup func(string) (string, bool)) ([][]string, bool) {
	v, ok := lookup("TERMSHIFT_MEMCACHED_CLUSTERS")
	if !ok || v == "" {
		return [][]string{{"127.0.0.1:11211"}}, false
	}
	var out [][]string
	for _, c := range strings.Split(v, ";") {
		if c = strings.TrimSpace(c); c != "" {
			out = append(out, strings.Split(c, ","))
		}
	}
	return out, true
}

// placeholderLookup resolves TERMSHIFT_* names that are not set to a
// placeholder, so that init checks the file's structure without the
// operator's servers.
func placeholderLookup(lookup func(string) (string, bool)) func(string) (string, bool) {
	return func(name string) (string, bool) {
		if v, ok := lookup(name); ok {
			return v, true
		}
		switch {
		case strings.HasSuffix(name, "_DSN"):
			return "user:pw@tcp(127.0.0.1:3306)/", true
		case strings.HasSuffix(name, "_URI"):
			return "mongodb://127.0.0.1:27017/", true
		case strings.HasSuffix(name, "RABBITMQ_URL"):
			return "amqp://127.0.0.1:5672/", true
		case strings.HasSuffix(name, "_URL"), strings.HasSuffix(name, "_ENDPOINT"):
			return "http://127.0.0.1/", true
		case strings.HasPrefix(name, "TERMSHIFT_"):
			return "x", true
		}
		return "", false
	}
}
