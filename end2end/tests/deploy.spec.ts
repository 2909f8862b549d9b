// One file to deploy: the release binary, copied alone into an empty directory and started
// there with no configuration file, serves its own site (embedded and precompressed) with
// the caching headers browsers use, and its pages come alive.
import { test, expect } from "@playwright/test";
import { spawn, ChildProcess } from "node:child_process";
import fs from "node:fs";
import os from "node:os";
import path from "node:path";
import zlib from "node:zlib";
import { ROOT, rawRequest, watchProblems } from "./server";

let dir = "";
let child: ChildProcess | undefined;
let base = "";

test.beforeAll(async () => {
  dir = fs.mkdtempSync(path.join(os.tmpdir(), "livechart-deploy-"));
  const binary = path.join(dir, "livechart");
  fs.copyFileSync(path.join(ROOT, "target", "release", "livechart"), binary);
  fs.chmodSync(binary, 0o755);
  // Nothing from this environment: no LEPTOS_* or LIVECHART_* settings, no site folder.
  child = spawn(binary, [], {
    cwd: dir,
    env: { PATH: process.env.PATH ?? "/usr/bin:/bin", HOME: dir, LEPTOS_SITE_ADDR: "127.0.0.1:0", RUST_LOG: "warn" },
    stdio: ["ignore", "pipe", "inherit"],
  });
  base = await new Promise<string>((resolve, reject) => {
    let out = "";
    child!.stdout!.on("data", (chunk: Buffer) => {
      out += chunk.toString();
      const found = out.match(/listening on (http:\/\/\S+)/);
      if (found) resolve(found[1]);
    });
    child!.on("exit", (code) => reject(new Error(`the copied binary exited (${code}) before listening`)));
    setTimeout(() => reject(new Error("the copied binary did not listen within 30 s")), 30_000);
  });
});

test.afterAll(async () => {
  child?.kill("SIGTERM");
  if (child && child.exitCode === null) await new Promise((r) => child!.once("exit", r));
  fs.rmSync(dir, { recursive: true, force: true });
});

test("the copied binary serves its own site: encodings, types, caching, 304, HEAD and ranges", async () => {
  expect(fs.readdirSync(dir).sort()).toEqual(["data", "livechart"]);
  const page = await rawRequest(`${base}/streams/demo`, { "accept-encoding": "identity" });
  expect(page.status).toBe(200);
  expect(page.headers["content-type"]).toContain("text/html");
  expect(page.headers["cache-control"]).toBe("no-cache");
  const html = page.body.toString();
  const stamp = html.match(/<meta name="livechart-source" content="([0-9a-f]{16})"/)![1];
  // The package is linked by a directory named after its contents.
  const pkg = "/pkg/" + html.match(/\/pkg\/([0-9a-f]{16})\/livechart\.wasm/)![1];
  expect(html).toContain(`${pkg}/livechart.js`);
  expect(html).toContain(`${pkg}/livechart.css`);

  const types: Record<string, string> = { wasm: "application/wasm", js: "text/javascript", css: "text/css" };
  for (const ext of ["wasm", "js", "css"]) {
    const url = `${base}${pkg}/livechart.${ext}`;
    const plain = await rawRequest(url, { "accept-encoding": "identity" });
    expect(plain.status).toBe(200);
    expect(plain.headers["content-type"]).toContain(types[ext]);
    expect(plain.headers["content-encoding"]).toBeUndefined();
    expect(plain.headers["cache-control"]).toBe("public, max-age=31536000, immutable");
    expect(plain.headers["vary"]).toBe("accept-encoding");
    expect(Number(plain.headers["content-length"])).toBe(plain.body.length);

    const br = await rawRequest(url, { "accept-encoding": "gzip, deflate, br" });
    expect(br.headers["content-encoding"]).toBe("br");
    expect(zlib.brotliDecompressSync(br.body).equals(plain.body)).toBe(true);
    const gz = await rawRequest(url, { "accept-encoding": "gzip" });
    expect(gz.headers["content-encoding"]).toBe("gzip");
    expect(zlib.gunzipSync(gz.body).equals(plain.body)).toBe(true);
    expect(br.body.length).toBeLessThan(gz.body.length);
    expect(gz.body.length).toBeLessThan(plain.body.length);

    // Revalidation: the ETag of the form received answers 304, with no body.
    const again = await rawRequest(url, { "accept-encoding": "br", "if-none-match": br.headers["etag"] as string });
    expect(again.status).toBe(304);
    expect(again.body.length).toBe(0);
    expect(br.headers["etag"]).not.toBe(gz.headers["etag"]);

    const head = await rawRequest(url, { "accept-encoding": "br" }, "HEAD");
    expect(head.status).toBe(200);
    expect(head.body.length).toBe(0);
    expect(Number(head.headers["content-length"])).toBe(br.body.length);
    expect(head.headers["content-encoding"]).toBe("br");
  }

  // The WASM is this binary's own build: it carries the page's source stamp.
  const wasm = await rawRequest(`${base}${pkg}/livechart.wasm`, { "accept-encoding": "identity" });
  expect(wasm.body.subarray(0, 4).toString("latin1")).toBe("\0asm");
  expect(wasm.body.includes(Buffer.from(stamp))).toBe(true);

  const part = await rawRequest(`${base}${pkg}/livechart.wasm`, { range: "bytes=0-3", "accept-encoding": "br" });
  expect(part.status).toBe(206);
  expect(part.headers["content-range"]).toBe(`bytes 0-3/${wasm.body.length}`);
  expect(part.body.toString("latin1")).toBe("\0asm");
  const beyond = await rawRequest(`${base}${pkg}/livechart.wasm`, { range: `bytes=${wasm.body.length}-` });
  expect(beyond.status).toBe(416);

  // Unfingerprinted names are revalidated; the icon too.
  const unnamed = await rawRequest(`${base}/pkg/livechart.wasm`, { "accept-encoding": "br" });
  expect(unnamed.status).toBe(200);
  expect(unnamed.headers["cache-control"]).toBe("no-cache");
  const icon = await rawRequest(`${base}/favicon.svg`);
  expect(icon.status).toBe(200);
  expect(icon.headers["content-type"]).toBe("image/svg+xml");
  expect(icon.headers["cache-control"]).toBe("no-cache");
  const revalidated = await rawRequest(`${base}/favicon.svg`, { "if-none-match": icon.headers["etag"] as string });
  expect(revalidated.status).toBe(304);
  expect((await rawRequest(`${base}/pkg/nothing.js`)).status).toBe(404);
});

test("a page served by the copied binary hydrates and goes live", async ({ page }) => {
  const problems = watchProblems(page);
  await page.goto(`${base}/streams/demo`);
  const chart = page.locator("figure.chart");
  await expect(chart).toHaveAttribute("data-hydrated", "true");
  await expect(chart).toHaveAttribute("data-state", "live");
  await expect.poll(async () => Number(await chart.getAttribute("data-count"))).toBeGreaterThan(1);
  await expect(page.locator(".build-mismatch")).toHaveCount(0);
  expect(problems).toEqual([]);
});
