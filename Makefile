# hoist: the two set-up commands are `make demo` and `make test` (README.md).
SHELL     := /bin/bash
GO        ?= go
BIN       := bin/hoist
ROOT      ?= $(CURDIR)/.hoist-demo
GOFLAGS_B := CGO_ENABLED=0
VERSION   := $(shell git describe --always --dirty 2>/dev/null || echo dev)
LDFLAGS   := -s -w -X github.com/hoistbuild/hoist/cmd/hoist/commands.Version=$(VERSION)

.PHONY: build demo base test test-rootless test-unit test-integration fuzz bench deps services clean docs

build: ## build bin/hoist (static)
	$(GOFLAGS_B) $(GO) build -trimpath -ldflags '$(LDFLAGS)' -o $(BIN) ./cmd/hoist

deps: ## install what the tests need (Debian packages); idempotent, needs root
	./hack/deps.sh

services: deps ## start what the tests need (dockerd, busybox:latest in dockerd and podman); idempotent
	./hack/services.sh

base: build ## make busybox:latest in $(ROOT) from the host's busybox-static (no registry needed)
	@test -x /bin/busybox || { echo "make base needs /bin/busybox: apt-get install busybox-static (or: make deps)"; exit 1; }
	$(GO) run ./hack/mkbusybox /bin/busybox > $(ROOT).busybox.tar
	$(BIN) --root $(ROOT) import --change 'CMD ["sh"]' --change 'ENV PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin' $(ROOT).busybox.tar busybox:latest
	rm -f $(ROOT).busybox.tar

demo: base ## build hoist, then build, inspect and run the examples
	$(BIN) --root $(ROOT) build -t hello:latest examples/hello
	$(BIN) --root $(ROOT) build -t scratch-example:latest examples/scratch
	$(BIN) --root $(ROOT) images
	$(BIN) --root $(ROOT) history hello:latest
	$(BIN) --root $(ROOT) run --rm --network none hello:latest

FUZZTIME  ?= 15s
# package:target, each fuzzed for FUZZTIME (the seed corpora under testdata/fuzz/ run with the tests)
FUZZ      := ./internal/rootpath:FuzzResolve ./snapshot:FuzzExtract

# The tests are built like the product (CGO_ENABLED=0: a static binary behaves differently, e.g. in
# how its threads are used, and a regression may show only there).
# HOIST_TEST_STRICT=1 (.ci/run sets it): a test that lacks a prerequisite (root, busybox, docker-registry,
# dockerd, podman, ...) fails instead of skipping (internal/testutil/prereq). hack/testsum prints the
# ok/FAIL lines of go test, the output of failed tests, and the count and reasons of skipped tests.
# The rootless pass (HOIST_TEST_AS=hoistci, cmd/hoist/rootlesspass_test.go) runs cmd/hoist's lifecycle
# and sandbox escape tests again with every hoist command run by the unprivileged user hack/deps.sh
# creates (builder's TestCorpusRootless, in the first run, builds the corpus as that user).
test: services ## the whole test suite (unit + integration; integration needs root), the rootless pass, then the fuzz targets
	set -o pipefail; CGO_ENABLED=0 $(GO) test -count=1 -timeout 20m -json ./... | $(GO) run ./hack/testsum
	$(MAKE) test-rootless
	$(MAKE) fuzz

test-rootless: ## cmd/hoist's lifecycle and escape tests with hoist run as the unprivileged user hoistci (needs root and make deps)
	set -o pipefail; HOIST_TEST_AS=hoistci CGO_ENABLED=0 $(GO) test -count=1 -timeout 20m -json ./cmd/hoist | $(GO) run ./hack/testsum

fuzz: ## run every fuzz target for FUZZTIME (FuzzExtract needs root)
	@set -e; for t in $(FUZZ); do \
		echo "fuzz $${t#*:} ($${t%%:*}) for $(FUZZTIME)"; \
		$(GO) test -run '^$$' -fuzz "^$${t#*:}\$$" -fuzztime $(FUZZTIME) $${t%%:*}; \
	done

test-unit:
	$(GO) test -count=1 -short ./...

bench: build ## hoist vs docker/buildah side by side (needs shared/refenv)
	./bench/bench.sh

docs: ## regenerate docs/ref: markdown and man pages per command, bash/zsh/fish completions
	rm -rf docs/ref
	$(GO) run ./hack/gendocs docs/ref

clean:
	rm -rf bin $(ROOT)
