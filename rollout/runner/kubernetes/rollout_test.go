package kubernetes

import (
	"testing"
	"time"

	appsv1 "k8s.io/api/apps/v1"
	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
)

// The pods' own reasons as a kubelet reports them: kwok runs no
// containers, so image pulls, crash loops and failing readiness probes
// cannot happen on the local API server; their statuses are written here as
// a kubelet writes them.
func TestPodReasons(t *testing.T) {
	pod := func(name string, st corev1.PodStatus) corev1.Pod {
		return corev1.Pod{ObjectMeta: metav1.ObjectMeta{Name: name}, Status: st}
	}
	notReady := corev1.PodCondition{Type: corev1.PodReady, Status: corev1.ConditionFalse, Reason: "ContainersNotReady", Message: "containers with unready status: [app]"}
	ready := corev1.PodCondition{Type: corev1.PodReady, Status: corev1.ConditionTrue}
	waiting := func(reason, msg string) []corev1.ContainerStatus {
		return []corev1.ContainerStatus{{Name: "app", State: corev1.ContainerState{Waiting: &corev1.ContainerStateWaiting{Reason: reason, Message: msg}}}}
	}
	crash := []corev1.ContainerStatus{{Name: "app", RestartCount: 4,
		State:                corev1.ContainerState{Waiting: &corev1.ContainerStateWaiting{Reason: "CrashLoopBackOff", Message: "back-off 40s restarting failed container"}},
		LastTerminationState: corev1.ContainerState{Terminated: &corev1.ContainerStateTerminated{ExitCode: 3, Reason: "Error"}}}}
	unhealthy := corev1.Event{Type: corev1.EventTypeWarning, Reason: "Unhealthy", Message: "Readiness probe failed: HTTP probe failed with statuscode: 500",
		InvolvedObject: corev1.ObjectReference{Kind: "Pod", Name: "p-probe"}, LastTimestamp: metav1.NewTime(time.Unix(100, 0))}
	older := unhealthy
	older.Message, older.LastTimestamp = "an older warning", metav1.NewTime(time.Unix(50, 0))
	for _, tc := range []struct {
		name   string
		pods   []corev1.Pod
		events []corev1.Event
		want   string
	}{
		{"image pull", []corev1.Pod{pod("p-1", corev1.PodStatus{Conditions: []corev1.PodCondition{notReady}, ContainerStatuses: waiting("ImagePullBackOff", `Back-off pulling image "registry.example/openedx:nope"`)})}, nil,
			`0 of 1 pods ready; 1 pod(s) p-1: container app: ImagePullBackOff: Back-off pulling image "registry.example/openedx:nope"`},
		{"crash loop, one of two pods", []corev1.Pod{pod("p-2", corev1.PodStatus{Conditions: []corev1.PodCondition{notReady}, ContainerStatuses: crash}), pod("p-ok", corev1.PodStatus{Conditions: []corev1.PodCondition{ready}})}, nil,
			"1 of 2 pods ready; 1 pod(s) p-2: container app: CrashLoopBackOff: back-off 40s restarting failed container (last exit code 3: Error, 4 restarts)"},
		{"readiness probe", []corev1.Pod{pod("p-probe", corev1.PodStatus{Conditions: []corev1.PodCondition{notReady}, ContainerStatuses: []corev1.ContainerStatus{{Name: "app", State: corev1.ContainerState{Running: &corev1.ContainerStateRunning{}}}}})}, []corev1.Event{older, unhealthy},
			"0 of 1 pods ready; 1 pod(s) p-probe: not ready: ContainersNotReady: containers with unready status: [app] (event Unhealthy: Readiness probe failed: HTTP probe failed with statuscode: 500)"},
		{"several pods, one reason", []corev1.Pod{
			pod("p-a", corev1.PodStatus{Conditions: []corev1.PodCondition{{Type: corev1.PodScheduled, Status: corev1.ConditionFalse, Reason: "Unschedulable", Message: "0/3 nodes are available"}}}),
			pod("p-b", corev1.PodStatus{Conditions: []corev1.PodCondition{{Type: corev1.PodScheduled, Status: corev1.ConditionFalse, Reason: "Unschedulable", Message: "0/3 nodes are available"}}}),
			pod("p-c", corev1.PodStatus{Conditions: []corev1.PodCondition{{Type: corev1.PodScheduled, Status: corev1.ConditionFalse, Reason: "Unschedulable", Message: "0/3 nodes are available"}}}),
			pod("p-d", corev1.PodStatus{Conditions: []corev1.PodCondition{{Type: corev1.PodScheduled, Status: corev1.ConditionFalse, Reason: "Unschedulable", Message: "0/3 nodes are available"}}}),
		}, nil, "0 of 4 pods ready; 4 pod(s) p-a, p-b, p-c, 1 more: not scheduled: Unschedulable: 0/3 nodes are available"},
		{"no pods", nil, nil, "no pods exist for it (see the Deployment's ReplicaSet events)"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			if got := podReasons(tc.pods, tc.events); got != tc.want {
				t.Errorf("podReasons =\n%s\nwant\n%s", got, tc.want)
			}
		})
	}
}

// TestRolloutStatus follows `kubectl rollout status` through a rollout.
func TestRolloutStatus(t *testing.T) {
	three := int32(3)
	dep := func(gen, observed int64, st appsv1.DeploymentStatus) *appsv1.Deployment {
		st.ObservedGeneration = observed
		return &appsv1.Deployment{ObjectMeta: metav1.ObjectMeta{Generation: gen}, Spec: appsv1.DeploymentSpec{Replicas: &three}, Status: st}
	}
	for _, tc := range []struct {
		name        string
		d           *appsv1.Deployment
		msg         string
		done, stuck bool
	}{
		{"spec not observed", dep(2, 1, appsv1.DeploymentStatus{UpdatedReplicas: 3, AvailableReplicas: 3, Replicas: 3}), "waiting for the deployment controller to observe the new spec", false, false},
		{"updating", dep(2, 2, appsv1.DeploymentStatus{UpdatedReplicas: 1, Replicas: 4}), "1 out of 3 new replicas have been updated", false, false},
		{"old pending", dep(2, 2, appsv1.DeploymentStatus{UpdatedReplicas: 3, Replicas: 4}), "1 old replicas are pending termination", false, false},
		{"unavailable", dep(2, 2, appsv1.DeploymentStatus{UpdatedReplicas: 3, Replicas: 3, AvailableReplicas: 2}), "2 of 3 updated replicas are available", false, false},
		{"done", dep(2, 2, appsv1.DeploymentStatus{UpdatedReplicas: 3, Replicas: 3, AvailableReplicas: 3}), "3 of 3 replicas available", true, false},
		{"deadline", dep(2, 2, appsv1.DeploymentStatus{Conditions: []appsv1.DeploymentCondition{{Type: appsv1.DeploymentProgressing, Reason: reasonProgressDeadline, Message: "ReplicaSet x has timed out progressing."}}}),
			"no progress within the progress deadline (1s): ReplicaSet x has timed out progressing.", false, true},
	} {
		t.Run(tc.name, func(t *testing.T) {
			msg, done, stuck := rolloutStatus(tc.d)
			if msg != tc.msg || done != tc.done || stuck != tc.stuck {
				t.Errorf("rolloutStatus = %q, %v, %v; want %q, %v, %v", msg, done, stuck, tc.msg, tc.done, tc.stuck)
			}
		})
	}
}
