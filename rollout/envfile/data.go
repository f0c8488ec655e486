package envfile

import "fmt"

// DataSpec is where a release's data lives. A release that shares another
// release's data (a patch release: same schema, no migrations) gets no
// namespaces of its own: nothing is carved, restored or scrubbed for it,
// and its configuration points at the owner's namespaces and credentials.
type DataSpec struct {
	// SharedWith names the release whose namespaces this release uses.
	SharedWith string `yaml:"shared_with"`
}

// SharesData reports whether release borrows another release's data, and
// whose. A release that is not in the environment shares nothing.
func (e *Environment) SharesData(release string) (owner string, ok bool) {
	r, found := e.Release(release)
	if !found || r.Data == nil || r.Data.SharedWith == "" {
		return "", false
	}
	return r.Data.SharedWith, true
}

// Sharers lists the releases that borrow owner's data, in file order.
func (e *Environment) Sharers(owner string) []string {
	var out []string
	for _, r := range e.Releases {
		if r.Data != nil && r.Data.SharedWith == owner && owner != "" {
			out = append(out, r.Name)
		}
	}
	return out
}

// DataOwner is the release whose namespaces release uses: the release
// itself unless it shares another's data.
func (e *Environment) DataOwner(release string) string {
	if owner, ok := e.SharesData(release); ok {
		return owner
	}
	return release
}

// validateSharedData checks every data.shared_with: it names another
// release of the file, that release owns its data (shared data has one
// owner, so no chains), and nothing else in the release contradicts it.
func (v *validator) validateSharedData(env *Environment) {
	names := map[string]ReleaseSpec{}
	for _, r := range env.Releases {
		if _, dup := names[r.Name]; !dup {
			names[r.Name] = r
		}
	}
	for i, r := range env.Releases {
		if r.Data == nil {
			continue
		}
		f := fmt.Sprintf("releases.%d.data.shared_with", i)
		with := r.Data.SharedWith
		owner, known := names[with]
		switch {
		case with == "":
			v.fail(f, "is required under data: the release whose namespaces %q uses (or remove data: for namespaces of its own)", r.Name)
			continue
		case with == r.Name:
			v.fail(f, "names release %q itself: a release either owns its data (remove data:) or shares another release's", r.Name)
			continue
		case !known:
			v.fail(f, "names %s, which is not a release of this file (releases: %s)", short(with), releaseList(env))
			continue
		case owner.Data != nil && owner.Data.SharedWith != "":
			path, root := chain(names, r.Name)
			if root == "" {
				v.fail(f, "names %q, which shares %q's data itself, round in a circle (%s): one of these releases must own its data (remove its data:)", with, owner.Data.SharedWith, path)
			} else {
				v.fail(f, "names %q, which shares %q's data itself (%s): shared data has one owner, so write shared_with: %s", with, owner.Data.SharedWith, path, root)
			}
			continue
		}
		if len(r.PreCutover) > 0 {
			v.fail(fmt.Sprintf("releases.%d.pre_cutover", i), "runs commands (migrations) before cutover, but release %q shares %q's data: a migration would change the live release's schema under it; a release that migrates needs namespaces of its own (remove data:)", r.Name, with)
		}
	}
}

// chain follows shared_with from name: the path as "a -> b -> c" and the
// release that owns the data at its end, "" when the path is a circle.
func chain(names map[string]ReleaseSpec, name string) (path, root string) {
	seen := map[string]bool{}
	path = name
	for {
		seen[name] = true
		r, ok := names[name]
		if !ok || r.Data == nil || r.Data.SharedWith == "" {
			return path, name
		}
		name = r.Data.SharedWith
		path += " -> " + name
		if seen[name] {
			return path, ""
		}
	}
}

func releaseList(env *Environment) string {
	s := ""
	for i, r := range env.Releases {
		if i > 0 {
			s += ", "
		}
		s += r.Name
	}
	return s
}
