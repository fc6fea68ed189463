# Messenger Operator. `make help` lists the targets.
GO ?= go
BIN ?= bin
export CGO_ENABLED ?= 0

.PHONY: help build test test-unit lint fmt dev clean envtest-bins manifests generate bench-sandbox bench-kinds bench-e2e chaos chart-crds docker-build docker-build-instance api-docs

help: ## Show this help
	@grep -E '^[a-zA-Z_-]+:.*?## ' $(MAKEFILE_LIST) | awk 'BEGIN{FS=":.*?## "}{printf "  %-14s %s\n",$$1,$$2}'

build: ## Build bin/messenger-operator (static, CGO_ENABLED=0)
	$(GO) build -o $(BIN)/messenger-operator .

lint: ## go vet and a gofmt check
	$(GO) vet ./...
	cd $(INSTALL_TESTS) && GOWORK=off $(GO) vet ./...
	@out=$$(gofmt -l $$(git ls-files '*.go')); if [ -n "$$out" ]; then echo "gofmt needed:"; echo "$$out"; exit 1; fi

fmt: ## gofmt every Go file
	gofmt -w $$(git ls-files '*.go')

test: lint build ## Run every test (unit, sandbox against real whatsmeow clients, ...)
	assets="$$(hack/envtest-bins.sh)" && KUBEBUILDER_ASSETS="$$assets" MESSENGER_BINARY=$(CURDIR)/$(BIN)/messenger-operator CGO_ENABLED=1 $(GO) test -race -count=1 -timeout 30m ./... \
	&& cd $(INSTALL_TESTS) && KUBEBUILDER_ASSETS="$$assets" GOWORK=off CGO_ENABLED=1 $(GO) test -race -count=1 -timeout 15m ./...

# The Helm chart and kustomize install tests: a separate Go module (Helm stays out of go.mod).
INSTALL_TESTS = charts/messenger-operator/tests

dev: build ## Local kube-apiserver, operator, sandbox and instance pods as local processes (see README)
	assets="$$(hack/envtest-bins.sh)" && KUBEBUILDER_ASSETS="$$assets" $(GO) run ./test/e2e/cmd/dev -binary $(BIN)/messenger-operator

bench-sandbox: build ## Measure the sandbox figures of docs/benchmarks.md (about 5 minutes)
	$(GO) run ./hack/bench/sandbox -bin $(BIN)/messenger-operator

bench-kinds: build ## Measure the per-kind send latency figures of docs/benchmarks.md (KINDS=text,poll,… to limit)
	$(GO) run ./hack/bench/kinds -bin $(BIN)/messenger-operator $(if $(KINDS),-kinds $(KINDS))

bench-e2e: build ## Measure the instance end-to-end figures of docs/benchmarks.md (about 4 minutes)
	$(GO) run ./hack/bench/e2e -bin $(BIN)/messenger-operator

DURATION ?= 10m
INSTANCES ?= 3
chaos: build ## Instances against a sandbox under a random mix of faults for DURATION (10m), INSTANCES (3); fails on any message lost or doubled
	$(GO) run ./hack/chaos -bin $(BIN)/messenger-operator -duration $(DURATION) -instances $(INSTANCES) $(if $(KINDS),-kinds $(KINDS))

envtest-bins: ## Build kube-apiserver and etcd for envtest into a cache outside the repo (first run ~6 min)
	@hack/envtest-bins.sh

CONTROLLER_GEN ?= $(GO) run sigs.k8s.io/controller-tools/cmd/controller-gen@v0.23.0

manifests: ## Regenerate the CRD and the operator's ClusterRole from the api/ and controllers/ markers
	$(CONTROLLER_GEN) crd rbac:roleName=manager-role paths=./api/... paths=./controllers/... output:crd:artifacts:config=config/crd/bases output:rbac:artifacts:config=config/rbac

generate: ## Regenerate deepcopy and apply-configuration code of api/
	$(CONTROLLER_GEN) object:headerFile=hack/boilerplate.go.txt applyconfiguration:headerFile=hack/boilerplate.go.txt paths=./api/...

chart-crds: ## Copy the CRD, ClusterRole and alerts of config/ into charts/messenger-operator (after make manifests)
	$(GO) run ./hack/chartgen

api-docs: ## Regenerate docs/reference.md from instance/api/openapi.json and the CRD
	$(GO) run ./hack/apidocs

IMAGE ?= ghcr.io/messenger-operator/messenger-operator:latest
VERSION ?= $(shell git describe --tags --always --dirty 2>/dev/null || echo dev)

docker-build: ## Build the container image $(IMAGE) (operator, instance and sandbox in one static binary)
	docker build --build-arg VERSION=$(VERSION) -t $(IMAGE) .

INSTANCE_IMAGE ?= ghcr.io/messenger-operator/messenger-instance:latest

docker-build-instance: ## Build the instance image $(INSTANCE_IMAGE) (Dockerfile target instance: -tags instanceonly)
	docker build --build-arg VERSION=$(VERSION) --target instance -t $(INSTANCE_IMAGE) .

clean: ## Remove build output
	rm -rf $(BIN)
