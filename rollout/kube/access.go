package kube

import (
	"context"
	"fmt"
	"strings"

	authv1 "k8s.io/api/authorization/v1"
	rbacv1 "k8s.io/api/rbac/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"

	"github.com/termshift/termshift"
)

// Permission is one verb on one resource.
type Permission struct {
	Group, Resource string
	Verbs           []string
}

// Denied is the error of a permission the credentials lack.
type Denied struct {
	Server, Verb, Resource, Namespace, Reason string
}

func (e *Denied) Error() string {
	msg := fmt.Sprintf("kubernetes %s: the credentials may not %s %s in namespace %s", e.Server, e.Verb, e.Resource, termshift.Quote(e.Namespace))
	if e.Reason != "" {
		msg += " (" + e.Reason + ")"
	}
	return msg + "; nothing was applied"
}

// Is makes a Denied match termshift.ErrRefused.
func (e *Denied) Is(target error) bool { return target == termshift.ErrRefused }

// CheckAccess asks the API server, before anything is applied, whether the
// credentials hold every permission in namespace (SelfSubjectAccessReview,
// which every authenticated user may create). The first one missing is a
// *Denied naming the verb, the resource and the namespace; a server that
// does not answer is an *Error naming it.
func (c *Client) CheckAccess(ctx context.Context, namespace string, perms []Permission) error {
	for _, p := range perms {
		for _, verb := range p.Verbs {
			review := &authv1.SelfSubjectAccessReview{Spec: authv1.SelfSubjectAccessReviewSpec{
				ResourceAttributes: &authv1.ResourceAttributes{Namespace: namespace, Verb: verb, Group: p.Group, Resource: p.Resource},
			}}
			got, err := c.AuthorizationV1().SelfSubjectAccessReviews().Create(ctx, review, metav1.CreateOptions{})
			if err != nil {
				return c.Err(err, "create", "selfsubjectaccessreviews", "", "")
			}
			if !got.Status.Allowed {
				res := p.Resource
				if p.Group != "" {
					res += "." + p.Group
				}
				return &Denied{Server: c.Server, Verb: verb, Resource: res, Namespace: namespace, Reason: strings.TrimSpace(got.Status.Reason)}
			}
		}
	}
	return nil
}

// Rules are the RBAC rules of a Role that grants perms.
func Rules(perms ...[]Permission) []rbacv1.PolicyRule {
	var out []rbacv1.PolicyRule
	for _, ps := range perms {
		for _, p := range ps {
			out = append(out, rbacv1.PolicyRule{APIGroups: []string{p.Group}, Resources: []string{p.Resource}, Verbs: p.Verbs})
		}
	}
	return out
}
