# The two commands of the README, and a few more for development.
#   make run   builds (release) and serves on http://127.0.0.1:3000
#   make test  unit + integration tests, release build, Playwright end to end
# Both install what they need first (.ci/setup), only when it is missing.

SHELL := /bin/bash
# cargo-leptos must find wasm-bindgen (~/.cargo/bin) and npm's wasm-opt before anything else.
export PATH := $(HOME)/.cargo/bin:$(CURDIR)/end2end/node_modules/.bin:$(PATH)

.PHONY: run dev build test setup lint

run:
	./.ci/setup
	cargo leptos serve --release

dev:
	./.ci/setup
	cargo leptos watch

build:
	./.ci/setup
	cargo leptos build --release

test:
	./.ci/setup --browser
	cargo test -p app -p server
	cargo leptos build --release
	cd end2end && npx playwright test

lint:
	cargo fmt --all -- --check
	cargo clippy -p app -p server --all-targets -- -D warnings
	cargo clippy -p frontend --target wasm32-unknown-unknown -- -D warnings

setup:
	./.ci/setup --browser
