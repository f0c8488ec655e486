package restore

import (
	"fmt"
	"sort"
	"time"
)

// Fingerprint identifies one version of a backup's files: each file's name
// with its size and S3 ETag, or modification time on disk. A checkpoint
// records it so that a resume can refuse a snapshot replaced in place.
type Fingerprint map[string]string

// NewFingerprint fingerprints files.
func NewFingerprint(files []FileInfo) Fingerprint {
	fp := Fingerprint{}
	for _, f := range files {
		stamp := fmt.Sprintf("%d bytes", f.Size)
		switch {
		case f.ETag != "":
			stamp += ", etag " + f.ETag
		case !f.ModTime.IsZero():
			stamp += ", modified " + f.ModTime.UTC().Format(time.RFC3339Nano)
		}
		fp[f.Name] = stamp
	}
	return fp
}

// Diff describes the first file (in name order) whose fingerprint differs
// between fp, recorded earlier, and now: changed, added or gone. It is ""
// when they are the same.
func (fp Fingerprint) Diff(now Fingerprint) string {
	names := make([]string, 0, len(fp)+len(now))
	for n := range fp {
		names = append(names, n)
	}
	for n := range now {
		if _, ok := fp[n]; !ok {
			names = append(names, n)
		}
	}
	sort.Strings(names)
	for _, n := range names {
		was, had := fp[n]
		is, has := now[n]
		switch {
		case !had:
			return fmt.Sprintf("%s was added (%s)", n, is)
		case !has:
			return fmt.Sprintf("%s is gone (it was %s)", n, was)
		case was != is:
			return fmt.Sprintf("%s changed: it was %s, it is %s", n, was, is)
		}
	}
	return ""
}
