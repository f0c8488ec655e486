package main

import (
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
  - {source: {{.Templates}}/lms.env.json.tmpl, target: lms.env.json}

releases:
  - name: current
    version: "1.0"
    port: 8101
    commands:
      # Migrations run on the release's own schema before it serves, so the
      # cutover needs no maintenance window (pre_cutover stays empty).
      web: [sh, -c, '"$0" migrate --config "$1" && exec "$0" web --config "$1"', {{.Bin}}/demo-lms, "{{"{{"}}.ConfigDir{{"}}"}}/lms.env.json"]
      worker: [{{.Bin}}/demo-lms, worker, --config, "{{"{{"}}.ConfigDir{{"}}"}}/lms.env.json"]
  - name: next
    version: "2.0"
    port: 8102
    commands:
      # Migrations run on the release's own schema before it serves, so the
      # cutover needs no maintenance window (pre_cutover stays empty).
      web: [sh, -c, '"$0" migrate --config "$1" && exec "$0" web --config "$1"', {{.Bin}}/demo-lms, "{{"{{"}}.ConfigDir{{"}}"}}/lms.env.json"]
      worker: [{{.Bin}}/demo-lms, worker, --config, "{{"{{"}}.ConfigDir{{"}}"}}/lms.env.json"]

router:
  provider: local
  listen: "127.0.0.1:8100"
  host: lms.localhost
  retention: 72h

verify:
  health_path: /heartbeat
  timeout: 20s
  smoke:
    - {name: version, method: GET, path: /version, status: 200, contains: '"version"'}
`

func (a *app) initCommand() *cobra.Command {
	var force bool
	var backupSource, root string
	cmd := &cobra.Command{
		Use:   "init",
		Short: "Write a termshift.yaml for the local servers of `make services`",
		Long: `Write an environment file (--env, default ./termshift.yaml) describing the local
servers that ` + "`make services`" + ` brings up, the small edX-like backup in testdata,
and two releases of the demo LMS (current 1.0 and next 2.0). Secrets stay out
of the file as ${VAR} references. An existing file is kept unless --force.`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			if _, err := os.Stat(a.envPath); err == nil && !force {
				return termshift.WithHint(fmt.Errorf("%s exists: not overwritten: %w", a.envPath, termshift.ErrRefused), "pass --force to replace it")
			} else if err != nil && !errors.Is(err, fs.ErrNotExist) {
				return fmt.Errorf("check %s: %w", a.envPath, err)
			}
			clusters, err := localClusters(a.lookupEnv)
			if err != nil {
				return err
			}
			rootAbs, err := filepath.Abs(root)
			if err != nil {
				return err
			}
			envDir, err := filepath.Abs(filepath.Dir(a.envPath))
			if err != nil {
				return err
			}
			rel := func(p string) string {
				if r, err := filepath.Rel(envDir, p); err == nil {
					return r
				}
				return p
			}
			if backupSource == "" {
				backupSource = rel(filepath.Join(rootAbs, "testdata", "backup"))
			}
			var b strings.Builder
			tmpl := template.Must(template.New("env").Parse(initTemplate))
			if err := tmpl.Execute(&b, map[string]any{
				"Clusters":     clusters,
				"BackupSource": backupSource,
				"Templates":    rel(filepath.Join(rootAbs, "testdata", "demo", "templates")),
				"Bin":          filepath.Join(rootAbs, "bin"),
			}); err != nil {
				return fmt.Errorf("render environment file: %w", err)
			}
			// Check what we are about to write the way `config validate` would.
			if _, err := envfile.ParseEnvironment(a.envPath, []byte(b.String()), a.lookupEnv); err != nil {
				return termshift.WithHint(fmt.Errorf("the generated environment does not validate: %w", err), "run `make services` first: it writes .termshift-dev/env")
			}
			if err := os.WriteFile(a.envPath, []byte(b.String()), 0o644); err != nil {
				return fmt.Errorf("write %s: %w", a.envPath, err)
			}
			fmt.Fprintf(a.stdout, "wrote %s for the local servers (%d memcached clusters, backup %s)\n", a.envPath, len(clusters), backupSource)
			fmt.Fprintln(a.stdout, "next: termshift config validate && termshift carve next && termshift restore next")
			return nil
		},
	}
	cmd.Flags().BoolVar(&force, "force", false, "overwrite an existing environment file")
	cmd.Flags().StringVar(&backupSource, "backup-source", "", "backup source to write (default: the testdata backup; e.g. s3://termshift-backups/prod)")
	cmd.Flags().StringVar(&root, "root", ".", "termshift checkout holding testdata/ and bin/")
	return cmd
}

// localClusters reads TERMSHIFT_MEMCACHED_CLUSTERS ("h:p,h:p;h:p").
func localClusters(lookup func(string) (string, bool)) ([][]string, error) {
	v, ok := lookup("TERMSHIFT_MEMCACHED_CLUSTERS")
	if !ok || v == "" {
		return nil, termshift.WithHint(errors.New("TERMSHIFT_MEMCACHED_CLUSTERS is not set: the local servers are unknown"), "run `make services` first: it writes .termshift-dev/env")
	}
	var out [][]string
	for _, c := range strings.Split(v, ";") {
		if c = strings.TrimSpace(c); c != "" {
			out = append(out, strings.Split(c, ","))
		}
	}
	return out, nil
}
