# Builds the Lambda functions and the contracts layer the way `sam build` asks for them
# (Metadata BuildMethod makefile: target build-<LogicalId>, output in $(ARTIFACTS_DIR)), and runs
# the checks CI runs. `make test` is what CI and the README call.

SHELL := /bin/bash
.SHELLFLAGS := -eu -o pipefail -c
.DEFAULT_GOAL := build

GO ?= go
# Lambda runs arm64 (template.yaml Architectures). A GOARCH exported by the shell must not leak
# into the bootstraps, so the targets pass their own variable; the local runner, which runs them
# on this machine, sets LAMBDA_GOARCH to the host's arch on the command line.
LAMBDA_GOARCH := arm64
TEST_TIMEOUT ?= 20m
BUILD_DIR ?= build

# 2026.2.2; pinned so that lint results do not change under us.
STATICCHECK_VERSION := v0.8.2
STATICCHECK := $(shell $(GO) env GOPATH)/bin/staticcheck

# LogicalId:folder under functions/, one per AWS::Serverless::Function in template.yaml.
FUNCTIONS := \
	TransformerFunction:transformer \
	EventStorerFunction:eventstorer \
	EventEmitterFunction:eventemitter \
	EventResponderFunction:eventresponder \
	RecordsApiFunction:recordsapi \
	ChangeTransformerFunction:changetransformer
LAYERS := ContractsLayer
FUNCTION_IDS := $(foreach f,$(FUNCTIONS),$(firstword $(subst :, ,$(f))))

# A static binary (no cgo) named bootstrap, as provided.al2023 runs it; lambda.norpc drops the
# go1.x RPC server that custom runtimes never use. -buildvcs=false keeps the VCS revision out of
# the binary, so a commit that does not touch a function does not change (and redeploy) it.
GO_LAMBDA_FLAGS := -tags lambda.norpc -trimpath
GO_LAMBDA_BUILD = CGO_ENABLED=0 GOOS=linux GOARCH=$(LAMBDA_GOARCH) $(GO) build $(GO_LAMBDA_FLAGS) \
	-buildvcs=false -ldflags='-s -w'
# The local runner is compiled like the bootstraps it builds for this machine (no cgo, the same
# tags, -trimpath): the build cache keys a package by those settings, so the standard library and
# the SDK packages the runner shares with the functions compile once on a first run, not twice.
GO_LOCAL_RUN = CGO_ENABLED=0 $(GO) run $(GO_LAMBDA_FLAGS)

require-artifacts-dir = $(if $(ARTIFACTS_DIR),,$(error ARTIFACTS_DIR is not set: sam build sets it; \
	by hand, run e.g. make $@ ARTIFACTS_DIR=$$(mktemp -d), or make build for every artifact))

# $(1) = LogicalId, $(2) = folder under functions/
define lambda-function
.PHONY: build-$(1)
build-$(1):
	$$(require-artifacts-dir)
	mkdir -p "$$(ARTIFACTS_DIR)"
	$$(GO_LAMBDA_BUILD) -o "$$(ARTIFACTS_DIR)/bootstrap" ./functions/$(2)
endef
$(foreach f,$(FUNCTIONS),$(eval $(call lambda-function,$(firstword $(subst :, ,$(f))),$(lastword $(subst :, ,$(f))))))

# The schemas live once, in layers/contracts; in Lambda the layer is unpacked under /opt, so the
# transformer finds them in /opt/contracts (its CONTRACTS_DIR).
.PHONY: build-ContractsLayer
build-ContractsLayer:
	$(require-artifacts-dir)
	mkdir -p "$(ARTIFACTS_DIR)/contracts"
	cp layers/contracts/*.schema.json "$(ARTIFACTS_DIR)/contracts/"

# One go build of every function compiles the packages they share (the SDK, X-Ray, gRPC) once
# into the Go build cache; the build-<LogicalId> builds after it, alone or side by side, only
# compile their own main package and link. Same flags as GO_LAMBDA_BUILD, so the cache entries
# match; with several packages and no -o, go build keeps nothing but the cache.
.PHONY: compile-functions
compile-functions: ## compile every function once for Lambda's GOOS/GOARCH, so the per-function builds share the work
	$(GO_LAMBDA_BUILD) ./functions/...

.PHONY: build
build: compile-functions ## every function and layer into build/<LogicalId>/, without the SAM CLI
	@for id in $(FUNCTION_IDS) $(LAYERS); do \
		$(MAKE) --no-print-directory build-$$id ARTIFACTS_DIR="$(CURDIR)/$(BUILD_DIR)/$$id"; \
	done

.PHONY: test
test: ## everything CI runs: vet, the race-enabled tests, cfn-lint
	$(GO) vet ./...
	$(GO) test -race -count=1 -timeout $(TEST_TIMEOUT) ./...
	cfn-lint template.yaml

.PHONY: lint
lint: $(STATICCHECK) ## gofmt, go vet, staticcheck, cfn-lint
	@unformatted="$$(find . -name '*.go' -not -path './.aws-sam/*' -not -path './$(BUILD_DIR)/*' -print0 | xargs -0 gofmt -l)"; \
	if [ -n "$$unformatted" ]; then echo "gofmt -w needed:"; echo "$$unformatted"; exit 1; fi
	$(GO) vet ./...
	$(STATICCHECK) ./...
	cfn-lint template.yaml

$(STATICCHECK):
	$(GO) install honnef.co/go/tools/cmd/staticcheck@$(STATICCHECK_VERSION)

.PHONY: bench
bench: ## performance report vs the per-record baseline: bench/report.json, bench/report.md, bench/chart.png and the README's table
	$(GO) run ./cmd/bench

.PHONY: capacity
capacity: ## capacity model from the bench's costs and bench/quotas.json: docs/capacity.md and docs/capacity.png
	$(GO) run ./cmd/capacity

# v2.30.0; pinned so that findings do not change under us.
GOSEC_VERSION := v2.30.0
GOSEC := $(shell $(GO) env GOPATH)/bin/gosec
FUZZTIME ?= 10s

.PHONY: fuzz
fuzz: ## every Fuzz* test of the module for FUZZTIME (default 10s) each, from its testdata/fuzz seeds
	@# go test -fuzz takes one target per package per run, so each is found and run on its own;
	@# a new Fuzz function is picked up without editing this list. Go 1.26's coordinator can report
	@# "context deadline exceeded" as the -fuzztime deadline passes, mid-call, with no failing input
	@# (go.dev/issue/75804); only that, with nothing new in the corpus, earns one more run.
	@grep -rE -o --include='*_test.go' --exclude-dir=testdata --exclude-dir=.aws-sam --exclude-dir='$(BUILD_DIR)' \
		'^func Fuzz[A-Za-z0-9_]+\(' . | sort -u | while IFS=: read -r file decl; do \
		name="$${decl#func }"; name="$${name%(}"; dir="$$(dirname "$$file")"; \
		if [ -z "$$(ls -A "$$dir/testdata/fuzz/$$name" 2>/dev/null)" ]; then \
			echo "fuzz: $$name in $$dir has no seed corpus in $$dir/testdata/fuzz/$$name"; exit 1; \
		fi; \
		start=$$SECONDS; log="$$(mktemp)"; seeds="$$(ls "$$dir/testdata/fuzz/$$name")"; \
		for try in 1 2; do \
			if $(GO) test -run "^$$name\$$" -fuzz "^$$name\$$" -fuzztime $(FUZZTIME) -fuzzminimizetime 2s "$$dir" 2>&1 | tee "$$log"; then \
				break; \
			fi; \
			if [ "$$try" = 1 ] && [ "$$(ls "$$dir/testdata/fuzz/$$name")" = "$$seeds" ] && \
				grep -q '^    context deadline exceeded$$' "$$log" && ! grep -q 'Failing input written' "$$log"; then \
				echo "fuzz: $$name stopped on Go's own -fuzztime deadline race with no failing input (go.dev/issue/75804); once more"; \
				continue; \
			fi; \
			rm -f "$$log"; echo "fuzz: $$name in $$dir failed; the failing input is in $$dir/testdata/fuzz/$$name"; exit 1; \
		done; \
		rm -f "$$log"; echo "fuzz: $$name in $$dir ok ($$((SECONDS - start))s)"; \
	done

.PHONY: gosec
gosec: $(GOSEC) ## gosec over the module; every finding is fixed or justified in a #nosec comment
	$(GOSEC) -quiet ./...

$(GOSEC):
	$(GO) install github.com/securego/gosec/v2/cmd/gosec@$(GOSEC_VERSION)

.PHONY: tools
tools: $(STATICCHECK) $(GOSEC) ## the pinned Go tools lint and gosec use, from the module proxy

.PHONY: load
load: ## 100,000 records through the local flow, nothing lost, throughput reported (S2E_LOAD_RECORDS, S2E_LOAD_TIMEOUT)
	S2E_LOAD=1 $(GO) test -count=1 -timeout 90m -run '^TestLoad$$' -v ./test/reliability -update

.PHONY: local
local: ## the whole flow on this machine (moto_server + the local runner), no AWS account
	$(GO_LOCAL_RUN) ./cmd/s2e-local start

.PHONY: demo
demo: ## start locally, send sample records, show where they landed
	$(GO_LOCAL_RUN) ./cmd/s2e-local demo

.PHONY: clean
clean: ## remove build/ and .aws-sam
	rm -rf "$(BUILD_DIR)" .aws-sam

.PHONY: help
help:
	@grep -E '^[a-z-]+:.*## ' $(MAKEFILE_LIST) | sed -E 's/:.*## /\t/' | expand -t 10
