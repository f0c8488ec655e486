package verify

import (
	"bufio"
	"bytes"
	"context"
	"fmt"
	"os"
	"slices"
	"strings"

	"github.com/termshift/termshift"
)

// planConfig: one job per rendered configuration file.
func planConfig(t Target, _ Options) []job {
	if len(t.ConfigFiles) == 0 {
		return single("-", Skip, "no rendered configuration")
	}
	rules := newConfigRules(t)
	var jobs []job
	for _, path := range t.ConfigFiles {
		jobs = append(jobs, job{target: path, run: func(ctx context.Context) (Status, string) {
			data, err := os.ReadFile(path)
			if err != nil {
				return Fail, fmt.Sprintf("read rendered configuration: %v", err)
			}
			findings := rules.scan(data)
			if len(findings) > 0 {
				return Fail, listDetail(findings, 5)
			}
			return Pass, fmt.Sprintf("names no other release's namespace and no bare logical name (%d lines)", bytes.Count(data, []byte("\n")))
		}})
	}
	return jobs
}

// configRules is what a release's configuration must not name.
type configRules struct {
	foreign   map[string]string // token -> "release X's mysql namespace"
	endpoints [][2]string       // host:port, "release X's memcached cluster"; sorted
	logical   map[string]bool
	// unescape decodes the escaped slash of vhosts in AMQP URLs:
	// "/%2Fcelery_next".
	unescape *strings.Replacer
}

func newConfigRules(t Target) *configRules {
	own := map[string]bool{}
	ownEndpoints := map[string]bool{}
	for _, ns := range t.Own {
		own[strings.TrimPrefix(ns.Name, "/")] = true
		own[ns.Cred.User] = true
		for _, ep := range ns.Endpoints {
			ownEndpoints[normEndpoint(ep)] = true
		}
	}
	r := &configRules{foreign: map[string]string{}, logical: map[string]bool{},
		unescape: strings.NewReplacer("%2F", "/", "%2f", "/")}
	for _, o := range t.Others {
		what := fmt.Sprintf("release %s's %s namespace", termshift.Quote(o.Release), o.Service)
		for _, name := range []string{strings.TrimPrefix(o.Name, "/"), o.Cred.User} {
			if name != "" && !own[name] {
				r.foreign[name] = what
			}
		}
		for _, ep := range o.Endpoints {
			if ep = normEndpoint(ep); ep != "" && !ownEndpoints[ep] {
				r.endpoints = append(r.endpoints, [2]string{ep, fmt.Sprintf("release %s's memcached cluster", termshift.Quote(o.Release))})
			}
		}
	}
	slices.SortFunc(r.endpoints, func(a, b [2]string) int { return strings.Compare(a[0], b[0]) })
	for _, l := range t.Logical {
		if l = strings.TrimPrefix(l, "/"); l != "" && !own[l] {
			r.logical[l] = true
		}
	}
	return r
}

// isTokenByte: a namespace name is made of these; anything else separates
// tokens, so "edxapp_next" never matches "edxapp".
func isTokenByte(c byte) bool {
	return c >= 'a' && c <= 'z' || c >= 'A' && c <= 'Z' || c >= '0' && c <= '9' || c == '_' || c == '$' || c == '-'
}

// scan returns findings as "line N: ..."; it quotes names, never the line,
// since configuration files hold passwords.
func (r *configRules) scan(data []byte) []string {
	var findings []string
	sc := bufio.NewScanner(bytes.NewReader(data))
	sc.Buffer(make([]byte, 64*1024), 16*1024*1024)
	for lineNo := 1; sc.Scan(); lineNo++ {
		line := r.unescape.Replace(sc.Text())
		var seen map[string]bool
		add := func(s string) {
			if !seen[s] {
				if seen == nil {
					seen = map[string]bool{}
				}
				seen[s] = true
				findings = append(findings, fmt.Sprintf("line %d: %s", lineNo, s))
			}
		}
		for i := 0; i < len(line); {
			if !isTokenByte(line[i]) {
				i++
				continue
			}
			j := i
			for j < len(line) && isTokenByte(line[j]) {
				j++
			}
			tok := line[i:j]
			if what, ok := r.foreign[tok]; ok {
				add(fmt.Sprintf("names %s (%s)", termshift.Quote(tok), what))
			} else if r.logical[tok] && usedAsName(line, i, j) {
				add(fmt.Sprintf("bare logical name %s used as a database or vhost name", termshift.Quote(tok)))
			}
			i = j
		}
		if len(r.endpoints) == 0 {
			continue
		}
		lower := strings.ToLower(line)
		for _, ep := range r.endpoints {
			if containsEndpoint(lower, ep[0]) {
				add(fmt.Sprintf("names %s (%s)", termshift.Quote(ep[0]), ep[1]))
			}
		}
	}
	return findings
}

// usedAsName tells a logical name used as a value (`"NAME": "edxapp"`,
// `host/edxapp?x`, `vhost: /celery`) from the same word as a mapping key
// (`edxapp:`, `"default": {`), a directory (`/edx/app/edxapp/lms`,
// `/edx/app/edxapp`), a host (`http://edxapp/`) or part of a dotted name,
// which are not database names.
func usedAsName(line string, i, j int) bool {
	if i > 0 && line[i-1] == '.' {
		return false
	}
	rest := line[j:]
	if rest != "" && (rest[0] == '/' || rest[0] == '.') {
		return false
	}
	rest = strings.TrimLeft(rest, `"'`)
	rest = strings.TrimLeft(rest, " \t")
	if strings.HasPrefix(rest, ":") && !strings.HasPrefix(rest, "://") {
		return false
	}
	if i == 0 || line[i-1] != '/' {
		return true
	}
	return slashBeforeName(line[:i-1])
}

// slashBeforeName looks at what precedes the '/' before a name: the start
// of a value (`"/celery"`), a URL's authority (`://host:3306/`) or an
// escaped vhost slash (`host/%2F`, decoded to `host//`) make it a name;
// another directory (`/edx/app/`) makes it a path; a "://" makes it a host.
func slashBeforeName(before string) bool {
	if before == "" {
		return true
	}
	if strings.HasSuffix(before, ":/") {
		return false // "scheme://name": a host
	}
	if strings.HasSuffix(before, "/") {
		return true // "host//name": an escaped "/name" vhost
	}
	k := strings.LastIndexAny(before, "/ \t\"'=,[({")
	if k < 0 {
		return false // "relative/dir/name"
	}
	if before[k] != '/' {
		return k == len(before)-1 // "/name" starts the value
	}
	// before[k+1:] is the previous segment: an authority after "//".
	return k > 0 && before[k-1] == '/'
}

// containsEndpoint finds host:port as a whole, so "host:11211" does not
// match inside "host:112110" or "myhost:11211".
func containsEndpoint(line, ep string) bool {
	for off := 0; ; {
		k := strings.Index(line[off:], ep)
		if k < 0 {
			return false
		}
		end := off + k + len(ep)
		start := off + k
		if (end == len(line) || line[end] < '0' || line[end] > '9') && (start == 0 || !isTokenByte(line[start-1]) && line[start-1] != '.') {
			return true
		}
		off = start + 1
	}
}
