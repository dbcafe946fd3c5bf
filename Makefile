# Sidekey — `make help` lists the targets.
SHELL := /usr/bin/env bash
.DEFAULT_GOAL := help

GO        ?= go
BIN       := $(CURDIR)/bin
VERSION   ?= $(shell git describe --tags --always --dirty 2>/dev/null || echo dev)
LDFLAGS   := -s -w -X main.version=$(VERSION)
GOLANGCI_VERSION := v2.15.0
HELM_VERSION     := v3.22.0
FUZZTIME  ?= 5m
BENCHTIME ?= 1s

export PATH := $(BIN):$(PATH)

.PHONY: help
help: ## List the targets
	@grep -hE '^[a-zA-Z_-]+:.*?## ' $(MAKEFILE_LIST) | \
	  awk 'BEGIN {FS = ":.*?## "}; {printf "  \033[36m%-12s\033[0m %s\n", $$1, $$2}'

.PHONY: build
build: ## Build bin/sidekey
	$(GO) build -trimpath -ldflags '$(LDFLAGS)' -o $(BIN)/sidekey ./cmd/sidekey

.PHONY: vault
vault: ## Build the dev Vault server (tests and demo only; Vault is BUSL) into bin/vaultdev
	cd tools/vaultdev && $(GO) build -o $(BIN)/vaultdev .

.PHONY: oidcdev
oidcdev: ## Build the dev OpenID Connect provider (tests and demo only) into bin/oidcdev
	cd tools/oidcdev && $(GO) build -o $(BIN)/oidcdev .

.PHONY: deps
deps: ## Install the system packages the tests need (curl, chromium) if missing
	@scripts/deps.sh

.PHONY: helm
helm: ## Install the pinned Helm into bin/
	@test -x $(BIN)/helm || GOBIN=$(BIN) $(GO) install helm.sh/helm/v3/cmd/helm@$(HELM_VERSION)

# The image: built without a Docker engine by tools/mkimage (internal/image).
# Its name matches the chart's defaults: image.repository and the chart's
# appVersion as tag.
CHART_APP_VERSION := $(shell sed -n 's/^appVersion: *"\{0,1\}\([^"]*\)"\{0,1\}/\1/p' charts/sidekey/Chart.yaml)
IMAGE     ?= ghcr.io/sidekey/sidekey:$(CHART_APP_VERSION)
IMAGE_OUT ?= $(BIN)/image
REVISION  := $(shell git rev-parse HEAD 2>/dev/null || echo unknown)
# Commit time: the image's creation time and every file's mtime (reproducible).
SOURCE_DATE_EPOCH ?= $(shell git log -1 --format=%ct 2>/dev/null || echo 0)

.PHONY: image
image: ## Build the OCI image into bin/image without Docker (IMAGE=repo:tag; IMAGE_PUSH=1 pushes); prints the digest last
	@if [ "$(IMAGE_PUSH)" = 1 ] && [ "$(origin IMAGE)" = file ]; then \
	  echo "make image: IMAGE_PUSH=1 needs the target named: IMAGE=registry.example.com/sidekey:TAG" >&2; exit 2; fi
	@CGO_ENABLED=0 GOOS=linux $(GO) build -trimpath -ldflags '$(LDFLAGS) -buildid=' -o $(BIN)/linux/sidekey ./cmd/sidekey
	@$(GO) run ./tools/mkimage -binary $(BIN)/linux/sidekey -out $(IMAGE_OUT) -image $(IMAGE) \
	  -version $(VERSION) -revision $(REVISION) -created $(SOURCE_DATE_EPOCH) $(if $(filter 1,$(IMAGE_PUSH)),-push)

.PHONY: print-image
print-image: ## Print the image name make image uses
	@echo $(IMAGE)

.PHONY: image-docker
image-docker: ## Build the same image with a Docker engine, from the Dockerfile
	docker build --build-arg VERSION=$(VERSION) --build-arg REVISION=$(REVISION) \
	  --build-arg CREATED=$$(date -u -d @$(SOURCE_DATE_EPOCH) +%Y-%m-%dT%H:%M:%SZ) -t $(IMAGE) .

.PHONY: test
test: deps build helm vault oidcdev ## Vet and run every test with -race (real Vault, real TLS, real Chromium)
	$(GO) vet ./...
	$(GO) test -race -timeout 30m ./...
	@# Stack sizes under -race are not the product's: the idle-memory budget runs without it.
	$(GO) test -count=1 -run '^TestIdleInterceptedConns$$' ./proxy/

.PHONY: lint
lint: ## Run the pinned golangci-lint
	@test -x $(BIN)/golangci-lint || GOBIN=$(BIN) $(GO) install github.com/golangci/golangci-lint/v2/cmd/golangci-lint@$(GOLANGCI_VERSION)
	$(BIN)/golangci-lint run ./...

.PHONY: fmt
fmt: ## Format the code
	gofmt -w $$(git ls-files '*.go')

.PHONY: bench
bench: vault ## Run the Go benchmarks (injector, cache)
	$(GO) test -run '^$$' -bench . -benchmem -benchtime $(BENCHTIME) ./injector/ ./vaultstore/

.PHONY: bench-proxy
bench-proxy: ## Proxy benchmark: direct, Sidekey, Squid, mitmproxy, sidecar cases (~11 min; docs/bench-proxy.md)
	bench/run.sh

.PHONY: bench-proxy-soak
bench-proxy-soak: ## Sidekey under load for SOAK_DURATION (default 300s), proxy RSS sampled
	bench/run.sh soak

.PHONY: bench-proxy-sidecar
bench-proxy-sidecar: ## Only the sidecar cases: unpinned, partial load, GOMAXPROCS 1 and 2 vs Squid (~4 min)
	bench/run.sh sidecar

.PHONY: fuzz
fuzz: ## Fuzz the injector for $(FUZZTIME) (FUZZTIME=30s make fuzz)
	$(GO) test -run '^$$' -fuzz '^FuzzRewrite$$' -fuzztime $(FUZZTIME) ./injector/

.PHONY: soak
soak: vault ## Soak: injecting traffic through the proxy for SOAK_DURATION (default 10m); writes docs/img/soak.png
	SIDEKEY_SOAK_DURATION=$(or $(SOAK_DURATION),10m) SIDEKEY_SOAK_OUT=$(or $(SOAK_OUT),$(CURDIR)/docs/img) \
	  $(GO) test -count=1 -timeout 3h -v -run '^TestSoak$$' ./reliability/

.PHONY: chaos
chaos: vault ## Fault suite (Vault kill/restart, upstream faults, admin replicas), then both fuzzers for FUZZTIME
	@GO=$(GO) FUZZTIME=$(FUZZTIME) reliability/chaos.sh

.PHONY: demo
demo: build vault ## Run Sidekey end to end on loopback: Vault, admin, proxy, an upstream, curl
	@scripts/demo.sh

.PHONY: clean
clean: ## Remove build output
	rm -rf $(BIN)
