# The two commands of the README, and a few more for development.
#   make run   builds (release) and serves on http://127.0.0.1:3000
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

.PHONY: run dev build test setup lint

run:
	./.ci/setup
	$(NO_PANIC_TEXT) $(LEPTOS) serve --release $(WASM_STD)

dev:
	./.ci/setup
	$(LEPTOS) watch $(WASM_STD)

build:
	./.ci/setup
	$(NO_PANIC_TEXT) $(LEPTOS) build --release $(WASM_STD)

test:
	./.ci/setup --browser
	cargo test -p app -p server
	$(NO_PANIC_TEXT) $(LEPTOS) build --release $(WASM_STD)
	cd end2end && npx playwright test

lint:
	cargo fmt --all -- --check
	cargo clippy -p app -p server --all-targets -- -D warnings
	cargo clippy -p frontend --target wasm32-unknown-unknown -- -D warnings

setup:
	./.ci/setup --browser
