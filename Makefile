# termshift: make services | build | test | lint | demo | bench-*
SHELL := /bin/bash
GO    ?= go
DEV   := .termshift-dev
STATICCHECK := honnef.co/go/tools/cmd/staticcheck@v0.8.2
# Tests read the local servers' settings from $(DEV)/env (written by `make services`).
WITH_ENV := set -a; . ./$(DEV)/env; set +a;

.PHONY: all build test unit lint services services-down demo bench-restore bench-cutover bench-tenancy clean

all: build

build:
	$(GO) build -o bin/termshift ./cmd/termshift
	$(GO) build -o bin/demo-lms ./cmd/demo-lms

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

bench-backup: services
	$(WITH_ENV) bash backup/bench/run.sh

bench-final-sync: services build
	$(WITH_ENV) set -o pipefail; $(GO) test -run '^$$' -bench FinalSync -benchtime 1x -timeout 60m ./cmd/termshift/ | tee $(DEV)/bench-final-sync.log && grep '^bench-final-sync:' $(DEV)/bench-final-sync.log | tail -1

bench-cutover: services build
	$(WITH_ENV) $(GO) test -run '^$$' -bench Cutover -benchtime 1x -timeout 10m ./rollout/bench/

clean:
	rm -rf bin
