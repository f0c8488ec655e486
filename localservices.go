package termshift

import (
	"bufio"
	"os"
	"path/filepath"
	"strings"
)

// DevEnvFile is where `make services` writes the settings of the local
// servers, relative to the repository root.
const DevEnvFile = ".termshift-dev/env"

// LocalSetting returns a setting of the local servers brought up by `make
// services`: from the process environment first, else from DevEnvFile found
// in the working directory or one of its parents. Tests, the demo and the
// benchmarks read their servers this way.
func LocalSetting(name string) (string, bool) {
	if v, ok := os.LookupEnv(name); ok && v != "" {
		return v, true
	}
	dir, err := os.Getwd()
	if err != nil {
		return "", false
	}
	for {
		if v, ok := readDevEnv(filepath.Join(dir, DevEnvFile), name); ok {
			return v, true
		}
		parent := filepath.Dir(dir)
		if parent == dir {
			return "", false
		}
		dir = parent
	}
}

// readDevEnv reads NAME from lines of the form `export NAME='value'`.
func readDevEnv(path, name string) (string, bool) {
	f, err := os.Open(path)
	if err != nil {
		return "", false
	}
	defer f.Close()
	sc := bufio.NewScanner(f)
	for sc.Scan() {
		line := strings.TrimSpace(strings.TrimPrefix(strings.TrimSpace(sc.Text()), "export "))
		k, v, ok := strings.Cut(line, "=")
		if !ok || k != name {
			continue
		}
		v = strings.TrimSpace(v)
		if len(v) >= 2 && (v[0] == '\'' || v[0] == '"') && v[len(v)-1] == v[0] {
			v = v[1 : len(v)-1]
		}
		return v, v != ""
	}
	return "", false
}

// TB is the part of testing.TB that RequireLocalSetting needs; the root
// package does not import testing.
type TB interface {
	Helper()
	Skipf(format string, args ...any)
	Fatalf(format string, args ...any)
}

// RequireLocalSetting returns a local server's setting for a test. When it is
// missing the test fails under CI=true (a CI run that cannot reach its server
// is a failure, not a pass) and skips with the reason elsewhere.
func RequireLocalSetting(t TB, name string) string {
	t.Helper()
	v, ok := LocalSetting(name)
	if ok {
		return v
	}
	if os.Getenv("CI") == "true" {
		t.Fatalf("%s is not set and %s has no value: run `make services` (CI=true forbids skipping)", name, DevEnvFile)
	}
	t.Skipf("%s is not set: run `make services` to bring up the local servers", name)
	return ""
}
