// Browser-side figures for BENCHMARKS.md: the size of what a browser downloads, the time from
// navigation to a chart drawn with data, and the time to draw one frame. Only the size has a
// limit here (a budget, checked on every run); times are recorded, never asserted against a
// number, because a busy machine would make such a test flaky.
import { test, expect, Page } from "@playwright/test";
import fs from "node:fs";
import path from "node:path";
import zlib from "node:zlib";
import { ROOT, publish } from "./server";

// What the browser fetches to run the page, gzip -9: the WASM and its JS glue, as `make build`
// builds them (nightly build-std). The goal is 100 KB and the limit 150 KB; the build is above
// both (BENCHMARKS.md, "WASM size": where the bytes are, and the decision it takes to get
// there). Until then this budget holds the line about 0.6 % above the current size (178,915 B):
// any real growth fails the suite.
const BUDGET_GZIP = 180_000;

const FIGURES = path.join(ROOT, "target", "bench");

/** Records one figure set as target/bench/browser-<name>.json and attaches it to the report. */
async function record(name: string, figures: object): Promise<void> {
  fs.mkdirSync(FIGURES, { recursive: true });
  const json = JSON.stringify(figures);
  fs.writeFileSync(path.join(FIGURES, `browser-${name}.json`), json + "\n");
  console.log(`browser-${name}: ${json}`);
  await test.info().attach(`browser-${name}`, { body: json, contentType: "application/json" });
}

test("the WASM and its JS glue stay within the size budget", async () => {
  const pkg = path.join(ROOT, "target", "site", "pkg");
  const sizes: Record<string, { raw: number; gzip: number }> = {};
  for (const file of ["livechart.wasm", "livechart.js"]) {
    const bytes = fs.readFileSync(path.join(pkg, file));
    sizes[file] = { raw: bytes.length, gzip: zlib.gzipSync(bytes, { level: 9 }).length };
  }
  const total = sizes["livechart.wasm"].gzip + sizes["livechart.js"].gzip;
  await record("size", { ...sizes, total_gzip: total, budget_gzip: BUDGET_GZIP });
  expect(total, `WASM + JS glue, gzip -9 (bytes)`).toBeLessThanOrEqual(BUDGET_GZIP);
});

// Every frame the chart draws is a User Timing measure `livechart:draw:<points>`; the page
// clears them from the timeline at once, so an observer installed before the page runs
// collects them.
async function collectDraws(page: Page): Promise<void> {
  await page.addInitScript(() => {
    const w = window as unknown as { __draws: { points: number; start: number; duration: number }[] };
    w.__draws = [];
    new PerformanceObserver((list) => {
      for (const e of list.getEntries()) {
        if (!e.name.startsWith("livechart:draw:")) continue;
        w.__draws.push({ points: Number(e.name.slice("livechart:draw:".length)), start: e.startTime, duration: e.duration });
      }
    }).observe({ entryTypes: ["measure"] });
  });
}

type Draw = { points: number; start: number; duration: number };
const draws = (page: Page): Promise<Draw[]> =>
  page.evaluate(() => (window as unknown as { __draws: Draw[] }).__draws);

function quantile(sorted: number[], q: number): number {
  return sorted[Math.min(sorted.length - 1, Math.floor(q * sorted.length))];
}

const round = (ms: number) => Math.round(ms * 100) / 100;

for (const points of [20, 500]) {
  test(`navigation to a drawn chart, and the time of one frame with ${points} points`, async ({ page, request }) => {
    const stream = `figures-${points}`;
    const now = Date.now();
    await publish(
      request,
      "",
      stream,
      Array.from({ length: points }, (_, i) => ({ ts: now - (points - i) * 1000, value: 50 + 40 * Math.sin(i / 7) })),
    );
    await collectDraws(page);
    await page.goto(`/streams/${stream}?window=${points}`);
    const chart = page.locator("figure.chart");
    await expect(chart).toHaveAttribute("data-hydrated", "true");
    await expect(chart).toHaveAttribute("data-count", String(points));
    await expect.poll(async () => (await draws(page)).some((d) => d.points === points)).toBe(true);

    // Redraw by moving the pointer between two far-apart points of the plot: each move
    // changes the nearest point, and the chart draws one frame for it.
    const box = (await page.locator("figure.chart canvas").boundingBox())!;
    const frames = 40;
    for (let i = 0; i < frames; i++) {
      const before = Number(await chart.getAttribute("data-draws"));
      await page.mouse.move(box.x + box.width * (i % 2 ? 0.3 : 0.7), box.y + box.height / 2);
      await expect.poll(async () => Number(await chart.getAttribute("data-draws"))).toBeGreaterThan(before);
    }

    const all = await draws(page);
    const first = all.find((d) => d.points > 0)!;
    const frameTimes = all.filter((d) => d.points === points).map((d) => d.duration).sort((a, b) => a - b);
    expect(frameTimes.length).toBeGreaterThanOrEqual(frames);
    for (const t of frameTimes) expect(Number.isFinite(t) && t >= 0).toBe(true);

    const nav = await page.evaluate(() => {
      const n = performance.getEntriesByType("navigation")[0] as PerformanceNavigationTiming;
      return { response_end: n.responseEnd, dom_content_loaded: n.domContentLoadedEventEnd, load: n.loadEventEnd };
    });
    // The first frame with data comes after the page loaded its WASM: hydration drew it.
    expect(first.start).toBeGreaterThan(nav.response_end);
    await record(`draw-${points}`, {
      points,
      navigation_to_first_data_frame_ms: round(first.start + first.duration),
      response_end_ms: round(nav.response_end),
      dom_content_loaded_ms: round(nav.dom_content_loaded),
      load_ms: round(nav.load),
      frames: frameTimes.length,
      frame_ms_median: round(quantile(frameTimes, 0.5)),
      frame_ms_p95: round(quantile(frameTimes, 0.95)),
      frame_ms_max: round(frameTimes[frameTimes.length - 1]),
    });
  });
}
