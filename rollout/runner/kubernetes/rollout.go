package kubernetes

import (
	"context"
	"fmt"
	"io"
	"maps"
	"slices"
	"sort"
	"strings"
	"time"

	appsv1 "k8s.io/api/apps/v1"
	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/labels"

	"github.com/termshift/termshift"
	"github.com/termshift/termshift/rollout/kube"
)

// reasonProgressDeadline is the Progressing condition's reason when a
// rollout made no progress within the Deployment's deadline.
const reasonProgressDeadline = "ProgressDeadlineExceeded"

// rolloutStatus reads a Deployment's status as `kubectl rollout status`
// does: the controller has seen the newest spec (observedGeneration), every
// replica is updated, no old replica is left, every updated one is
// available. A rollout past its progress deadline is stuck.
func rolloutStatus(d *appsv1.Deployment) (msg string, done, stuck bool) {
	if d.Generation > d.Status.ObservedGeneration {
		return "waiting for the deployment controller to observe the new spec", false, false
	}
	for _, c := range d.Status.Conditions {
		if c.Type == appsv1.DeploymentProgressing && c.Reason == reasonProgressDeadline {
			return fmt.Sprintf("no progress within the progress deadline (%ds): %s", deref(d.Spec.ProgressDeadlineSeconds), c.Message), false, true
		}
	}
	want := deref(d.Spec.Replicas)
	s := d.Status
	switch {
	case s.UpdatedReplicas < want:
		return fmt.Sprintf("%d out of %d new replicas have been updated", s.UpdatedReplicas, want), false, false
	case s.Replicas > s.UpdatedReplicas:
		return fmt.Sprintf("%d old replicas are pending termination", s.Replicas-s.UpdatedReplicas), false, false
	case s.AvailableReplicas < s.UpdatedReplicas:
		return fmt.Sprintf("%d of %d updated replicas are available", s.AvailableReplicas, s.UpdatedReplicas), false, false
	}
	return fmt.Sprintf("%d of %d replicas available", s.AvailableReplicas, want), true, false
}

// waitRollout follows the release's rollout, printing a line each time its
// status changes, until it completes or its progress deadline passes. The
// deployment controller decides the deadline (the Progressing condition);
// when no controller answers, termshift gives up after twice the deadline
// and a minute.
func (r *Runner) waitRollout(ctx context.Context, release string, progress io.Writer) error {
	name := kube.ReleaseName(r.Environment, release)
	ns := r.Spec.Namespace
	start := time.Now()
	backstop := 2*r.progressDeadline() + time.Minute
	last := ""
	for {
		dep, err := r.Client.AppsV1().Deployments(ns).Get(ctx, name, metav1.GetOptions{})
		if err != nil {
			return r.Client.Err(err, "get", "deployments", ns, name)
		}
		msg, done, stuck := rolloutStatus(dep)
		if msg != last {
			fmt.Fprintf(progress, "rollout of %s/%s: %s\n", ns, name, msg)
			last = msg
		}
		if done {
			return nil
		}
		if stuck || time.Since(start) > backstop {
			why := msg
			if !stuck {
				why = fmt.Sprintf("no rollout status within %s (is the deployment controller running?): %s", backstop, msg)
			}
			return termshift.WithHint(
				fmt.Errorf("deploy %s: Deployment %s/%s did not become available: %s; %s; nothing was switched",
					termshift.Quote(release), ns, name, why, r.reasons(context.WithoutCancel(ctx), release)),
				"fix the cause the pods give and deploy again; `termshift status` shows ready/desired pods")
		}
		t := time.NewTimer(r.poll())
		select {
		case <-ctx.Done():
			t.Stop()
			return fmt.Errorf("deploy %s: rollout of %s/%s: %s: %w", termshift.Quote(release), ns, name, msg, ctx.Err())
		case <-t.C:
		}
	}
}

// reasons says why the release's pods are not ready, in their own words.
func (r *Runner) reasons(ctx context.Context, release string) string {
	ns := r.Spec.Namespace
	sel := labels.SelectorFromSet(kube.Selector(r.Environment, release)).String()
	pods, err := r.Client.CoreV1().Pods(ns).List(ctx, metav1.ListOptions{LabelSelector: sel})
	if err != nil {
		return "pods: " + r.Client.Err(err, "list", "pods", ns, "").Error()
	}
	events, err := r.Client.CoreV1().Events(ns).List(ctx, metav1.ListOptions{FieldSelector: "involvedObject.kind=Pod,type=Warning"})
	if err != nil {
		events = &corev1.EventList{}
	}
	return podReasons(pods.Items, events.Items)
}

// podReasons groups the pods that are not ready by their reason: the
// scheduler's (Unschedulable), a container's waiting state (ErrImagePull,
// ImagePullBackOff, CrashLoopBackOff, CreateContainerConfigError) with its
// last exit, or the Ready condition's, with the pod's latest warning event
// (FailedScheduling, BackOff, Unhealthy: a failing readiness probe).
func podReasons(pods []corev1.Pod, events []corev1.Event) string {
	latest := map[string]corev1.Event{}
	for _, e := range events {
		if e.Type != corev1.EventTypeWarning || e.InvolvedObject.Kind != "Pod" {
			continue
		}
		if prev, ok := latest[e.InvolvedObject.Name]; !ok || eventTime(e).After(eventTime(prev)) {
			latest[e.InvolvedObject.Name] = e
		}
	}
	byReason := map[string][]string{}
	ready := 0
	for _, p := range pods {
		if p.DeletionTimestamp != nil {
			continue
		}
		why := podReason(p)
		if why == "" {
			ready++
			continue
		}
		if e, ok := latest[p.Name]; ok && !strings.Contains(why, e.Message) {
			why += " (event " + e.Reason + ": " + oneLine(e.Message) + ")"
		}
		byReason[why] = append(byReason[why], p.Name)
	}
	if len(byReason) == 0 {
		if len(pods) == 0 {
			return "no pods exist for it (see the Deployment's ReplicaSet events)"
		}
		return fmt.Sprintf("all %d pods are ready", ready)
	}
	var parts []string
	for _, why := range slices.Sorted(maps.Keys(byReason)) {
		names := byReason[why]
		sort.Strings(names)
		shown := names
		if len(shown) > 3 {
			shown = append(shown[:3:3], fmt.Sprintf("%d more", len(names)-3))
		}
		parts = append(parts, fmt.Sprintf("%d pod(s) %s: %s", len(names), strings.Join(shown, ", "), why))
	}
	return fmt.Sprintf("%d of %d pods ready; ", ready, ready+countAll(byReason)) + strings.Join(parts, "; ")
}

func countAll(m map[string][]string) int {
	n := 0
	for _, v := range m {
		n += len(v)
	}
	return n
}

// podReason is why one pod is not ready, "" when it is.
func podReason(p corev1.Pod) string {
	cond := func(t corev1.PodConditionType) *corev1.PodCondition {
		for i := range p.Status.Conditions {
			if p.Status.Conditions[i].Type == t {
				return &p.Status.Conditions[i]
			}
		}
		return nil
	}
	if c := cond(corev1.PodScheduled); c != nil && c.Status == corev1.ConditionFalse {
		return "not scheduled: " + c.Reason + ": " + oneLine(c.Message)
	}
	for _, cs := range append(append([]corev1.ContainerStatus{}, p.Status.InitContainerStatuses...), p.Status.ContainerStatuses...) {
		if w := cs.State.Waiting; w != nil && w.Reason != "" && w.Reason != "ContainerCreating" && w.Reason != "PodInitializing" {
			why := "container " + cs.Name + ": " + w.Reason
			if w.Message != "" {
				why += ": " + oneLine(w.Message)
			}
			if t := cs.LastTerminationState.Terminated; t != nil {
				why += fmt.Sprintf(" (last exit code %d: %s, %d restarts)", t.ExitCode, t.Reason, cs.RestartCount)
			}
			return why
		}
		if t := cs.State.Terminated; t != nil && t.ExitCode != 0 {
			return fmt.Sprintf("container %s exited with code %d: %s %s", cs.Name, t.ExitCode, t.Reason, oneLine(t.Message))
		}
	}
	if c := cond(corev1.PodReady); c != nil && c.Status == corev1.ConditionTrue {
		return ""
	} else if c != nil {
		why := "not ready"
		if c.Reason != "" {
			why += ": " + c.Reason
		}
		if c.Message != "" {
			why += ": " + oneLine(c.Message)
		}
		return why
	}
	return "phase " + string(p.Status.Phase)
}

func eventTime(e corev1.Event) time.Time {
	switch {
	case !e.EventTime.IsZero():
		return e.EventTime.Time
	case !e.LastTimestamp.IsZero():
		return e.LastTimestamp.Time
	}
	return e.CreationTimestamp.Time
}

func oneLine(s string) string {
	s = strings.Join(strings.Fields(s), " ")
	if len(s) > 300 {
		s = s[:300] + "..."
	}
	return s
}
