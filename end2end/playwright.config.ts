import { defineConfig } from "@playwright/test";
import { CHROMIUM_ARGS, MAIN_PORT, serverEnv } from "./tests/server";

// The release build (`cargo leptos build --release`) must exist: `make test` builds it first.
// Chromium is Debian's (/usr/bin/chromium); Playwright never downloads a browser here.
export default defineConfig({
  testDir: "./tests",
  timeout: 60_000,
  expect: { timeout: 15_000 },
  fullyParallel: false,
  workers: 1,
  forbidOnly: !!process.env.CI,
  retries: 0,
  reporter: [["list"]],
  outputDir: "test-results",
  use: {
    baseURL: `http://127.0.0.1:${MAIN_PORT}`,
    browserName: "chromium",
    launchOptions: { executablePath: "/usr/bin/chromium", args: CHROMIUM_ARGS },
    screenshot: "only-on-failure",
    trace: "retain-on-failure",
  },
  webServer: {
    command: "target/release/livechart",
    cwd: "..",
    url: `http://127.0.0.1:${MAIN_PORT}/healthz`,
    env: serverEnv(MAIN_PORT),
    reuseExistingServer: false,
    timeout: 60_000,
    stdout: "ignore",
    stderr: "pipe",
  },
});
