// Starting and stopping our own server instances, for tests that restart the server.
import { test, APIRequestContext, Locator, Page } from "@playwright/test";
import { spawn, ChildProcess } from "node:child_process";
import fs from "node:fs";
import http from "node:http";
import os from "node:os";
import path from "node:path";

/** Saves a screenshot of the page as a test artifact (under test-results/) and attaches it. */
export async function artifact(page: Page, name: string): Promise<void> {
  const file = test.info().outputPath(`${name}.png`);
  await page.screenshot({ path: file });
  await test.info().attach(name, { path: file, contentType: "image/png" });
}

/** Collects the page's console errors and uncaught exceptions, to assert there were none. */
export function watchProblems(page: Page): string[] {
  const problems: string[] = [];
  page.on("console", (m) => {
    if (m.type() === "error") problems.push(`console: ${m.text()}`);
  });
  page.on("pageerror", (e) => problems.push(`pageerror: ${e.message}`));
  return problems;
}

export const MAIN_PORT = 3100;
export const ROOT = path.resolve(__dirname, "..", "..");

// Chromium flags for this closed network: no background services, no sandbox as root.
export const CHROMIUM_ARGS = [
  "--no-sandbox",
  "--disable-gpu",
  "--disable-quic",
  "--no-first-run",
  "--disable-background-networking",
  "--disable-component-update",
  "--disable-sync",
];

/** A fresh, empty data directory for one test server (kept across its restarts). */
export function freshDataDir(port: number): string {
  return fs.mkdtempSync(path.join(os.tmpdir(), `livechart-e2e-${port}-`));
}

/** The environment of a test server: the release site, a fast demo, quick reconnects, and
 * its own history (`dataDir`), so that no run sees what an earlier one left. */
export function serverEnv(port: number, dataDir = freshDataDir(port)): Record<string, string> {
  return {
    ...(process.env as Record<string, string>),
    LIVECHART_DATA_DIR: dataDir,
    LEPTOS_SITE_ADDR: `127.0.0.1:${port}`,
    LEPTOS_SITE_ROOT: "target/site",
    LIVECHART_DEMO_INTERVAL_MS: "250",
    LIVECHART_SSE_RETRY_MS: "500",
    RUST_LOG: "warn",
  };
}

export class Server {
  private child?: ChildProcess;
  /** Where this server keeps its history, the same for each of its starts. */
  readonly dataDir: string;
  /** `env`: extra LIVECHART_* settings for this server. */
  constructor(readonly port: number, readonly env: Record<string, string> = {}) {
    this.dataDir = freshDataDir(port);
  }

  get url(): string {
    return `http://127.0.0.1:${this.port}`;
  }

  /** Starts the release binary and waits until /healthz answers. */
  async start(): Promise<void> {
    // Another process answering here would pass for this one.
    const stray = await fetch(`${this.url}/healthz`).then(() => true, () => false);
    if (stray) throw new Error(`something already answers on port ${this.port}`);
    const child = spawn(path.join(ROOT, "target/release/livechart"), [], {
      cwd: ROOT,
      env: { ...serverEnv(this.port, this.dataDir), ...this.env },
      stdio: ["ignore", "ignore", "inherit"],
    });
    this.child = child;
    const deadline = Date.now() + 30_000;
    while (Date.now() < deadline) {
      if (child.exitCode !== null) throw new Error(`server exited with ${child.exitCode}`);
      try {
        const r = await fetch(`${this.url}/healthz`);
        if (r.ok) return;
      } catch {
        // not listening yet
      }
      await new Promise((r) => setTimeout(r, 100));
    }
    throw new Error(`server on port ${this.port} did not become healthy`);
  }

  /** SIGKILL: the process ends at once, finishing nothing. */
  async kill(): Promise<void> {
    const child = this.child;
    if (!child || child.exitCode !== null) return;
    const exited = new Promise((r) => child.once("exit", r));
    child.kill("SIGKILL");
    await exited;
    this.child = undefined;
  }

  /** SIGTERM, then waits for the process to exit. */
  async stop(): Promise<void> {
    const child = this.child;
    if (!child || child.exitCode !== null) return;
    const exited = new Promise((r) => child.once("exit", r));
    child.kill("SIGTERM");
    await exited;
    this.child = undefined;
  }
}

/** Publishes points to a stream of the server at `base`; fails the test on an error. */
export async function publish(
  request: APIRequestContext,
  base: string,
  stream: string,
  points: { series?: string; ts?: number; value: number }[],
): Promise<void> {
  const r = await request.post(`${base}/api/streams/${stream}/points`, { data: points });
  if (!r.ok()) throw new Error(`publish to ${stream}: ${r.status()} ${await r.text()}`);
}

/** One raw HTTP exchange, with nothing decoded: what the server sends, byte for byte. */
export type RawResponse = { status: number; headers: http.IncomingHttpHeaders; body: Buffer };

export function rawRequest(url: string, headers: Record<string, string> = {}, method = "GET"): Promise<RawResponse> {
  return new Promise((resolve, reject) => {
    const req = http.request(url, { method, headers, timeout: 15_000 }, (res) => {
      const chunks: Buffer[] = [];
      res.on("data", (c: Buffer) => chunks.push(c));
      res.on("end", () => resolve({ status: res.statusCode ?? 0, headers: res.headers, body: Buffer.concat(chunks) }));
      res.on("error", reject);
    });
    req.on("timeout", () => req.destroy(new Error(`${method} ${url}: no answer in 15 s`)));
    req.on("error", reject);
    req.end();
  });
}

/** Opens the table of points of every chart the page shows, through its Data menu, as soon as
 * the chart is hydrated (on every load of the page, charts that appear later included): for
 * tests that read the points shown from the table. A test that closes a table keeps it closed. */
export async function openTables(page: Page): Promise<void> {
  await page.addInitScript(() => {
    const opened = new WeakSet<Element>();
    const open = () => {
      for (const chart of document.querySelectorAll("figure.chart[data-hydrated='true']")) {
        const button = chart.querySelector<HTMLButtonElement>("button.show-table");
        if (!button || opened.has(chart)) continue;
        opened.add(chart);
        if (button.getAttribute("aria-pressed") !== "true") button.click();
      }
    };
    new MutationObserver(open).observe(document, { subtree: true, attributes: true, attributeFilter: ["data-hydrated"] });
  });
}

/** Opens a chart's Data menu (CSV, PNG, the table, values read aloud). */
export async function dataMenu(chart: Locator): Promise<Locator> {
  const menu = chart.locator("details.data-menu");
  if ((await menu.getAttribute("open")) === null) await menu.locator("summary").click();
  return menu;
}
