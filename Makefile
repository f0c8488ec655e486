# termshift: make services | build | test | lint | demo | bench-*
SHELL := /bin/bash
GO    ?= go
DEV   := .termshift-dev
STATICCHECK := honnef.co/go/tools/cmd/staticcheck@v0.8.2
# Tests read the local servers' settings from $(DEV)/env (written by `make services`).
WITH_ENV := set -a; . ./$(DEV)/env; set +a;

.PHONY: all build test unit lint services services-down demo bench-restore bench-backup bench-final-sync bench-catchup bench-cutover bench-tenancy bench-state bench-k8s bench-canary bench-scale clean

all: build

build:
	$(GO) build -o bin/termshift ./cmd/termshift
	$(GO) build -o bin/demo-lms ./cmd/demo-lms

# Every local server the tests use, on loopback, settings in $(DEV)/env: MariaDB, a second MariaDB
# with the binlog, RabbitMQ, memcached, MongoDB (FerretDB), S3 (versitygw), a Kubernetes control
# plane (etcd, kube-apiserver, controller-manager, scheduler, kwok) and headless Chromium. A first
# run builds the Go-built ones, 2 at a time with progress: about 30 min on 2 cores with a cold Go
# cache, 2 min with a warm one; then seconds. `services-down` stops only what it started.
services:
	bash .ci/services

services-down:
	bash .ci/services-down

# The whole suite, integration tests on, against the servers of `make services`.
test: services
	$(WITH_ENV) $(GO) vet ./... && $(GO) test -race -count=1 -timeout 25m ./...

# Tests without servers: the ones that need one skip with the reason (not under CI=true).
unit:
	$(GO) test -count=1 ./...

lint:
	@out=$$(gofmt -l $$(git ls-files '*.go')); if [ -n "$$out" ]; then echo "gofmt would change:"; echo "$$out"; exit 1; fi
	@if ! $(GO) mod tidy -diff >/dev/null 2>&1; then echo "go mod tidy would change go.mod/go.sum:"; $(GO) mod tidy -diff; exit 1; fi
	$(GO) vet ./...
	$(GO) run $(STATICCHECK) ./...

demo: services build
	$(WITH_ENV) bash testdata/demo/run.sh

bench-tenancy: services
	$(WITH_ENV) $(GO) test -run '^$$' -bench CarveDrop -benchtime 5x ./tenancy/

bench-restore: services
	$(WITH_ENV) bash restore/mysql/bench/run.sh

# A generated edxapp-like schema (500+ tables, foreign keys, indexes) at three sizes growing 4x
# (SIZES=250000,1000000,4000000 rows of courseware_studentmodule): restore against myloader and the
# mariadb client, backup against mydumper, rows/s and peak RSS per size, then the scrub and MongoDB
# benchmarks. Backups are cached in $(DEV)/bench-scale. Last line:
# bench-scale: restore termshift/myloader R at 1M rows, scrub N rows/s, mongo restore R of ceiling, peak RSS N MiB
bench-scale: services
	$(WITH_ENV) $(GO) run ./restore/mysql/bench/scale

bench-backup: services
	$(WITH_ENV) bash backup/bench/run.sh

bench-final-sync: services build
	$(WITH_ENV) set -o pipefail; $(GO) test -run '^$$' -bench FinalSync -benchtime 1x -timeout 60m ./cmd/termshift/ | tee $(DEV)/bench-final-sync.log && grep '^bench-final-sync:' $(DEV)/bench-final-sync.log | tail -1

# The final sync's window with catch-up from the binary log (`termshift
# follow`) against the full sync, at 250k and 1M rows, under 200 writes/s.
# Last line: bench-catchup: lost N, window N.Ns at ROWS1 rows, N.Ns at ROWS2 rows
bench-catchup: services
	$(WITH_ENV) set -o pipefail; $(GO) test -run '^$$' -bench CatchUp -benchtime 1x -timeout 90m ./rollout/ | tee $(DEV)/bench-catchup.log && grep '^bench-catchup:' $(DEV)/bench-catchup.log | tail -1

bench-cutover: services build
	$(WITH_ENV) $(GO) test -run '^$$' -bench Cutover -benchtime 1x -timeout 10m ./rollout/bench/

# Progressive cutovers of two demo LMS patch releases on the live release's data under public load
# Last line: bench-canary: faulty release rolled back after N.Ns, healthy release promoted, failed by the healthy release N
bench-canary: services build
	@$(WITH_ENV) out=$$($(GO) test -run '^$$' -bench '^BenchmarkCanary$$' -benchtime 1x -timeout 10m ./cmd/termshift/ 2>&1) || { echo "$$out"; exit 1; }; \
	echo "$$out" | grep -v '^bench-canary: '; echo "$$out" | grep '^bench-canary: ' | tail -1

# Three routers on one state in the local S3: time from a cutover's start until
# all of them serve the new release, and state write latency. Last line:
# bench-state: routers converged in N ms, state write N ms
bench-state: services
	@$(WITH_ENV) out=$$($(GO) test -run '^$$' -bench StateConvergence -benchtime 10x -timeout 10m ./rollout/ 2>&1) || { echo "$$out"; exit 1; }; \
	echo "$$out" | grep -v '^bench-state: routers converged'; echo "$$out" | grep '^bench-state: routers converged' | tail -1

# Kubernetes on the local API server (kwok pods): deploy of a 3-replica release until Available, and
# cutover and rollback until the public Service's EndpointSlices list only the new release's pods.
# Last line: bench-k8s: cutover N ms, rollback N ms, deploy N.Ns
bench-k8s: services
	@$(WITH_ENV) out=$$($(GO) test -run '^$$' -bench K8sSwitch -benchtime 5x -timeout 10m ./rollout/router/kubernetes/ 2>&1) || { echo "$$out"; exit 1; }; \
	echo "$$out" | grep -v '^bench-k8s: cutover'; echo "$$out" | grep '^bench-k8s: cutover' | tail -1

clean:
	rm -rf bin
