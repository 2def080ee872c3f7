# ec2-dns — every task a developer or CI runs. `make help` lists them.
SHELL := bash
.SHELLFLAGS := -eu -o pipefail -c
.DEFAULT_GOAL := help

CARGO   ?= cargo
PYTHON  ?= python3
VENV    ?= .venv
BIN     := $(CURDIR)/target/debug/ec2-dns
STAMP   := $(VENV)/.installed-stamp
export CARGO_TERM_COLOR ?= never

.PHONY: help build test test-rust test-e2e test-harness docs-check lint demo sandbox package release \
	release-binaries release-check test-release-cli venv system-deps clean soak fuzz bench reconcile test-shipped

help: ## list the targets
	@grep -hE '^[a-z0-9-]+:.*## ' $(MAKEFILE_LIST) | awk -F':.*## ' '{printf "  make %-12s %s\n", $$1, $$2}'

$(STAMP): tests/requirements.txt requirements-tools.txt
	$(PYTHON) -m venv $(VENV)
	$(VENV)/bin/pip install --disable-pip-version-check -q -r tests/requirements.txt -r requirements-tools.txt
	touch $@

venv: $(STAMP) ## project virtualenv: moto, pytest, cargo-lambda, ziglang (pinned)

system-deps: ## Debian packages the tests drive (ddclient, inadyn, qemu-user-static), with apt when missing
	@tools/system-deps.sh

build: ## debug build of the Lambda binary and the operator CLI
	$(CARGO) build --locked --bins

lint: ## rustfmt check and clippy -D warnings
	$(CARGO) fmt --all -- --check
	$(CARGO) clippy --locked --all-targets -- -D warnings

test-rust: ## unit and invariant tests on the in-process fakes
	$(CARGO) test --locked

# pytest-xdist spreads the scenarios over processes: most of their time is spent waiting
# (for the SDK's back-off, for moto), not computing. PYTEST_WORKERS=0 runs them in one.
PYTEST_WORKERS ?= 4
PYTEST_ARGS := $(if $(filter 0,$(PYTEST_WORKERS)),,-n $(PYTEST_WORKERS))

# infra-policies: test_iam.py checks each binary's calls against the deployed policies.
test-e2e: build venv system-deps infra-policies ## the real binaries under a Runtime API host, against moto; every call checked against both flavours' IAM policies
	EC2_DNS_BIN=$(BIN) $(VENV)/bin/pytest -q $(PYTEST_ARGS) tests/e2e \
		--ignore=tests/e2e/test_shipped.py

test-shipped: package venv system-deps ## the shipped arm64 package, run under qemu-user, end to end
	$(VENV)/bin/pytest -q tests/e2e/test_shipped.py

test-harness: venv ## the harness's and the tools' own tests (no binary needed)
	$(VENV)/bin/pytest -q $(PYTEST_ARGS) tests/harness_tests tests/tools_tests

docs-check: build venv ## every shell block marked runnable in README.md and docs/, run against the sandbox
	$(VENV)/bin/python tests/docs_check.py

# Two lanes on two cores: the Rust builds one after another (clippy, the unit tests, the
# binaries: they share the target directory and would only wait for each other), and beside
# them everything that compiles no Rust (virtualenvs, npm, apt, the infrastructure and
# harness tests). Then the scenarios and the docs check, which need the debug binaries,
# beside the optimised arm64 build; last the shipped package's own test.
test: ## everything CI runs: lint, unit, end-to-end (debug and shipped arm64), harness, docs check, infrastructure
	@$(MAKE) --no-print-directory -j2 test-lane-rust test-lane-side
	@$(MAKE) --no-print-directory -j2 test-lane-e2e test-lane-package
	@$(call timed,test-shipped,$(MAKE) --no-print-directory test-shipped)

.PHONY: test-lane-rust test-lane-side test-lane-e2e test-lane-package
test-lane-rust:
	@$(call timed,lint,$(MAKE) --no-print-directory lint)
	@$(call timed,test-rust,$(MAKE) --no-print-directory test-rust)
	@$(call timed,build,$(MAKE) --no-print-directory build)

test-lane-side:
	@$(call timed,venv,$(MAKE) --no-print-directory venv system-deps infra-deps)
	@$(call timed,infra-test,$(MAKE) --no-print-directory infra-test)
	@$(call timed,test-harness,$(MAKE) --no-print-directory test-harness)

test-lane-e2e:
	@$(call timed,test-e2e,$(MAKE) --no-print-directory test-e2e)
	@$(call timed,docs-check,$(MAKE) --no-print-directory docs-check)

test-lane-package:
	@$(call timed,package,$(MAKE) --no-print-directory package)

# $(call timed,LABEL,COMMAND): runs COMMAND, then prints how long it took.
timed = start=$$(date +%s); $(2); echo "== $(1): $$(( $$(date +%s) - start )) s"

soak: ## the convergence and race properties over 10,000 random cases each
	EC2_DNS_PROPTEST_CASES=10000 $(CARGO) test --locked --lib proptests -- --nocapture

fuzz: ## structured random fuzzing of payloads, names and tags (200,000 cases each)
	EC2_DNS_FUZZ_CASES=200000 $(CARGO) test --locked --lib fuzz -- --nocapture

longruns: ## make soak and make fuzz, timed; their figures written into docs/testing.md with the commit
	python3 tools/longruns.py

bench: venv package ## benchmarks against the emulator (release binary; the arm64 zip for its size), written to docs/benchmarks.md
	$(CARGO) build --locked --release --bin ec2-dns --bin ec2-dns-ddns
	EC2_DNS_BIN=$(CURDIR)/target/release/ec2-dns $(VENV)/bin/python tests/bench.py

reconcile: venv ## manual reconcile, dry run unless APPLY=1: FUNCTION=name invokes the deployed function; without it ec2-dns-ctl runs here (AWS_ENDPOINT_URL for an emulator)
ifdef FUNCTION
	$(VENV)/bin/python tools/reconcile.py --function $(FUNCTION) $(if $(APPLY),--apply) $(if $(INSTANCES),--instances $(INSTANCES))
else
	$(CARGO) run --locked --quiet --bin ec2-dns-ctl -- $(if $(APPLY),apply,plan) $(if $(INSTANCES),--instances $(INSTANCES))
endif

demo: build venv ## the whole story against the embedded emulator
	EC2_DNS_BIN=$(BIN) $(VENV)/bin/python tests/demo.py

sandbox: build venv ## moto, the strict proxy and a small world on 127.0.0.1; prints the environment for ec2-dns-ctl (Ctrl-C stops it)
	$(VENV)/bin/python tests/sandbox.py $(if $(ENV_FILE),--env-file $(ENV_FILE))

# All three binaries for arm64 in one cargo invocation (their dependencies built once, their
# optimised links side by side), against glibc 2.17 (the `.2.17` suffix: cargo-lambda builds
# with zig), so that the arm64 ec2-dns-ctl runs on Amazon Linux 2 and everything newer; the
# functions run on provided.al2023 (glibc 2.34) all the same. The functions' zips land in
# target/lambda/; ec2-dns-ctl stays in target/aarch64-unknown-linux-gnu/release.
package: venv ## arm64 Lambda zips: target/lambda/ec2-dns/bootstrap.zip and target/lambda/ec2-dns-ddns/bootstrap.zip (and ec2-dns-ctl for aarch64)
	PATH="$(CURDIR)/$(VENV)/bin:$$PATH" cargo lambda build --locked --release \
		--target aarch64-unknown-linux-gnu.2.17 --output-format zip --bins

# ec2-dns-ctl, the operator CLI, for the machines operators run it on, with cargo-zigbuild
# (.venv): the Linux builds link against glibc 2.17, so they run on Amazon Linux 2 and
# everything newer; tools/release.sh refuses one that needs more. Linux: the release
# profile, target/<triple>/release/ec2-dns-ctl (aarch64 comes from `package`). Others:
# profile release-ctl (Cargo.toml: no thin-LTO link), target/<triple>/release-ctl/.
CTL_OTHER := x86_64-pc-windows-gnu
ZIGBUILD = PATH="$(CURDIR)/$(VENV)/bin:$$PATH" cargo zigbuild --locked --bin ec2-dns-ctl
rust-target = rustup target list --installed | grep -qx $(1) || rustup target add $(1)

.PHONY: ctl-linux ctl-other release-all-platforms
ctl-linux: venv ## ec2-dns-ctl for Linux x86_64, glibc 2.17 or later (cargo-zigbuild); aarch64 comes with `make package`
	$(call rust-target,x86_64-unknown-linux-gnu)
	$(ZIGBUILD) --release --target x86_64-unknown-linux-gnu.2.17

# Windows: aws-lc-sys assembles its x86_64 code with NASM; without NASM it takes the objects
# the crate ships, prebuilt, when allowed (AWS_LC_SYS_PREBUILT_NASM=1). macOS is not built
# here: its link needs the Security and CoreFoundation frameworks of Apple's SDK, which this
# machine lacks (docs/contributing.md#the-release-procedure).
ctl-other: venv ## ec2-dns-ctl for Windows x86_64 (cargo-zigbuild; too slow for CI: make release-all-platforms)
	$(foreach t,$(CTL_OTHER),$(call rust-target,$(t));)
	AWS_LC_SYS_PREBUILT_NASM=1 $(ZIGBUILD) --profile release-ctl $(foreach t,$(CTL_OTHER),--target $(t))

# The CLI's end-to-end tests again, with the x86_64 ec2-dns-ctl a release ships (glibc 2.17,
# optimised) instead of the debug build: what operators run is what is tested. The functions
# stay the debug builds of `make build`.
RELEASE_CTL := target/x86_64-unknown-linux-gnu/release/ec2-dns-ctl
CLI_E2E := tests/e2e/test_operator_cli.py tests/e2e/test_first_check.py tests/e2e/test_ddns_dual_stack.py
test-release-cli: build venv system-deps ## the CLI's end-to-end tests run with the shipped x86_64 ec2-dns-ctl (after make release-binaries)
	@test -x $(RELEASE_CTL) || { echo "$(RELEASE_CTL) is missing: run make release-binaries"; exit 1; }
	EC2_DNS_CTL=$(CURDIR)/$(RELEASE_CTL) $(VENV)/bin/pytest -q -n 2 $(CLI_E2E)

release-binaries: package ctl-linux ## every optimised binary of CI's release: the arm64 Lambda package and ec2-dns-ctl for Linux

release: venv infra-deps release-binaries ## every release artefact, checked, with SHA256SUMS: dist/ec2-dns-<version>/ (tools/release.sh)
	tools/release.sh

release-all-platforms: venv infra-deps release-binaries ctl-other ## make release, plus ec2-dns-ctl for Windows: what a published release holds
	tools/release.sh --all-platforms

# After `make release` (not a prerequisite: it would rebuild). RELEASE_DIR=dist/ec2-dns-X.Y.Z
# checks another release folder. npm install of the documented app prefers npm's cache,
# which `make infra-deps` filled with the same versions.
RELEASE_DIR ?=
release-check: infra-deps ## each deploy path of docs/install.md, run from the files of dist/ec2-dns-<version>/ alone, offline (after make release)
	$(PYTHON) tests/release_check.py $(RELEASE_DIR)

clean: ## remove build output and the virtualenvs
	$(CARGO) clean
	rm -rf $(VENV) infra/.venv infra/.build dist

include infra/infra.mk
