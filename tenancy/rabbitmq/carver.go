// Package rabbitmq carves a release's virtual hosts on a shared RabbitMQ
// broker: one vhost per logical vhost, each with its own user (no tags, so no
// management access) that may configure, write and read in that vhost only,
// and an owner marker in the vhost's description and tags.
package rabbitmq

import (
	"context"
	"errors"
	"fmt"
	"net/http"
	"strings"

	rabbithole "github.com/michaelklishin/rabbit-hole/v2"
	"github.com/termshift/termshift"
	"github.com/termshift/termshift/tenancy"
)

// Carver carves vhosts and their users on one RabbitMQ broker.
type Carver struct {
	mgmt     *rabbithole.Client
	mgmtUser string
	prober   *Prober
}

// New connects to the management API with the administrator's credential and
// checks that it is accepted.
func New(ctx context.Context, cfg Config) (*Carver, error) {
	prober, err := NewProber(cfg)
	if err != nil {
		return nil, err
	}
	mgmtHost, err := cfg.managementHost()
	if err != nil {
		return nil, err
	}
	mgmt, err := rabbithole.NewClient(cfg.ManagementURL, cfg.ManagementUser, cfg.ManagementPassword.Reveal())
	if err != nil {
		return nil, fmt.Errorf("rabbitmq management %s: %w", mgmtHost, err)
	}
	mgmt.SetTimeout(cfg.timeout())
	c := &Carver{mgmt: mgmt, mgmtUser: cfg.ManagementUser, prober: prober}
	if err := ctx.Err(); err != nil {
		return nil, err
	}
	if _, err := mgmt.Whoami(); err != nil {
		return nil, fmt.Errorf("connect to rabbitmq management %s as %s: %w", mgmtHost, termshift.Quote(cfg.ManagementUser), err)
	}
	return c, nil
}

// Server names the broker for messages: "rabbitmq 127.0.0.1:5672".
func (c *Carver) Server() string { return c.prober.Server() }

// Close implements the carver method set; the management client holds no
// connection of its own.
func (c *Carver) Close() error { return nil }

// validate refuses a namespace no carver or prober may touch: the default
// vhost, or an administrator (mgmtUser, guest) as a release's user.
func validate(ns termshift.Namespace, mgmtUser string) error {
	if ns.Service != termshift.RabbitMQ {
		return fmt.Errorf("namespace %s is not a rabbitmq namespace: %w", ns, termshift.ErrInvalid)
	}
	if err := termshift.ValidateVhost(ns.Name); err != nil {
		return err
	}
	if ns.Name == "/" {
		return &termshift.NameError{What: "RabbitMQ vhost", Name: ns.Name, Rule: "is the broker's default vhost, never a release's"}
	}
	if err := termshift.ValidateVhost(ns.User); err != nil {
		return &termshift.NameError{What: "RabbitMQ user", Name: ns.User, Rule: "must be 1-255 bytes of printable ASCII without spaces"}
	}
	if (mgmtUser != "" && ns.User == mgmtUser) || ns.User == "guest" {
		return &termshift.NameError{What: "RabbitMQ user", Name: ns.User, Rule: "is an administrator, never a release's user"}
	}
	return nil
}

func (c *Carver) validate(ns termshift.Namespace) error { return validate(ns, c.mgmtUser) }

func isNotFound(err error) bool {
	var er rabbithole.ErrorResponse
	return errors.As(err, &er) && er.StatusCode == http.StatusNotFound
}

// ownerTagPrefix starts the vhost tag that repeats the owner marker, so
// that `rabbitmqctl list_vhosts name tags` shows it too.
const ownerTagPrefix = "termshift:"

func vhostSettings(owner termshift.Owner) rabbithole.VhostSettings {
	return rabbithole.VhostSettings{Description: tenancy.FormatMarker(owner), Tags: rabbithole.VhostTags{ownerTagPrefix + owner.String()}}
}

func (c *Carver) notOurs(ns termshift.Namespace, found, want termshift.Owner, userOnly bool) error {
	return &tenancy.NotOursError{Namespace: ns, Server: c.Server(), Found: found, Want: want, UserOnly: userOnly}
}

// Carve creates the vhost with owner's marker (its description
// "termshift owner=qa/next" and tag "termshift:qa/next"), then its user
// with every permission in that vhost only, and proves the new credential
// with the Prober. A vhost already marked for owner is kept: a missing user
// is created, an existing one keeps its password and gets its permissions
// again (tenancy.Exists when both were there). A vhost marked for another
// owner or not marked at all, or a user without its vhost, is refused with a
// *tenancy.NotOursError and nothing is changed.
func (c *Carver) Carve(ctx context.Context, ns termshift.Namespace, password termshift.Secret, owner termshift.Owner) (tenancy.Result, error) {
	res := tenancy.Result{Namespace: ns, Isolation: tenancy.Enforced}
	if err := c.validate(ns); err != nil {
		return res, fmt.Errorf("carve: %w", err)
	}
	if err := tenancy.ValidateOwner(owner); err != nil {
		return res, fmt.Errorf("carve %s: %w", ns, err)
	}
	if password == "" {
		return res, fmt.Errorf("carve %s: empty password: %w", ns, termshift.ErrInvalid)
	}
	// The user first: a carve makes the namespace before its user, so a
	// user seen here has its namespace by the time that is looked up, and a
	// concurrent carve of the same name is told apart from a user made by
	// hand.
	userOK, err := c.userExists(ctx, ns)
	if err != nil {
		return res, err
	}
	found, vhostOK, err := c.owner(ctx, ns)
	if err != nil {
		return res, err
	}
	switch {
	case vhostOK && found != owner:
		return res, c.notOurs(ns, found, owner, false)
	case !vhostOK && userOK:
		return res, c.notOurs(ns, termshift.Owner{}, owner, true)
	}
	res.Outcome = tenancy.Exists
	if !vhostOK {
		res.Outcome = tenancy.Created
		if err := c.createVhost(ctx, ns, owner); err != nil {
			return res, err
		}
	}
	if !userOK {
		res.Outcome = tenancy.Created
		if err := c.do(ctx, "create user "+termshift.Quote(ns.User), func() (*http.Response, error) {
			return c.mgmt.PutUser(ns.User, rabbithole.UserSettings{Name: ns.User, Tags: rabbithole.UserTags{}, Password: password.Reveal()})
		}); err != nil {
			return res, err
		}
	}
	// Setting the same permissions again is harmless and repairs a grant
	// removed by hand.
	if err := c.do(ctx, "grant "+termshift.Quote(ns.User)+" on vhost "+termshift.Quote(ns.Name), func() (*http.Response, error) {
		return c.mgmt.UpdatePermissionsIn(ns.Name, ns.User, rabbithole.Permissions{Configure: ".*", Write: ".*", Read: ".*"})
	}); err != nil {
		return res, err
	}
	if res.Outcome == tenancy.Created {
		if err := c.prober.Probe(ctx, termshift.Credential{User: ns.User, Password: password}, ns); err != nil {
			return res, fmt.Errorf("carve %s: the new credential does not work: %w", ns, err)
		}
	}
	return res, nil
}

// createVhost creates the vhost with owner's marker. The management API
// has no create-only request: PUT answers 201 when it created the vhost and
// 204 when one was there, whose description and tags it has then replaced.
// A 204 means another carver created the vhost between the look-up and the
// PUT: the marker it holds now is ours but the vhost is not, so it is
// cleared (whoever made the vhost must look at it) and Carve refuses.
func (c *Carver) createVhost(ctx context.Context, ns termshift.Namespace, owner termshift.Owner) error {
	status, err := c.doStatus(ctx, "create vhost "+termshift.Quote(ns.Name), func() (*http.Response, error) {
		return c.mgmt.PutVhost(ns.Name, vhostSettings(owner))
	})
	if err != nil || status != http.StatusNoContent {
		return err
	}
	err = c.do(context.WithoutCancel(ctx), "clear the marker of vhost "+termshift.Quote(ns.Name), func() (*http.Response, error) {
		return c.mgmt.PutVhost(ns.Name, rabbithole.VhostSettings{})
	})
	if err != nil {
		return fmt.Errorf("vhost %s on %s was created by someone else while this carve created it, and its owner marker now names %s, which is wrong; clearing it failed, fix its description by hand: %w",
			termshift.Quote(ns.Name), c.Server(), owner, err)
	}
	return fmt.Errorf("vhost %s on %s was created by someone else while this carve created it: it is not ours; its description and tags were cleared, check who owns it: %w",
		termshift.Quote(ns.Name), c.Server(), termshift.ErrRefused)
}

// do runs one management request, which the client cannot cancel, after
// checking ctx.
func (c *Carver) do(ctx context.Context, what string, req func() (*http.Response, error)) error {
	_, err := c.doStatus(ctx, what, req)
	return err
}

// doStatus is do that also returns the HTTP status: rabbit-hole reports a
// DELETE answered 404 as success, and a PUT's 201 and 204 alike.
func (c *Carver) doStatus(ctx context.Context, what string, req func() (*http.Response, error)) (int, error) {
	if err := ctx.Err(); err != nil {
		return 0, fmt.Errorf("%s on %s: %w", what, c.Server(), err)
	}
	resp, err := req()
	status := 0
	if resp != nil {
		status = resp.StatusCode
		if resp.Body != nil {
			resp.Body.Close()
		}
	}
	if err != nil {
		return status, fmt.Errorf("%s on %s: %w", what, c.Server(), err)
	}
	return status, nil
}

// Drop deletes the user and the vhost with everything in it, only when the
// vhost's marker names owner; another owner's or an unmarked vhost is
// refused with a *tenancy.NotOursError. tenancy.Absent when the vhost is not
// there; a user without its vhost is left alone (a note says so).
func (c *Carver) Drop(ctx context.Context, ns termshift.Namespace, owner termshift.Owner) (tenancy.Result, error) {
	res := tenancy.Result{Namespace: ns, Isolation: tenancy.Enforced, Outcome: tenancy.Absent}
	if err := c.validate(ns); err != nil {
		return res, fmt.Errorf("drop: %w", err)
	}
	if err := tenancy.ValidateOwner(owner); err != nil {
		return res, fmt.Errorf("drop %s: %w", ns, err)
	}
	found, vhostOK, err := c.owner(ctx, ns)
	if err != nil {
		return res, err
	}
	if !vhostOK {
		userOK, err := c.userExists(ctx, ns)
		if err != nil {
			return res, err
		}
		if userOK {
			res.Notes = append(res.Notes, tenancy.UserOnlyNote(ns.User))
		}
		return res, nil
	}
	if found != owner {
		return res, c.notOurs(ns, found, owner, false)
	}
	res.Outcome = tenancy.Dropped
	// The user first: a vhost left by a crash between the two still carries
	// its marker, a user without its vhost would not be ours.
	for _, step := range []struct {
		what string
		req  func() (*http.Response, error)
	}{
		{"delete user " + termshift.Quote(ns.User), func() (*http.Response, error) { return c.mgmt.DeleteUser(ns.User) }},
		{"delete vhost " + termshift.Quote(ns.Name), func() (*http.Response, error) { return c.mgmt.DeleteVhost(ns.Name) }},
	} {
		if _, err := c.doStatus(ctx, step.what, step.req); err != nil && !isNotFound(err) {
			return res, err
		}
	}
	return res, nil
}

// Owner reads the vhost's owner marker from its description, else from its
// tags: exists is false when there is no such vhost; a zero owner with
// exists true means the vhost has no marker.
func (c *Carver) Owner(ctx context.Context, ns termshift.Namespace) (termshift.Owner, bool, error) {
	if err := c.validate(ns); err != nil {
		return termshift.Owner{}, false, fmt.Errorf("owner: %w", err)
	}
	return c.owner(ctx, ns)
}

func (c *Carver) owner(ctx context.Context, ns termshift.Namespace) (termshift.Owner, bool, error) {
	if err := ctx.Err(); err != nil {
		return termshift.Owner{}, false, err
	}
	v, err := c.mgmt.GetVhost(ns.Name)
	switch {
	case isNotFound(err):
		return termshift.Owner{}, false, nil
	case err != nil:
		return termshift.Owner{}, false, fmt.Errorf("look up vhost %s on %s: %w", termshift.Quote(ns.Name), c.Server(), err)
	}
	if o, ok := tenancy.ParseMarker(v.Description); ok {
		return o, true, nil
	}
	for _, tag := range v.Tags {
		if rest, ok := strings.CutPrefix(tag, ownerTagPrefix); ok {
			if o, err := termshift.ParseOwner(rest); err == nil {
				return o, true, nil
			}
		}
	}
	return termshift.Owner{}, true, nil
}

// Exists reports whether both the vhost and its user exist.
func (c *Carver) Exists(ctx context.Context, ns termshift.Namespace) (bool, error) {
	if err := c.validate(ns); err != nil {
		return false, fmt.Errorf("exists: %w", err)
	}
	_, vhostOK, err := c.owner(ctx, ns)
	if err != nil || !vhostOK {
		return false, err
	}
	return c.userExists(ctx, ns)
}

func (c *Carver) userExists(ctx context.Context, ns termshift.Namespace) (bool, error) {
	if err := ctx.Err(); err != nil {
		return false, err
	}
	_, err := c.mgmt.GetUser(ns.User)
	switch {
	case err == nil:
		return true, nil
	case isNotFound(err):
		return false, nil
	}
	return false, fmt.Errorf("look up user %s on %s: %w", termshift.Quote(ns.User), c.Server(), err)
}

// List returns every vhost on the broker, the default "/" included.
func (c *Carver) List(ctx context.Context) ([]string, error) {
	if err := ctx.Err(); err != nil {
		return nil, err
	}
	vhosts, err := c.mgmt.ListVhosts()
	if err != nil {
		return nil, fmt.Errorf("list vhosts on %s: %w", c.Server(), err)
	}
	out := make([]string, 0, len(vhosts))
	for _, v := range vhosts {
		out = append(out, v.Name)
	}
	return out, nil
}
