# mlgate: the two commands are `make demo` and `make test`; everything else is set-up they call.
SHELL := /bin/bash
PYTHON ?= python3
VENV := .venv
BIN := $(VENV)/bin
# Built tools and Go caches live outside the clone, so every clone on this machine (CI's fresh
# clone included) reuses them: only the first build on a machine pays. Override with MLGATE_CACHE.
MLGATE_CACHE ?= $(HOME)/.cache/mlgate
CACHE := $(MLGATE_CACHE)
OPA_VERSION := v1.22.2
OPA := $(CACHE)/bin/opa
# vegeta: the constant-rate HTTP load generator for bench/bench_webhook.py --client vegeta.
VEGETA_VERSION := v12.13.0
VEGETA := $(CACHE)/bin/vegeta
GOENV := GOPATH=$(CACHE)/go/path GOCACHE=$(CACHE)/go/build GOMODCACHE=$(CACHE)/go/mod GOBIN=$(CACHE)/bin GOFLAGS=-modcacherw

.PHONY: demo test venv opa system-deps lint fmt bench conformance sigstore-roots clean wasm wasm-check vegeta \
	bench-backends bench-engine bench-webhook peers bench-cli mutation fuzz drills ui-test

# The stamp depends on pyproject.toml so that a dependency change reinstalls.
$(VENV)/.installed: pyproject.toml
	test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	$(BIN)/pip install --quiet --upgrade pip
	$(BIN)/pip install --quiet -e '.[test]'
	touch $@

venv: $(VENV)/.installed

# OPA is the reference Rego engine: built from the Go module proxy with the machine's Go,
# cached under .cache/ so only the first run pays for the build.
$(OPA):
	mkdir -p $(CACHE)/bin
	$(GOENV) go install github.com/open-policy-agent/opa@$(OPA_VERSION)
	$(OPA) version | head -1

opa: $(OPA)

$(VEGETA):
	mkdir -p $(CACHE)/bin
	$(GOENV) nice -n 10 go install github.com/tsenart/vegeta/v12@$(VEGETA_VERSION)

vegeta: $(VEGETA)

# The shipped policies compiled by the pinned OPA to WebAssembly (package data, so a wheel needs
# no OPA): rerun after any Rego change under policies/ and commit src/mlgate/compiled/.
wasm: venv opa
	$(BIN)/python -m mlgate.rego.wasm_build --policies policies --out src/mlgate/compiled --opa $(OPA)

# Fails with "run `make wasm`" when the shipped policy.wasm was built from other Rego sources.
wasm-check: venv
	$(BIN)/python -m mlgate.rego.wasm_build --policies policies --check

# docs/conformance.md: OPA's own YAML conformance cases (from the OPA module source in the Go
# module cache; `go mod download` is a no-op once `make opa` has run) on the Wasm engine, and
# on rego-cpp for comparison.
conformance: venv opa
	$(GOENV) go mod download github.com/open-policy-agent/opa@$(OPA_VERSION)
	$(BIN)/python -m tools.conformance.runner --opa $(OPA) --out docs/conformance.md

# The Sigstore trusted roots keyless verification uses offline (src/mlgate/supplychain/roots/):
# refreshed from the installed sigstore package (pip install -U sigstore first), provenance and
# sha256 in roots/PROVENANCE.json. `python -m tools.sigstore_roots --source tuf` fetches the
# current roots through Sigstore's TUF repositories instead (network).
sigstore-roots: venv
	$(BIN)/python -m tools.sigstore_roots

# kubectl validates the webhook manifests (client-side dry run).
system-deps:
	@command -v kubectl >/dev/null || { apt-get update -qq && apt-get install -y -qq kubernetes-client; }
	@# The console and report UI tests drive Debian's chromium (no browser download).
	@{ command -v chromium && command -v chromedriver; } >/dev/null || { apt-get update -qq && \
	  DEBIAN_FRONTEND=noninteractive apt-get install -y -qq chromium chromium-driver fonts-dejavu-core; }

demo: venv
	$(BIN)/python examples/demo.py

test: venv opa system-deps
	$(BIN)/ruff check src tests bench tools
	$(BIN)/ruff format --check src tests bench tools
	$(BIN)/mypy
	$(OPA) check --strict policies/
	test -z "$$($(OPA) fmt --list policies/)" || { echo "opa fmt: files need formatting:"; $(OPA) fmt --list policies/; exit 1; }
	$(OPA) test --ignore '*.yaml' policies/
	$(MAKE) --no-print-directory wasm-check
	$(BIN)/mlgate policy check policies/
	$(BIN)/mlgate test policy-tests/
	MLGATE_OPA=$(OPA) $(BIN)/pytest -n 2 tests

# The console and compliance-report tests in headless Chromium (also part of `make test`);
# screenshots and the printed report go to build/test-output/ui.
ui-test: venv system-deps
	$(BIN)/pytest -q -p no:xdist tests/test_console_ui.py tests/test_report.py

lint: venv
	$(BIN)/ruff check src tests bench tools
	$(BIN)/ruff format --check src tests bench tools
	$(BIN)/mypy

fmt: venv
	$(BIN)/ruff format src tests bench tools
	$(BIN)/ruff check --fix src tests bench tools

# Issue 16: every one-edit typo of the policy data files (rename, delete, retype each key and
# list entry), each rejected with file:line, without effect, flagged by `mlgate policy diff`, or
# evaluated on policy-tests/; exits 1 on any silent weakening. `make test` runs a quick subset
# (tests/test_policy_mutation.py).
mutation: venv
	$(BIN)/python -m mlgate.policyset.mutation --policies policies --tests policy-tests

bench: venv opa
	MLGATE_OPA=$(OPA) $(BIN)/python bench/run_all.py

# The figures of docs/performance.md, one command each (JSON lines on stdout).
bench-backends: venv opa
	MLGATE_OPA=$(OPA) $(BIN)/python bench/bench_backends.py --n 1000

bench-engine: venv
	$(BIN)/python bench/bench_engine.py --n 3000

bench-webhook: venv vegeta
	$(BIN)/python bench/bench_webhook.py --client vegeta --signed --rates 100,300,600 --duration 30
	$(BIN)/python bench/bench_webhook.py --client vegeta --signed --duration 10 \
	  --rates "" --sweep 600,800,1000,1200,1500

# Peer policy CLIs for bench/bench_cli.py (issue 17): each pinned and built from its module's
# source in the Go module proxy (go build inside the downloaded module honours its go.mod
# `replace` lines, which `go install pkg@version` refuses). Versioned file names keep the pin
# visible and let two versions coexist. Large builds: run niced.
GATOR_VERSION := v3.20.1
CONFTEST_VERSION := v0.66.0
KYVERNO_VERSION := v1.15.2
GATOR := $(CACHE)/bin/gator-$(GATOR_VERSION)
CONFTEST := $(CACHE)/bin/conftest-$(CONFTEST_VERSION)
KYVERNO := $(CACHE)/bin/kyverno-$(KYVERNO_VERSION)
# $(call go_build_module,module@version,package dir,output)
go_build_module = mkdir -p $(CACHE)/bin && dir=$$($(GOENV) go mod download -json $(1) | $(PYTHON) -c 'import json,sys; print(json.load(sys.stdin)["Dir"])') && cd "$$dir" && $(GOENV) nice -n 10 go build -trimpath -o $(3).tmp $(2) && mv $(3).tmp $(3)

$(GATOR):
	$(call go_build_module,github.com/open-policy-agent/gatekeeper/v3@$(GATOR_VERSION),./cmd/gator,$@)

$(CONFTEST):
	$(call go_build_module,github.com/open-policy-agent/conftest@$(CONFTEST_VERSION),.,$@)

$(KYVERNO):
	$(call go_build_module,github.com/kyverno/kyverno@$(KYVERNO_VERSION),./cmd/cli/kubectl-kyverno,$@)

peers: $(GATOR) $(CONFTEST) $(KYVERNO)

# The peer race (docs/performance.md, "mlgate check against peer CLIs").
bench-cli: venv peers
	$(BIN)/python bench/bench_cli.py --objects 5000 --gator $(GATOR) --conftest $(CONFTEST) --kyverno $(KYVERNO) --json bench/results/bench_cli.json --markdown

# Hostile input (docs/reliability.md). The property tests and a schemathesis run are part of
# `make test`; `make fuzz` sends 100,000 generated and mutated reviews to a real server and
# `make drills` runs the fault drills (kill -9, disk full, namespace API down, OPA stopped,
# broken policy edit). Both print one JSON line per result and fail on a missed target.
FUZZ_COUNT ?= 100000
fuzz: venv
	nice -n 10 $(BIN)/python bench/fuzz_webhook.py --count $(FUZZ_COUNT) --out bench/results/fuzz.jsonl

drills: venv opa
	MLGATE_OPA=$(OPA) nice -n 10 $(BIN)/python bench/drills.py

clean:
	rm -rf $(VENV) build dist src/*.egg-info

# --- end to end against a real control plane (issue 13) ---------------------------------------
# kube-apiserver, kube-controller-manager, kubectl and etcd built from the Go module proxy through
# pinned wrapper modules (hack/k8s-bins/{kube,etcd}/go.{mod,sum}; bump with
# hack/k8s-bins/update.sh). Binaries and Go caches live in $(CACHE), outside the clone: a cold
# build takes ~8.5 min once per machine, a warm one seconds.
K8S_VERSION  := $(shell awk '$$1=="k8s.io/kubernetes"{print $$2; exit}' hack/k8s-bins/kube/go.mod)
ETCD_VERSION := $(shell awk '$$1=="go.etcd.io/etcd/server/v3"{print $$2; exit}' hack/k8s-bins/etcd/go.mod)
K8S_BIN      := $(CACHE)/k8s/$(K8S_VERSION)-etcd$(ETCD_VERSION)
K8S_GOENV    := GOPATH=$(CACHE)/go/path GOCACHE=$(CACHE)/go/build GOMODCACHE=$(CACHE)/go/mod

HELM_VERSION := v4.3.2
HELM         := $(CACHE)/helm/$(HELM_VERSION)/helm
E2E_DIR      := $(CURDIR)/.e2e

.PHONY: k8s-bins crds helm e2e

# flock: CI's clone and a developer's may build at once into the same cache.
$(K8S_BIN)/.built: hack/k8s-bins/kube/go.mod hack/k8s-bins/kube/go.sum hack/k8s-bins/etcd/go.mod hack/k8s-bins/etcd/go.sum hack/k8s-bins/build.sh
	@mkdir -p $(CACHE)/k8s
	flock $(CACHE)/k8s/.lock sh -c 'test -f $@ || { rm -rf $(K8S_BIN).tmp && \
	  $(K8S_GOENV) nice -n 10 hack/k8s-bins/build.sh $(K8S_BIN).tmp && \
	  rm -rf $(K8S_BIN) && mv $(K8S_BIN).tmp $(K8S_BIN) && touch $@; }'

k8s-bins: $(K8S_BIN)/.built
	@echo "k8s binaries in $(K8S_BIN)"

# Upstream CRDs from pinned Go module zips (hack/crds/sources.txt, checked by SHA256SUMS).
crds:
	$(K8S_GOENV) hack/crds/fetch.sh $(E2E_DIR)/crds

# Helm, from the Go module proxy (same k8s.io v0.37.2 libraries as the k8s binaries).
$(HELM):
	@mkdir -p $(dir $@)
	flock $(CACHE)/helm/.lock sh -c 'test -x $@ || $(K8S_GOENV) GOBIN=$(dir $@) GOFLAGS=-modcacherw \
	  CGO_ENABLED=0 nice -n 10 go install -trimpath -ldflags "-s -w -X helm.sh/helm/v4/internal/version.version=$(HELM_VERSION)" \
	  helm.sh/helm/v4/cmd/helm@$(HELM_VERSION)'

helm: $(HELM)
	$(HELM) version

# The end-to-end suite (tests/e2e) against the real control plane. It fails, never skips,
# when a binary cannot be built or started; every process it starts is stopped by PID, by
# the tests and again here whatever their outcome. --basetemp: other pytest runs of the same
# user prune /tmp/pytest-of-$$USER, which may hold a running test's files.
# E2E_TESTS picks files or tests: `make e2e E2E_TESTS=tests/e2e/test_scan.py`.
E2E_TESTS ?= tests/e2e
e2e: venv k8s-bins crds helm
	@set -o pipefail; start=$$(date +%s); \
	MLGATE_K8S_BIN=$(K8S_BIN) MLGATE_CRDS=$(E2E_DIR)/crds MLGATE_HELM=$(HELM) \
	MLGATE_E2E_WORK=$(E2E_DIR)/run $(BIN)/pytest -p no:xdist -p no:cacheprovider -v \
	  --basetemp=$(E2E_DIR)/tmp $(E2E_TESTS); \
	rc=$$?; $(BIN)/python tests/e2e/processes.py $(E2E_DIR)/run; \
	echo "make e2e: pytest exit $$rc after $$(( $$(date +%s) - start ))s"; exit $$rc
