# ferry — event-driven HTTP gateway for Apache Kafka.
GO            ?= go
BIN           := bin/ferry
CONFIG        ?= testdata/ferry.yaml
STATICCHECK   := honnef.co/go/tools/cmd/staticcheck@v0.8.2
TEST_FLAGS    ?= -race -timeout 8m
VERSION       ?= $(shell git describe --tags --always --dirty 2>/dev/null || echo dev)

.DEFAULT_GOAL := help

.PHONY: help
help: ## list the targets
	@awk 'BEGIN {FS = ":.*## "} /^[a-zA-Z_-]+:.*## / {printf "  %-10s %s\n", $$1, $$2}' $(MAKEFILE_LIST)

.PHONY: build
build: ## build bin/ferry
	$(GO) build -ldflags "-X main.version=$(VERSION)" -o $(BIN) ./cmd/ferry

.PHONY: run
run: build ## run the gateway on :8080 with embedded Kafka (127.0.0.1:9092), Redis and a demo echo responder
	@mkdir -p .data
	@echo 'Once ferry logs "ferry ready" (its URLs, Kafka and Redis addresses), try it from another terminal'
	@echo '(dev token; testdata/keys is DEV ONLY):'
	@echo '  TOKEN=$$(./$(BIN) token --scope orders:write)'
	@echo '  curl -i localhost:8080/v1/orders -H "Authorization: Bearer $$TOKEN" -H "Content-Type: application/json" --data-binary @testdata/payloads/order.json'
	./$(BIN) serve -c $(CONFIG) --echo-responder

.PHONY: test
test: ## run every test with the race detector
	$(GO) test $(TEST_FLAGS) ./...

.PHONY: chaos
chaos: build ## chaos soak: two instances, one broker, one Redis, random faults; CHAOS_S=300 seconds, CHAOS_SEED replays a run
	CHAOS_S=$${CHAOS_S:-300} $(GO) test -race -count=1 -run '^TestChaos$$' -timeout 0 -v ./cmd/ferry

.PHONY: bench
bench: build ## every load scenario next to its baseline, the whole bench twice (BENCH_RUNS=1: once; BENCH_QUICK=1: smaller); writes BENCHMARKS.md
	$(GO) build -o bin/ferry-load ./cmd/ferry-load
	./bin/ferry-load bench --runs $${BENCH_RUNS:-2} --ferry $(BIN)

.PHONY: bench-go
bench-go: ## run the Go micro-benchmarks
	$(GO) test -run '^$$' -bench . -benchmem ./...

.PHONY: lint
lint: ## go vet, gofmt, staticcheck, and no tracked executables or files over 2 MB
	$(GO) vet ./...
	@out=$$(gofmt -l $$(git ls-files '*.go')); if [ -n "$$out" ]; then echo "gofmt needed:"; echo "$$out"; exit 1; fi
	$(GO) run $(STATICCHECK) ./...
	$(GO) test -count=1 -run '^TestTrackedFiles$$' .

.PHONY: check
check: build ## validate the quickstart config
	./$(BIN) check $(CONFIG)

.PHONY: clean
clean: ## remove build output and embedded data
	rm -rf bin .data
