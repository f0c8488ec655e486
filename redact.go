package termshift

import (
	"net/url"
	"sort"
	"strings"
)

// Redactor returns a function that replaces every secret in a text with
// repl: as written, and in the escaped forms a URL gives it (userinfo, path,
// query). Secrets shorter than four bytes are left alone: they cannot be
// told from ordinary text. It is the journal's, the logs' and the
// configuration diff's last line of defence.
func Redactor(secrets []string, repl string) func(string) string {
	var forms []string
	for _, sec := range secrets {
		if len(sec) < 4 {
			continue
		}
		_, userinfo, _ := strings.Cut(url.UserPassword("u", sec).String(), ":")
		forms = append(forms, sec, userinfo, url.PathEscape(sec), url.QueryEscape(sec))
	}
	// Longest first, so a secret containing another is replaced whole.
	sort.Slice(forms, func(i, j int) bool { return len(forms[i]) > len(forms[j]) })
	return func(text string) string {
		for _, f := range forms {
			text = strings.ReplaceAll(text, f, repl)
		}
		return text
	}
}
