# The two commands of the README, and a few more for development.
#   make run   builds (release: one binary, the site inside) and serves on http://127.0.0.1:3000
#   make test  unit + integration tests, release build, Playwright end to end
# Both install what they need first (.ci/setup), only when it is missing.

SHELL := /bin/bash
# cargo-leptos must find wasm-bindgen (~/.cargo/bin) and npm's wasm-opt before anything else.
export PATH := $(HOME)/.cargo/bin:$(CURDIR)/end2end/node_modules/.bin:$(PATH)

# The WASM is built by nightly with its standard library recompiled for size (`build-std`);
# release builds also let a panic trap without formatting its message or knowing its place,
# and print `{:?}` as nothing (`make dev` keeps all three). See BENCHMARKS.md, "WASM size".
# The server keeps the default toolchain. A plain `cargo leptos build` on stable works too,
# with a larger WASM.
LEPTOS := RUSTUP_TOOLCHAIN=nightly LEPTOS_BIN_CARGO_COMMAND="env -u RUSTUP_TOOLCHAIN cargo" cargo leptos
WASM_STD := --lib-cargo-args=-Zbuild-std=std,panic_abort --lib-cargo-args=-Zbuild-std-features=optimize_for_size
NO_PANIC_TEXT := CARGO_TARGET_WASM32_UNKNOWN_UNKNOWN_RUSTFLAGS="-Zunstable-options -Cpanic=immediate-abort -Zlocation-detail=none -Zfmt-debug=none"

# The release binary embeds the site (server/build.rs), so the site is built first, then the
# server: target/release/livechart is then the whole deployment.
SITE := $(NO_PANIC_TEXT) $(LEPTOS) build --release --frontend-only $(WASM_STD)
SERVER := $(LEPTOS) build --release --server-only

.PHONY: run dev build release test setup lint

run: build
	target/release/livechart

# Development: a debug server reading the site from target/site, rebuilt on every change.
dev:
	./.ci/setup
	$(LEPTOS) watch $(WASM_STD)

build:
	./.ci/setup
	$(MAKE) release

release:
	$(SITE)
	$(SERVER)

test:
	./.ci/setup --browser
	cargo test -p app -p server
	$(MAKE) release
	cd end2end && npx playwright test

lint:
	cargo fmt --all -- --check
	cargo clippy -p app -p server --all-targets -- -D warnings
	cargo clippy -p frontend --target wasm32-unknown-unknown -- -D warnings

setup:
	./.ci/setup --browser
