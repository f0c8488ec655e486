// Package termshift holds the domain of a multi-version upgrade: services,
// releases, namespaces, the naming rules that derive a namespace's name from a
// logical database and a release, secrets that never print, and the error
// types every other package reports with. It imports only the standard library.
package termshift
