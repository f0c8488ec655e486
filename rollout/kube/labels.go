package kube

import (
	"fmt"
	"strings"

	"k8s.io/apimachinery/pkg/util/validation"

	"github.com/termshift/termshift"
)

// The labels on every object termshift applies for a release. The public
// Service carries the environment label only: it belongs to no release.
const (
	LabelEnvironment = "termshift.io/environment"
	LabelRelease     = "termshift.io/release"
	LabelVersion     = "termshift.io/version"
	LabelManagedBy   = "app.kubernetes.io/managed-by"
	// LabelMaintenance is in the public Service's selector during a
	// maintenance window: no pod carries it, so no pod gets traffic.
	LabelMaintenance = "termshift.io/maintenance"
	// AnnotationConfig holds the sha256 of a release's configuration files
	// on its pod template, so that a change of configuration rolls the pods.
	AnnotationConfig = "termshift.io/config-sha256"
)

// ReleaseLabels are the labels of a release's objects.
func ReleaseLabels(env, release, version string) map[string]string {
	return map[string]string{LabelEnvironment: env, LabelRelease: release, LabelVersion: version, LabelManagedBy: FieldManager}
}

// Selector selects a release's pods: environment and release, never the
// version, so that a release redeployed with a new version keeps its
// Deployment (a Deployment's selector cannot change).
func Selector(env, release string) map[string]string {
	return map[string]string{LabelEnvironment: env, LabelRelease: release}
}

// EnvironmentSelector selects every object of an environment, as a label
// selector string for List.
func EnvironmentSelector(env string) string {
	return LabelEnvironment + "=" + env + "," + LabelRelease
}

// ReleaseName is the name of a release's Deployment, preview Service and
// preview Ingress: ENVIRONMENT-RELEASE (at most 61 characters: environment
// names are at most 40, release names 20), a DNS label as Service names must
// be.
func ReleaseName(env, release string) string { return env + "-" + release }

// SecretName is the name of the Secret holding a release's configuration.
func SecretName(env, release string) string { return ReleaseName(env, release) + "-config" }

// CheckLabelValue refuses a value that cannot be a label value (63
// characters at most, letters, digits, '-', '_', '.', starting and ending
// with a letter or digit), naming what it is.
func CheckLabelValue(what, v string) error {
	if errs := validation.IsValidLabelValue(v); len(errs) > 0 || v == "" {
		if v == "" {
			errs = append(errs, "must not be empty")
		}
		return fmt.Errorf("%s %s is not a valid Kubernetes label value: %s: %w", what, termshift.Quote(v), strings.Join(errs, "; "), termshift.ErrInvalid)
	}
	return nil
}

// CheckNamespace refuses a name that cannot be a namespace.
func CheckNamespace(ns string) error {
	if errs := validation.IsDNS1123Label(ns); len(errs) > 0 {
		return fmt.Errorf("namespace %s is not a valid Kubernetes namespace name: %s: %w", termshift.Quote(ns), strings.Join(errs, "; "), termshift.ErrInvalid)
	}
	return nil
}

// CheckRelease refuses an environment, release or version that cannot
// label a release's objects, or names that cannot name them, before
// anything is applied.
func CheckRelease(env, release, version string) error {
	for _, c := range []struct{ what, v string }{{"environment", env}, {"release", release}, {"version", version}} {
		if err := CheckLabelValue(c.what, c.v); err != nil {
			return err
		}
	}
	if errs := validation.IsDNS1035Label(ReleaseName(env, release)); len(errs) > 0 {
		return fmt.Errorf("object name %s (environment-release) is not a valid Service name: %s: %w", termshift.Quote(ReleaseName(env, release)), strings.Join(errs, "; "), termshift.ErrInvalid)
	}
	return nil
}
