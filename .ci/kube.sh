# A real Kubernetes control plane on loopback for the `runner: kubernetes`
# tests: etcd, kube-apiserver, kube-controller-manager, kube-scheduler, and
# kwok managing one fake node (it runs no containers: pods only show Running,
# with made-up IPs in a loopback range, so nothing can ever reach a pod).
#
# Sourced by .ci/services after .ci/build (versions, binary paths); uses its
# helpers: log, die, spawn, started_pid, pick_port, wait_for, secret, setenv,
# apt_install, and its paths ($DEV, $LOG, $RUN). Nothing here is part of the
# product. Certificates, keys and tokens are generated once and kept under
# .termshift-dev/kube and .termshift-dev/secrets.

KUBE_CONTEXT="termshift-dev"
KUBE_NODE="termshift-dev-node"
KUBE_DIR="$DEV/kube"
KUBE_PKI="$KUBE_DIR/pki"
ETCD_PORTS=(12379 12389 12399)
ETCD_PEER_PORTS=(12380 12390 12400)
KUBE_API_PORTS=(16443 16444 16445)
KUBE_CM_PORTS=(16457 16467 16477)
KUBE_SCHED_PORTS=(16459 16469 16479)
# Service ClusterIPs and pod IPs are only data here (kwok runs no pods, no
# kube-proxy runs): nothing may ever connect to them. ClusterIPs are in a
# loopback range, so that a stray dial stays on this machine; pod IPs cannot
# be (EndpointSlices refuse loopback addresses) and are in 198.18.0.0/16, the
# benchmarking range of RFC 2544, which is neither private nor routed.
KUBE_SERVICE_CIDR="127.96.0.0/16"
KUBE_SERVICE_FIRST_IP="127.96.0.1"
KUBE_POD_CIDR="198.18.0.0/16"
KUBE_SA_ISSUER="https://kubernetes.default.svc.cluster.local"

# kube_pki: CA, API server serving certificate, service-account key pair.
# Made once; the serving certificate is remade when the CA is.
kube_pki() {
	local p="$KUBE_PKI"
	mkdir -p "$p"
	chmod 700 "$p"
	command -v openssl >/dev/null || apt_install openssl
	(
		umask 077
		if [[ ! -s "$p/ca.crt" || ! -s "$p/ca.key" ]]; then
			openssl req -x509 -newkey rsa:2048 -nodes -sha256 -days 3650 -subj "/CN=termshift-dev-ca" \
				-keyout "$p/ca.key" -out "$p/ca.crt" -addext "basicConstraints=critical,CA:TRUE" \
				-addext "keyUsage=critical,keyCertSign,cRLSign,digitalSignature" >"$LOG/kube-pki.log" 2>&1 ||
				die "kube: making the CA failed (see $LOG/kube-pki.log)"
			rm -f "$p/apiserver.crt"
		fi
		if [[ ! -s "$p/apiserver.crt" || ! -s "$p/apiserver.key" ]]; then
			printf '%s\n' "subjectAltName=IP:127.0.0.1,IP:$KUBE_SERVICE_FIRST_IP,DNS:localhost,DNS:kubernetes,DNS:kubernetes.default,DNS:kubernetes.default.svc,DNS:kubernetes.default.svc.cluster.local" \
				"keyUsage=critical,digitalSignature,keyEncipherment" "extendedKeyUsage=serverAuth" >"$p/apiserver.ext"
			openssl req -new -newkey rsa:2048 -nodes -sha256 -subj "/CN=kube-apiserver" \
				-keyout "$p/apiserver.key" -out "$p/apiserver.csr" >>"$LOG/kube-pki.log" 2>&1 &&
				openssl x509 -req -sha256 -days 3650 -in "$p/apiserver.csr" -CA "$p/ca.crt" -CAkey "$p/ca.key" \
					-CAcreateserial -extfile "$p/apiserver.ext" -out "$p/apiserver.crt" >>"$LOG/kube-pki.log" 2>&1 ||
				die "kube: making the API server certificate failed (see $LOG/kube-pki.log)"
			rm -f "$p/apiserver.csr" "$p/apiserver.ext"
		fi
		if [[ ! -s "$p/sa.key" || ! -s "$p/sa.pub" ]]; then
			openssl genrsa -out "$p/sa.key" 2048 >>"$LOG/kube-pki.log" 2>&1 &&
				openssl rsa -in "$p/sa.key" -pubout -out "$p/sa.pub" >>"$LOG/kube-pki.log" 2>&1 ||
				die "kube: making the service-account key pair failed (see $LOG/kube-pki.log)"
		fi
	)
}

# kube_tokens: the static token file. Admin (system:masters) for people and
# tests, one token per component with the identity RBAC's bootstrap roles expect.
kube_tokens() {
	local f="$KUBE_DIR/tokens.csv"
	(
		umask 077
		{
			printf '%s,termshift-admin,termshift-admin,"system:masters"\n' "$(secret kube-admin-token 40)"
			printf '%s,system:kube-controller-manager,system:kube-controller-manager\n' "$(secret kube-controller-manager-token 40)"
			printf '%s,system:kube-scheduler,system:kube-scheduler\n' "$(secret kube-scheduler-token 40)"
			printf '%s,termshift-kwok,termshift-kwok,"system:masters"\n' "$(secret kube-kwok-token 40)"
		} >"$f.tmp"
		mv "$f.tmp" "$f"
	)
}

# kube_kubeconfig FILE USER TOKEN: a kubeconfig with one cluster, user and
# context ($KUBE_CONTEXT), the CA embedded.
kube_kubeconfig() {
	local ca
	ca="$(base64 -w0 <"$KUBE_PKI/ca.crt")"
	(
		umask 077
		cat >"$1.tmp" <<EOF
apiVersion: v1
kind: Config
clusters:
- name: $KUBE_CONTEXT
  cluster:
    server: https://127.0.0.1:$KUBE_API_PORT
    certificate-authority-data: $ca
users:
- name: $2
  user:
    token: $3
contexts:
- name: $KUBE_CONTEXT
  context:
    cluster: $KUBE_CONTEXT
    user: $2
    namespace: default
current-context: $KUBE_CONTEXT
EOF
		mv "$1.tmp" "$1"
	)
}

# kube_stages: kwok's node fast, node heartbeat and pod fast stages, copied
# from the kwok module (Apache-2.0) into one config file with their origin.
kube_stages() {
	local f="$KUBE_DIR/kwok-stages.yaml" moddir s
	[[ -s "$f" ]] && grep -q "sigs.k8s.io/kwok@$KWOK_VERSION" "$f" && return 0
	moddir="$(cd "$DEV" && GOWORK=off GOFLAGS=-mod=mod go mod download -json "sigs.k8s.io/kwok@$KWOK_VERSION" 2>>"$LOG/kube-stages.log" |
		sed -n 's/^[[:space:]]*"Dir": "\(.*\)",$/\1/p')" || true
	[[ -d "$moddir/kustomize/stage" ]] || die "kube: kwok's stages not found (go mod download sigs.k8s.io/kwok@$KWOK_VERSION; see $LOG/kube-stages.log)"
	{
		echo "# kwok stages copied by .ci/services from sigs.k8s.io/kwok@$KWOK_VERSION"
		echo "# (kustomize/stage/node/fast, node/heartbeat, pod/fast), Apache-2.0, The Kubernetes Authors."
		for s in node/fast/node-initialize node/heartbeat/node-heartbeat pod/fast/pod-ready pod/fast/pod-complete pod/fast/pod-delete; do
			[[ -s "$moddir/kustomize/stage/$s.yaml" ]] || die "kube: $moddir/kustomize/stage/$s.yaml is missing"
			echo "---"
			echo "# from kustomize/stage/$s.yaml"
			cat "$moddir/kustomize/stage/$s.yaml"
		done
	} >"$f.tmp"
	mv "$f.tmp" "$f"
}

# kube_api METHOD PATH [curl args...]: the API as admin.
kube_api() {
	local method="$1" path="$2"
	shift 2
	curl -fsS -m 10 --cacert "$KUBE_PKI/ca.crt" -H "Authorization: Bearer $KUBE_ADMIN_TOKEN" -X "$method" \
		"https://127.0.0.1:$KUBE_API_PORT$path" "$@"
}

etcd_ok() { curl -fsS -m 3 "http://127.0.0.1:$ETCD_PORT/health" 2>/dev/null | grep -q '"health":"true"'; }
kube_api_ok() { [[ "$(kube_api GET /readyz 2>/dev/null)" == ok ]]; }
kube_healthz_ok() { [[ "$(curl -ksS -m 3 "https://127.0.0.1:$1/healthz" 2>/dev/null)" == ok ]]; }
kube_node_ready() {
	kube_api GET "/api/v1/nodes/$KUBE_NODE" 2>/dev/null |
		jq -e '[.status.conditions[]? | select(.type == "Ready" and .status == "True")] | length == 1' >/dev/null 2>&1
}
kube_default_sa() { kube_api GET /api/v1/namespaces/default/serviceaccounts/default -o /dev/null 2>/dev/null; }

# kube_component NAME CHECK-ARGS -- CMD...: reuse our NAME when CHECK passes,
# else start CMD and wait for CHECK.
kube_component() {
	local name="$1" pid check=()
	shift
	while [[ "$1" != -- ]]; do check+=("$1"); shift; done
	shift
	if pid="$(started_pid "$name")"; then
		# Ours runs (it may still be starting): reuse it once it answers.
		wait_for 30 "${check[@]}" || die "$name: our pid $pid runs but does not answer (see $LOG/$name.log); run make services-down first"
		log kube "reused our $name (pid $pid)"
		return 0
	fi
	spawn "$name" "$LOG/$name.log" "$@"
	pid="$(started_pid "$name")" || die "$name exited at once (see $LOG/$name.log)"
	wait_for 90 "${check[@]}" || die "$name: not healthy after 90 s (see $LOG/$name.log)"
	log kube "started $name (pid $pid)"
	KUBE_STARTED=1
}

setup_kube() {
	command -v jq >/dev/null || apt_install jq
	local etcd apiserver cm sched kwok
	etcd="$(etcd_bin)" apiserver="$(kube_bin kube-apiserver)" cm="$(kube_bin kube-controller-manager)"
	sched="$(kube_bin kube-scheduler)" kwok="$(kwok_bin)"
	local b
	for b in "$etcd" "$apiserver" "$cm" "$sched" "$kwok"; do [[ -x "$b" ]] || die "kube: $b was not built"; done
	mkdir -p "$KUBE_DIR/etcd" "$KUBE_DIR/certs"
	chmod 700 "$KUBE_DIR/etcd"
	kube_pki
	kube_tokens
	kube_stages
	KUBE_ADMIN_TOKEN="$(secret kube-admin-token 40)"
	KUBE_STARTED=""

	ETCD_PORT="$(pick_port etcd "${ETCD_PORTS[@]}")"
	local peer
	peer="$(pick_port etcd-peer "${ETCD_PEER_PORTS[@]}")"
	kube_component etcd etcd_ok -- "$etcd" --name=termshift-dev --data-dir="$KUBE_DIR/etcd" \
		--listen-client-urls="http://127.0.0.1:$ETCD_PORT" --advertise-client-urls="http://127.0.0.1:$ETCD_PORT" \
		--listen-peer-urls="http://127.0.0.1:$peer" --initial-advertise-peer-urls="http://127.0.0.1:$peer" \
		--initial-cluster="termshift-dev=http://127.0.0.1:$peer" --unsafe-no-fsync --log-level=warn

	KUBE_API_PORT="$(pick_port kube-apiserver "${KUBE_API_PORTS[@]}")"
	kube_kubeconfig "$KUBE_DIR/kubeconfig" termshift-admin "$KUBE_ADMIN_TOKEN"
	kube_kubeconfig "$KUBE_DIR/controller-manager.kubeconfig" system:kube-controller-manager "$(secret kube-controller-manager-token 40)"
	kube_kubeconfig "$KUBE_DIR/scheduler.kubeconfig" system:kube-scheduler "$(secret kube-scheduler-token 40)"
	kube_kubeconfig "$KUBE_DIR/kwok.kubeconfig" termshift-kwok "$(secret kube-kwok-token 40)"
	kube_component kube-apiserver kube_api_ok -- "$apiserver" \
		--etcd-servers="http://127.0.0.1:$ETCD_PORT" --bind-address=127.0.0.1 --secure-port="$KUBE_API_PORT" \
		--advertise-address=127.0.0.1 --endpoint-reconciler-type=none \
		--tls-cert-file="$KUBE_PKI/apiserver.crt" --tls-private-key-file="$KUBE_PKI/apiserver.key" \
		--client-ca-file="$KUBE_PKI/ca.crt" --token-auth-file="$KUBE_DIR/tokens.csv" \
		--authorization-mode=Node,RBAC --service-cluster-ip-range="$KUBE_SERVICE_CIDR" \
		--service-account-issuer="$KUBE_SA_ISSUER" --service-account-key-file="$KUBE_PKI/sa.pub" \
		--service-account-signing-key-file="$KUBE_PKI/sa.key" --cert-dir="$KUBE_DIR/certs" \
		--allow-privileged=true --profiling=false --event-ttl=1h

	local cmport schedport
	cmport="$(pick_port kube-controller-manager "${KUBE_CM_PORTS[@]}")"
	kube_component kube-controller-manager kube_healthz_ok "$cmport" -- "$cm" \
		--kubeconfig="$KUBE_DIR/controller-manager.kubeconfig" --bind-address=127.0.0.1 --secure-port="$cmport" \
		--cert-dir="$KUBE_DIR/certs" --leader-elect=false --use-service-account-credentials=true \
		--service-account-private-key-file="$KUBE_PKI/sa.key" --root-ca-file="$KUBE_PKI/ca.crt" \
		--cluster-signing-cert-file="$KUBE_PKI/ca.crt" --cluster-signing-key-file="$KUBE_PKI/ca.key" \
		--service-cluster-ip-range="$KUBE_SERVICE_CIDR" --cluster-name=termshift-dev --profiling=false \
		--controllers='*'
	schedport="$(pick_port kube-scheduler "${KUBE_SCHED_PORTS[@]}")"
	kube_component kube-scheduler kube_healthz_ok "$schedport" -- "$sched" \
		--kubeconfig="$KUBE_DIR/scheduler.kubeconfig" --bind-address=127.0.0.1 --secure-port="$schedport" \
		--leader-elect=false --profiling=false
	kube_component kwok true -- "$kwok" --kubeconfig="$KUBE_DIR/kwok.kubeconfig" --config="$KUBE_DIR/kwok-stages.yaml" \
		--manage-all-nodes=false --manage-nodes-with-annotation-selector=kwok.x-k8s.io/node=fake \
		--cidr="$KUBE_POD_CIDR" --node-ip=127.0.0.1 --node-lease-duration-seconds=40

	# The fake node: kwok manages nodes annotated kwok.x-k8s.io/node=fake.
	if ! kube_api GET "/api/v1/nodes/$KUBE_NODE" -o /dev/null 2>/dev/null; then
		kube_api POST /api/v1/nodes -H 'Content-Type: application/json' -o /dev/null -d "$(jq -cn --arg n "$KUBE_NODE" '{
			apiVersion: "v1", kind: "Node",
			metadata: {name: $n, annotations: {"kwok.x-k8s.io/node": "fake", "node.alpha.kubernetes.io/ttl": "0"},
				labels: {"kubernetes.io/hostname": $n, "kubernetes.io/os": "linux", "kubernetes.io/arch": "amd64", type: "kwok"}}}')" ||
			die "kube: creating node $KUBE_NODE failed"
		log kube "created fake node $KUBE_NODE"
	fi
	wait_for 60 kube_node_ready || die "kube: node $KUBE_NODE not Ready after 60 s (see $LOG/kwok.log)"
	wait_for 60 kube_default_sa || die "kube: no default ServiceAccount after 60 s: controller-manager not working (see $LOG/kube-controller-manager.log)"
	log kube "API https://127.0.0.1:$KUBE_API_PORT ready (Kubernetes $KUBE_VERSION, RBAC), node $KUBE_NODE Ready"
	[[ -n "$KUBE_STARTED" ]] && kube_smoke

	setenv TERMSHIFT_KUBECONFIG "$KUBE_DIR/kubeconfig"
	setenv TERMSHIFT_KUBE_SERVER "https://127.0.0.1:$KUBE_API_PORT"
	setenv TERMSHIFT_KUBE_CONTEXT "$KUBE_CONTEXT"
}

kube_smoke_available() { # NAMESPACE
	kube_api GET "/apis/apps/v1/namespaces/$1/deployments/smoke" 2>/dev/null | jq -e '.status.availableReplicas == 2' >/dev/null
}
kube_smoke_endpoints() { # NAMESPACE
	kube_api GET "/apis/discovery.k8s.io/v1/namespaces/$1/endpointslices?labelSelector=kubernetes.io/service-name=smoke" 2>/dev/null |
		jq -e '[.items[].endpoints[]? | select(.conditions.ready)] | length == 2' >/dev/null
}

# kube_smoke: after a (re)start, a Deployment of 2 replicas must become 2/2
# available and its Service's EndpointSlices list both pods. Run in a
# namespace of its own, deleted after.
kube_smoke() {
	local ns="termshift-dev-smoke-$RANDOM$RANDOM" t0=$SECONDS ct=(-H 'Content-Type: application/json')
	kube_api POST /api/v1/namespaces "${ct[@]}" -o /dev/null -d "{\"apiVersion\":\"v1\",\"kind\":\"Namespace\",\"metadata\":{\"name\":\"$ns\"}}" ||
		die "kube: smoke check: creating namespace $ns failed"
	kube_api POST "/apis/apps/v1/namespaces/$ns/deployments" "${ct[@]}" -o /dev/null -d '{
		"apiVersion":"apps/v1","kind":"Deployment","metadata":{"name":"smoke"},
		"spec":{"replicas":2,"selector":{"matchLabels":{"app":"smoke"}},
		"template":{"metadata":{"labels":{"app":"smoke"}},"spec":{"containers":[{"name":"smoke","image":"termshift.invalid/smoke:1"}]}}}}' ||
		die "kube: smoke check: creating a Deployment in $ns failed"
	kube_api POST "/api/v1/namespaces/$ns/services" "${ct[@]}" -o /dev/null -d '{
		"apiVersion":"v1","kind":"Service","metadata":{"name":"smoke"},
		"spec":{"selector":{"app":"smoke"},"ports":[{"port":80,"targetPort":8080}]}}' ||
		die "kube: smoke check: creating a Service in $ns failed"
	wait_for 60 kube_smoke_available "$ns" || die "kube: smoke check: Deployment $ns/smoke not 2/2 available after 60 s"
	wait_for 30 kube_smoke_endpoints "$ns" || die "kube: smoke check: EndpointSlices of Service $ns/smoke do not list 2 ready pods after 30 s"
	kube_api DELETE "/api/v1/namespaces/$ns" -o /dev/null || true
	log kube "smoke check: Deployment 2/2 available, EndpointSlices list both pods ($((SECONDS - t0))s)"
}
