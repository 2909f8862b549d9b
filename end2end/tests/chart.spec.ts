import { test, expect, Page } from "@playwright/test";
import path from "node:path";
import { artifact, openTables, watchProblems } from "./server";

// These tests read the points shown from each chart's table, which opens on request.
test.beforeEach(({ page }) => openTables(page));

// Problems the page reports: console errors and uncaught exceptions (a panic in the WASM
// lands here too). Every test asserts there are none.

// The demo stream on a page of its own (the dashboard at / shows several charts).
const DEMO = "/streams/demo";
const chart = (page: Page) => page.locator("figure.chart");
const rows = (page: Page) => page.locator("figure.chart table tbody tr");

/** Canvas pixels close to the line colour (37, 99, 235). */
async function linePixels(page: Page): Promise<number> {
  return page.locator("figure.chart canvas").evaluate((c: HTMLCanvasElement) => {
    const data = c.getContext("2d")!.getImageData(0, 0, c.width, c.height).data;
    let n = 0;
    for (let i = 0; i < data.length; i += 4) {
      if (Math.abs(data[i] - 37) < 30 && Math.abs(data[i + 1] - 99) < 30 && Math.abs(data[i + 2] - 235) < 30) n++;
    }
    return n;
  });
}

test("the page hydrates, goes live and draws the points it receives", async ({ page }) => {
  const problems = watchProblems(page);
  await page.goto(DEMO);
  // Only the WASM side can set these: a page that never hydrates fails here.
  await expect(chart(page)).toHaveAttribute("data-hydrated", "true");
  await expect(chart(page).locator(".status")).toHaveText("Live");
  await expect(chart(page)).toHaveAttribute("data-state", "live");

  await expect.poll(() => rows(page).count()).toBeGreaterThanOrEqual(5);
  const values = await rows(page).evaluateAll((trs) => trs.map((tr) => Number(tr.getAttribute("data-value"))));
  for (const v of values) {
    expect(v).toBeGreaterThanOrEqual(0);
    expect(v).toBeLessThanOrEqual(100);
  }
  const ts = await rows(page).evaluateAll((trs) => trs.map((tr) => Number(tr.getAttribute("data-ts"))));
  expect([...ts].sort((a, b) => a - b)).toEqual(ts);
  // The count and the table describe the same window. Points keep arriving (every 250 ms,
  // and the window is still filling on a fresh server), so both are read in one go.
  await expect
    .poll(() =>
      chart(page).evaluate(
        (f) => Number(f.getAttribute("data-count")) - f.querySelectorAll("table tbody tr").length,
      ),
    )
    .toBe(0);

  await expect.poll(() => linePixels(page)).toBeGreaterThan(200);
  await artifact(page, "live-chart");
  expect(problems).toEqual([]);
});

test("the window slides at 20 points", async ({ page }) => {
  const problems = watchProblems(page);
  await page.goto(DEMO);
  // 250 ms per point in the test server: 20 points within about five seconds.
  await expect.poll(() => rows(page).count(), { timeout: 30_000 }).toBe(20);
  // The README embeds this one: a full window.
  await page.screenshot({ path: path.join(__dirname, "..", "screenshots", "live-chart.png") });
  const firstTs = await rows(page).first().getAttribute("data-ts");
  await expect.poll(() => rows(page).first().getAttribute("data-ts")).not.toBe(firstTs);
  expect(await rows(page).count()).toBe(20);
  expect(problems).toEqual([]);
});

/** Serves a fixed event stream instead of the page's live connection (the browser then waits
 * 10 minutes before reconnecting): an empty snapshot of the demo stream replaces what the
 * page rendered, then `events`, for tests that need deterministic points. Events are in the
 * multiplexed form: each names its stream and id. */
async function fixedStream(page: Page, events: string[]): Promise<void> {
  const snapshot = `event: snapshot\ndata: {"stream": "demo", "id": "1-0", "data": {"last_id": "1-0", "points": []}}`;
  const body = "retry: 600000\n\n" + [snapshot, ...events].map((e) => e + "\n\n").join("");
  await page.route("**/api/events*", (route) =>
    route.fulfill({ status: 200, headers: { "content-type": "text/event-stream" }, body }),
  );
}

/** A `points` event of the demo stream with one point of the default series. */
const pointEvent = (id: number, ts: number | string, value: number) =>
  `event: points\ndata: {"stream": "demo", "id": "1-${id}", "data": [{"series": "value", "ts": ${JSON.stringify(ts)}, "value": ${value}}]}`;

test("hovering shows the nearest point's time and value, next to it", async ({ page }) => {
  const problems = watchProblems(page);
  // Ten points one second apart on a whole minute: value (s + 1) * 10 at second s.
  const t0 = Math.floor(Date.now() / 60_000) * 60_000;
  await fixedStream(page, Array.from({ length: 10 }, (_, i) => pointEvent(i + 1, t0 + i * 1000, (i + 1) * 10)));
  await page.goto(DEMO);
  await expect(chart(page)).toHaveAttribute("data-count", "10");
  const canvas = page.locator("figure.chart canvas");
  const box = (await canvas.boundingBox())!;
  const tooltip = chart(page).locator(".tooltip");
  for (const fx of [0.3, 0.5, 0.8]) {
    const x = box.x + box.width * fx;
    await page.mouse.move(x, box.y + box.height / 2);
    await expect(tooltip).toBeVisible();
    const text = (await tooltip.textContent())!;
    const m = text.match(/^\d\d:\d\d:(\d\d) · (\d+)$/);
    expect(m, text).not.toBeNull();
    // The time and the value belong to the same point.
    expect(Number(m![2])).toBe((Number(m![1]) + 1) * 10);
    // The tooltip stands over that point: within half the spacing of the mouse.
    const tb = (await tooltip.boundingBox())!;
    expect(Math.abs(tb.x + tb.width / 2 - x)).toBeLessThanOrEqual(box.width / 9 / 2 + 2);
  }
  await artifact(page, "hover");
  await page.mouse.move(box.x + box.width / 2, box.y + box.height + 40);
  await expect(tooltip).toBeHidden();
  expect(problems).toEqual([]);
});

test.describe("on a high-DPI screen", () => {
  test.use({ deviceScaleFactor: 2, viewport: { width: 900, height: 700 } });

  test("the canvas is drawn at device resolution and follows its container", async ({ page }) => {
    const problems = watchProblems(page);
    await page.goto(DEMO);
    await expect(chart(page)).toHaveAttribute("data-state", "live");
    const canvas = page.locator("figure.chart canvas");
    const size = () => canvas.evaluate((c: HTMLCanvasElement) => ({ w: c.width, h: c.height, cw: c.clientWidth, ch: c.clientHeight }));
    await expect.poll(async () => { const s = await size(); return s.w === s.cw * 2 && s.h === s.ch * 2; }).toBe(true);
    const before = await size();

    await page.setViewportSize({ width: 520, height: 700 });
    await expect.poll(async () => (await size()).w).not.toBe(before.w);
    const after = await size();
    expect(after.w).toBe(after.cw * 2);
    expect(after.cw).toBeLessThan(before.cw);
    expect(problems).toEqual([]);
  });
});

test("malformed event data is logged and skipped, never fatal", async ({ page }) => {
  const problems = watchProblems(page);
  const warnings: string[] = [];
  page.on("console", (m) => { if (m.type() === "warning") warnings.push(m.text()); });
  const now = Date.now();
  await fixedStream(page, [
    pointEvent(1, now, 11.5),
    pointEvent(2, "yesterday", 1),
    `event: points\ndata: not json at all`,
    pointEvent(4, now + 1000, 42),
  ]);
  await page.goto(DEMO);
  await expect.poll(() => rows(page).count()).toBe(2);
  expect(await rows(page).evaluateAll((trs) => trs.map((tr) => tr.getAttribute("data-value")))).toEqual(["11.5", "42"]);
  await expect(chart(page)).toHaveAttribute("data-last-id", "1-4");
  await expect.poll(() => warnings.filter((w) => w.includes("malformed")).length).toBe(2);
  expect(problems).toEqual([]);
});

test("leaving the page closes its EventSource", async ({ page, request }) => {
  const problems = watchProblems(page);
  const viewers = async () => {
    const health = await (await request.get("/healthz")).json();
    return health.streams.find((s: { name: string }) => s.name === "demo").viewers;
  };
  await page.goto(DEMO);
  await expect(chart(page)).toHaveAttribute("data-state", "live");
  await expect.poll(viewers).toBe(1);
  // Following a link leaves the page, and its connection with it.
  const nav = page.getByRole("navigation", { name: "Main" });
  await nav.getByRole("link", { name: "About & API" }).click();
  await expect(page.getByRole("heading", { name: "About Livechart" })).toBeVisible();
  await expect.poll(viewers).toBe(0);
  // And coming back subscribes again.
  await nav.getByRole("link", { name: "Dashboard" }).click();
  await expect(page.locator("figure.chart[data-stream='demo']")).toHaveAttribute("data-state", "live");
  await expect.poll(viewers).toBe(1);
  expect(problems).toEqual([]);
});

test("a burst of events is drawn once per animation frame, not once per event", async ({ page }) => {
  const problems = watchProblems(page);
  const start = Date.now();
  await fixedStream(page, Array.from({ length: 300 }, (_, k) => pointEvent(k + 1, start + (k + 1) * 10, (k + 1) % 100)));
  // Count the page's animation frames from the very start.
  await page.addInitScript(() => {
    const w = window as unknown as { frames_seen: number };
    w.frames_seen = 0;
    const tick = () => { w.frames_seen++; requestAnimationFrame(tick); };
    requestAnimationFrame(tick);
  });
  await page.goto(DEMO);
  await expect(chart(page)).toHaveAttribute("data-last-id", "1-300");
  await expect(chart(page)).toHaveAttribute("data-count", "20");
  const draws = Number(await chart(page).getAttribute("data-draws"));
  const frames = await page.evaluate(() => (window as unknown as { frames_seen: number }).frames_seen);
  expect(draws).toBeGreaterThanOrEqual(1);
  // Never more than one draw per animation frame, and far fewer draws than events.
  expect(draws).toBeLessThanOrEqual(frames);
  expect(draws).toBeLessThan(300);
  // The open table follows at most once a second.
  await expect.poll(async () => Number(await rows(page).last().getAttribute("data-ts"))).toBe(start + 3000);
  expect(problems).toEqual([]);
});
