import { test, expect, Page, APIRequestContext } from "@playwright/test";
import { columns, longestHole } from "./pixels";
import fs from "node:fs";
import path from "node:path";
import { artifact, dataMenu, MAIN_PORT, openTables, publish, Server, watchProblems } from "./server";

// These tests read the points shown from each chart's table, which opens on request (not the
// one of six charts of 8,000 points each: what it checks is their count, and 48,000 rows are
// no part of it).
test.beforeEach(({ page }, info) => info.title.includes("first-paint budget") ? undefined : openTables(page));

const MAIN = `http://127.0.0.1:${MAIN_PORT}`;
const card = (page: Page, stream: string) => page.locator(`figure.chart[data-stream='${stream}']`);
const rowsOf = (page: Page, stream: string) => card(page, stream).locator("table tbody tr");
const values = (page: Page, stream: string) =>
  rowsOf(page, stream).evaluateAll((trs) => trs.map((tr) => Number(tr.getAttribute("data-value"))));
const range = (from: number, to: number) => Array.from({ length: to - from + 1 }, (_, i) => from + i);


async function health(request: APIRequestContext, base = MAIN) {
  return (await request.get(`${base}/healthz`)).json();
}

/** Canvas pixels of one chart close to `rgb`. */
function pixels(page: Page, stream: string, [r, g, b]: number[]): Promise<number> {
  return card(page, stream).locator("canvas").evaluate((c: HTMLCanvasElement, [r, g, b]) => {
    const d = c.getContext("2d")!.getImageData(0, 0, c.width, c.height).data;
    let n = 0;
    for (let i = 0; i < d.length; i += 4) {
      if (Math.abs(d[i] - r) < 30 && Math.abs(d[i + 1] - g) < 30 && Math.abs(d[i + 2] - b) < 30) n++;
    }
    return n;
  }, [r, g, b]);
}

test("eight charts on one page share one connection", async ({ page, request }) => {
  const problems = watchProblems(page);
  const names = range(1, 8).map((i) => `eight-${i}`);
  const t0 = Date.now();
  for (const [i, name] of names.entries()) {
    await publish(request, MAIN, name, range(1, 5).map((v) => ({ ts: t0 + v * 1000, value: v * (i + 1) })));
  }
  await page.goto(`/?streams=${names.join(",")}`);
  await expect(page.locator("figure.chart")).toHaveCount(8);
  for (const name of names) {
    await expect(card(page, name)).toHaveAttribute("data-hydrated", "true");
    await expect(card(page, name)).toHaveAttribute("data-state", "live");
  }
  // One event-stream connection on the server, and each of the eight streams has one viewer.
  await expect.poll(async () => (await health(request)).connections).toBe(1);
  const h = await health(request);
  for (const name of names) expect(h.streams.find((s: { name: string }) => s.name === name).viewers).toBe(1);
  // Live data reaches every chart over it.
  for (const [i, name] of names.entries()) {
    await publish(request, MAIN, name, [{ ts: t0 + 6000, value: 6 * (i + 1) }]);
  }
  for (const [i, name] of names.entries()) {
    await expect.poll(() => values(page, name)).toEqual(range(1, 6).map((v) => v * (i + 1)));
  }
  await artifact(page, "eight-charts");
  expect(problems).toEqual([]);
});

test("the legend hides and shows a series", async ({ page, request }) => {
  const problems = watchProblems(page);
  const t0 = Date.now();
  await publish(request, MAIN, "legend", range(1, 10).flatMap((v) => [
    { series: "hum", ts: t0 + v * 1000, value: 40 + v },
    { series: "temp", ts: t0 + v * 1000, value: 20 + (v % 3) },
  ]));
  await page.goto("/?streams=legend");
  const chart = card(page, "legend");
  await expect(chart).toHaveAttribute("data-state", "live");
  await expect(chart).toHaveAttribute("data-series", "2");
  // hum is the first series by name: the first colour (37, 99, 235).
  const blue = [37, 99, 235];
  await expect.poll(() => pixels(page, "legend", blue)).toBeGreaterThan(100);
  const hum = chart.locator(".legend button[data-series='hum']");
  await expect(hum).toHaveAttribute("aria-pressed", "true");
  await hum.click();
  await expect(hum).toHaveAttribute("aria-pressed", "false");
  await expect(chart).toHaveAttribute("data-series", "1");
  await expect(rowsOf(page, "legend")).toHaveCount(10);
  await expect.poll(() => pixels(page, "legend", blue)).toBeLessThan(20);
  await artifact(page, "legend-hidden");
  // The keyboard works too.
  await hum.focus();
  await page.keyboard.press("Enter");
  await expect(hum).toHaveAttribute("aria-pressed", "true");
  await expect(rowsOf(page, "legend")).toHaveCount(20);
  await expect.poll(() => pixels(page, "legend", blue)).toBeGreaterThan(100);
  expect(problems).toEqual([]);
});

test("choosing a window redraws with that many points", async ({ page, request }) => {
  const problems = watchProblems(page);
  const t0 = Date.now() - 200_000;
  await publish(request, MAIN, "windows", range(1, 150).map((v) => ({ ts: t0 + v * 1000, value: v })));
  await page.goto("/?streams=windows");
  const chart = card(page, "windows");
  await expect(chart).toHaveAttribute("data-state", "live");
  await expect(rowsOf(page, "windows")).toHaveCount(20);
  const select = chart.getByRole("combobox", { name: "Window" });
  for (const n of [50, 100, 500, 20]) {
    const draws = Number(await chart.getAttribute("data-draws"));
    await select.selectOption(String(n));
    const shown = Math.min(n, 150);
    await expect(rowsOf(page, "windows")).toHaveCount(shown);
    await expect(chart).toHaveAttribute("data-count", String(shown));
    expect(await values(page, "windows")).toEqual(range(151 - shown, 150));
    await expect.poll(async () => Number(await chart.getAttribute("data-draws"))).toBeGreaterThan(draws);
  }
  expect(problems).toEqual([]);
});

test("pausing keeps receiving, counts new points, and back to live shows them all", async ({ page, request }) => {
  const problems = watchProblems(page);
  const t0 = Date.now();
  const send = (from: number, to: number) =>
    publish(request, MAIN, "pausing", range(from, to).map((v) => ({ ts: t0 + v * 100, value: v })));
  await send(1, 10);
  await page.goto("/?streams=pausing");
  const chart = card(page, "pausing");
  await expect(chart).toHaveAttribute("data-state", "live");
  await chart.getByRole("combobox", { name: "Window" }).selectOption("100");
  await expect(rowsOf(page, "pausing")).toHaveCount(10);

  await chart.getByRole("button", { name: "Pause" }).click();
  await expect(chart).toHaveAttribute("data-paused", "true");
  for (let v = 11; v <= 60; v += 10) await send(v, v + 9);
  await expect(chart.locator(".unseen")).toHaveText("Paused · 50 new points");
  // The drawing is frozen: still the ten points it had.
  expect(await values(page, "pausing")).toEqual(range(1, 10));
  // Hovering still works while paused.
  const box = (await chart.locator("canvas").boundingBox())!;
  await page.mouse.move(box.x + box.width * 0.5, box.y + box.height * 0.5);
  await expect(chart.locator(".tooltip")).toBeVisible();
  await artifact(page, "paused");

  await chart.getByRole("button", { name: "Back to live" }).click();
  await expect(chart).toHaveAttribute("data-paused", "false");
  await expect.poll(() => values(page, "pausing")).toEqual(range(1, 60));
  await expect(chart.locator(".unseen")).toHaveText("");
  expect(problems).toEqual([]);
});

test("twelve charts: all live, each drawn at most once per frame, accessible", async ({ page, request }) => {
  const problems = watchProblems(page);
  const names = range(1, 12).map((i) => `twelve-${String(i).padStart(2, "0")}`);
  const t0 = Date.now();
  for (const name of names) await publish(request, MAIN, name, [{ ts: t0, value: 1 }]);
  await page.addInitScript(() => {
    const w = window as unknown as { frames_seen: number };
    w.frames_seen = 0;
    const tick = () => { w.frames_seen++; requestAnimationFrame(tick); };
    requestAnimationFrame(tick);
  });
  await page.goto(`/?streams=${names.join(",")}`);
  for (const name of names) await expect(card(page, name)).toHaveAttribute("data-state", "live");
  // A burst to every chart at once (each stream's points in order).
  await Promise.all(names.map(async (name) => {
    for (const v of range(2, 21)) await publish(request, MAIN, name, [{ ts: t0 + v * 100, value: v }]);
  }));
  for (const name of names) await expect(card(page, name)).toHaveAttribute("data-count", "20");
  const frames = await page.evaluate(() => (window as unknown as { frames_seen: number }).frames_seen);
  for (const name of names) {
    const draws = Number(await card(page, name).getAttribute("data-draws"));
    expect(draws).toBeGreaterThanOrEqual(1);
    expect(draws).toBeLessThanOrEqual(frames);
  }
  await expect.poll(async () => (await health(request)).connections).toBe(1);
  // Accessible names, and the controls in the tab order.
  const first = card(page, names[0]);
  await expect(first.getByRole("img")).toHaveAttribute("aria-label", /twelve-01: line chart of the last 20 points/);
  // The latest values are read aloud only on request: V on a chart.
  await expect(first.locator(".live-summary")).toHaveText("");
  await first.locator("canvas").focus();
  await page.keyboard.press("v");
  await expect(first.locator(".live-summary")).toHaveText("Latest: value 21");
  await first.getByRole("combobox", { name: "Window" }).focus();
  await page.keyboard.press("Tab");
  await expect(first.getByRole("button", { name: "Pause" })).toBeFocused();
  await page.keyboard.press("Space");
  await expect(first).toHaveAttribute("data-paused", "true");
  expect(problems).toEqual([]);
});

test.describe("on a server of its own", () => {
  const server = new Server(3105, { LIVECHART_CLASSIC_ENABLED: "false", LIVECHART_SYSTEM_ENABLED: "false" });
  test.beforeAll(async () => server.start());
  test.afterAll(async () => server.stop());

  test("new streams appear on the dashboard as they are created", async ({ page, request }) => {
    const problems = watchProblems(page);
    await page.goto(server.url);
    await expect(card(page, "demo")).toHaveAttribute("data-state", "live");
    await expect(page.locator("figure.chart")).toHaveCount(1);
    await publish(request, server.url, "fresh", [{ series: "a", value: 7 }, { series: "b", value: 8 }]);
    await expect(page.locator(".stream-list li[data-stream='fresh']")).toBeVisible();
    await expect(card(page, "fresh")).toHaveAttribute("data-state", "live");
    await expect.poll(() => values(page, "fresh")).toEqual([7, 8]);
    // Read aloud while asked to in the Data menu (at most every few seconds).
    await (await dataMenu(card(page, "fresh"))).getByRole("button", { name: "Read the latest values aloud" }).click();
    await expect(card(page, "fresh").locator(".live-summary")).toHaveText("Latest: a 7, b 8");
    // Still one connection for both charts.
    await expect.poll(async () => (await health(request, server.url)).connections).toBe(1);
    // Hiding a chart through the list changes the address (shareable) and the connection.
    await page.locator(".stream-list li[data-stream='demo'] .toggle").click();
    await expect(page).toHaveURL(/\?streams=fresh$/);
    await expect(page.locator("figure.chart")).toHaveCount(1);
    await expect.poll(async () => {
      const h = await health(request, server.url);
      return h.streams.find((s: { name: string }) => s.name === "demo").viewers;
    }).toBe(0);
    expect(problems).toEqual([]);
  });
});

test.describe("on a fresh server", () => {
  const server = new Server(3107);
  test.beforeAll(async () => server.start());
  test.afterAll(async () => server.stop());

  test("the dashboard, as the README shows it", async ({ page, request }) => {
  const problems = watchProblems(page);
  const t0 = Date.now() - 20_000;
  await request.put(`${server.url}/api/streams/robot`, { data: { title: "Robot arm", unit: "°C" } });
  await publish(request, server.url, "robot", range(1, 20).flatMap((v) => [
    { series: "motor", ts: t0 + v * 1000, value: 40 + 6 * Math.sin(v / 3) },
    { series: "board", ts: t0 + v * 1000, value: 31 + 2 * Math.cos(v / 4) },
  ]));
  await page.setViewportSize({ width: 1360, height: 900 });
  await page.goto(server.url);
  for (const s of ["classic", "demo", "robot", "system"]) await expect(card(page, s)).toHaveAttribute("data-state", "live");
  await page.getByRole("button", { name: "Start task" }).click();
  await expect(page.locator(".task")).toHaveCount(1);
  await expect.poll(async () => Number(await card(page, "classic").getAttribute("data-count"))).toBeGreaterThanOrEqual(8);
  await expect.poll(async () => Number(await page.locator(".task").getAttribute("data-percent"))).toBeGreaterThan(20);
  await page.evaluate(() => window.scrollTo(0, 0));
  await page.screenshot({ path: path.join(__dirname, "..", "screenshots", "dashboard.png") });
  // The same in the dark theme: every chart redraws in it.
  const draws = await card(page, "robot").getAttribute("data-draws");
  await page.getByRole("button", { name: "Dark theme" }).click();
  await expect(page.locator("html")).toHaveAttribute("data-theme", "dark");
  await expect.poll(async () => card(page, "robot").getAttribute("data-draws")).not.toBe(draws);
  await page.screenshot({ path: path.join(__dirname, "..", "screenshots", "dashboard-dark.png") });
  expect(problems).toEqual([]);
  });
});

test("a background tab keeps receiving and shows current data when it is back", async ({ page, request }) => {
  const problems = watchProblems(page);
  // Headless Chromium never hides a tab, so do to this page what a browser does to a hidden
  // one: hold its animation frames until it is shown again.
  await page.addInitScript(() => {
    const w = window as unknown as { held: FrameRequestCallback[] | null; showAgain: () => void };
    const raf = window.requestAnimationFrame.bind(window);
    w.held = null;
    window.requestAnimationFrame = (cb) => {
      if (w.held) { w.held.push(cb); return 0; }
      return raf(cb);
    };
    w.showAgain = () => { const held = w.held ?? []; w.held = null; held.forEach((cb) => raf(cb)); };
  });
  const t0 = Date.now();
  await publish(request, MAIN, "background", [{ ts: t0, value: 1 }]);
  await page.goto("/?streams=background");
  const chart = card(page, "background");
  await expect(chart).toHaveAttribute("data-state", "live");
  await expect.poll(async () => Number(await chart.getAttribute("data-draws"))).toBeGreaterThan(0);
  await page.evaluate(() => { (window as unknown as { held: unknown[] }).held = []; });
  const drawsHidden = Number(await chart.getAttribute("data-draws"));
  await publish(request, MAIN, "background", range(2, 30).map((v) => ({ ts: t0 + v * 100, value: v })));
  // The data arrives while hidden, without drawing...
  await expect.poll(() => values(page, "background")).toEqual(range(11, 30));
  expect(Number(await chart.getAttribute("data-draws"))).toBe(drawsHidden);
  // ... and is drawn, once, when the tab is shown again.
  await page.evaluate(() => (window as unknown as { showAgain: () => void }).showAgain());
  await expect.poll(async () => Number(await chart.getAttribute("data-draws"))).toBe(drawsHidden + 1);

  // A tab the browser froze (as Chrome does to long-hidden tabs) catches up when thawed.
  const cdp = await page.context().newCDPSession(page);
  await cdp.send("Page.setWebLifecycleState", { state: "frozen" });
  await publish(request, MAIN, "background", range(31, 40).map((v) => ({ ts: t0 + v * 100, value: v })));
  await new Promise((r) => setTimeout(r, 500));
  await cdp.send("Page.setWebLifecycleState", { state: "active" });
  await expect.poll(() => values(page, "background")).toEqual(range(21, 40));
  await expect(chart).toHaveAttribute("data-gaps", "0");
  await artifact(page, "background-tab-back");
  expect(problems).toEqual([]);
});

test("charts past the page's first-paint budget draw from their stream", async ({ page, request }) => {
  const problems = watchProblems(page);
  // Six full streams of 16 series × 500 points: 48,000 points, over the 16,000 a page carries.
  const names = range(0, 5).map((i) => `budget-${i}`);
  const t0 = Date.now() - 600_000;
  for (const [i, name] of names.entries()) {
    await publish(request, MAIN, name, range(0, 7999).map((k) => ({
      series: `s${k % 16}`,
      ts: t0 + Math.floor(k / 16) * 1000,
      value: (k % 16) * 10 + i + Math.sin(k / 160),
    })));
  }
  const address = `/?streams=${names.join(",")}&window=500`;
  const html = await (await request.get(`${MAIN}${address}`)).text();
  expect(html.length).toBeLessThan(6_000_000);
  await page.goto(address);
  await expect(page.locator("figure.chart")).toHaveCount(6);
  for (const name of names) {
    await expect(card(page, name)).toHaveAttribute("data-hydrated", "true");
    await expect(card(page, name)).toHaveAttribute("data-state", "live");
    // Every chart has its whole window: the first two from the page, the others from the
    // snapshot their stream sent.
    await expect(card(page, name)).toHaveAttribute("data-count", "8000");
  }
  await artifact(page, "first-paint-budget");
  expect(problems).toEqual([]);
});

test("a dropout leaves a hole in the line, and a stream of states draws steps", async ({ page, request }) => {
  const problems = watchProblems(page);
  const blue = [37, 99, 235];
  const t0 = Date.now() - 60_000;
  // One point a second, then 30 s of nothing, then one a second again.
  const dropout = [...range(0, 9), ...range(40, 49)].map((t) => ({ ts: t0 + t * 1000, value: t % 3 }));
  await publish(request, MAIN, "dropout", dropout);
  // A state sent when it changes, declared as steps.
  const described = await request.put(`${MAIN}/api/streams/states`, {
    data: { title: "States", interpolation: "step" },
  });
  expect(described.status()).toBe(200);
  await publish(request, MAIN, "states", [0, 2, 1, 3, 1].map((v, i) => ({ ts: t0 + i * 10_000, value: v })));
  await page.goto("/?streams=dropout,states&window=50");
  for (const name of ["dropout", "states"]) {
    await expect(card(page, name)).toHaveAttribute("data-hydrated", "true");
  }
  // The hole spans about 30 of the 49 seconds drawn: well over a quarter of the line's width.
  await expect.poll(async () => {
    const cols = await columns(card(page, "dropout"), blue);
    return longestHole(cols) / (cols.lastIndexOf(true) - cols.indexOf(true));
  }).toBeGreaterThan(0.25);
  // A step line is level or upright: every column between two changes holds the line on one
  // row, so the columns with the line are the whole span (no hole) and its pixels form
  // horizontal runs; a ramp would put the line on a different row in every column.
  const levels = await card(page, "states").locator("canvas").evaluate((c: HTMLCanvasElement, [r, g, b]) => {
    const d = c.getContext("2d")!.getImageData(0, 0, c.width, c.height).data;
    const rows = new Map<number, number>();
    for (let i = 0; i < d.length; i += 4) {
      if (Math.abs(d[i] - r) < 30 && Math.abs(d[i + 1] - g) < 30 && Math.abs(d[i + 2] - b) < 30) {
        const y = Math.floor(i / 4 / c.width);
        rows.set(y, (rows.get(y) ?? 0) + 1);
      }
    }
    // Rows holding a long horizontal stretch of the line.
    return [...rows.values()].filter((n) => n > c.width / 10).length;
  }, blue);
  expect(levels).toBeGreaterThanOrEqual(4);
  // The axis of whole-number states is labelled in whole numbers.
  const svgLabels = await (await request.get(`${MAIN}/streams/states`)).text();
  expect(svgLabels).not.toMatch(/>\s*0\.5\s*</);
  await artifact(page, "dropout-and-steps");
  expect(problems).toEqual([]);
});

test("a stream that stopped is shown stale, its time window ends at now, an unknown one says so", async ({ page, request }) => {
  const problems = watchProblems(page);
  const end = Date.now() - 60_000;
  await publish(request, MAIN, "stopped", range(0, 9).map((k) => ({ ts: end - (9 - k) * 1000, value: k })));
  await page.goto("/?streams=stopped&window=5m");
  const stopped = card(page, "stopped");
  await expect(stopped).toHaveAttribute("data-hydrated", "true");
  await expect(stopped).toHaveAttribute("data-state", "live");
  await expect(stopped).toHaveAttribute("data-badge", "stale");
  await expect(stopped.locator(".status")).toHaveText(/^Stale · last point \d+ s ago$/);
  // The five minutes shown end now, not at the last point a minute ago.
  await expect.poll(async () => {
    const [, to] = (await stopped.getAttribute("data-range"))!.split("-").map(Number);
    return Math.abs(Date.now() - to);
  }).toBeLessThan(5_000);
  await artifact(page, "stale-and-unknown");
  // Paused is said as such.
  await stopped.getByRole("button", { name: "Pause" }).click();
  await expect(stopped.locator(".status")).toHaveText("Paused");
  // Data arriving again makes it live.
  await stopped.getByRole("button", { name: "Back to live" }).click();
  await publish(request, MAIN, "stopped", [{ ts: Date.now(), value: 10 }]);
  await expect(stopped.locator(".status")).toHaveText("Live");
  // A stream the server does not have says so.
  await page.goto("/?streams=nope-not-here");
  await expect(card(page, "nope-not-here")).toHaveAttribute("data-hydrated", "true");
  await expect(card(page, "nope-not-here").locator(".status")).toHaveText("No such stream (yet)");
  expect(problems).toEqual([]);
});

test("a stream's description chooses the window its charts open on, unless the address does", async ({ page, request }) => {
  const problems = watchProblems(page);
  const described = await request.put(`${MAIN}/api/streams/fast-arm`, { data: { title: "Fast arm", window: "1m" } });
  expect(described.status()).toBe(200);
  const refused = await request.put(`${MAIN}/api/streams/fast-arm`, { data: { window: "5 parsecs" } });
  expect(refused.status()).toBe(400);
  const t0 = Date.now() - 30_000;
  await publish(request, MAIN, "fast-arm", range(0, 599).map((k) => ({ ts: t0 + k * 50, value: k % 7 })));
  await page.goto("/?streams=fast-arm,demo");
  await expect(card(page, "fast-arm")).toHaveAttribute("data-hydrated", "true");
  await expect(card(page, "fast-arm")).toHaveAttribute("data-window", "1m");
  await expect(card(page, "demo")).toHaveAttribute("data-window", "20");
  await page.goto("/?streams=fast-arm&window=100");
  await expect(card(page, "fast-arm")).toHaveAttribute("data-window", "100");
  expect(problems).toEqual([]);
});

test("the PNG of a chart of twelve series holds its whole legend, on as many rows as it needs", async ({ page, request }) => {
  const problems = watchProblems(page);
  const t0 = Date.now() - 20_000;
  const cells = range(1, 12).map((i) => `cell-${String(i).padStart(2, "0")}`);
  await publish(request, MAIN, "battery", cells.flatMap((series, i) =>
    range(0, 9).map((k) => ({ series, ts: t0 + k * 1000, value: 3.3 + i * 0.01 + k * 0.001 }))));
  await page.goto("/?streams=battery");
  const chart = card(page, "battery");
  await expect(chart).toHaveAttribute("data-hydrated", "true");
  await expect(chart).toHaveAttribute("data-series", "12");
  const [png] = await Promise.all([page.waitForEvent("download"), (await dataMenu(chart)).getByRole("button", { name: "PNG" }).click()]);
  const bytes = fs.readFileSync((await png.path())!);
  const [width, height] = [bytes.readUInt32BE(16), bytes.readUInt32BE(20)];
  const [cw, ch] = await chart.locator("canvas").evaluate((c: HTMLCanvasElement) => [c.width, c.height]);
  expect(width).toBe(cw);
  // One row holds the title and the time range; twelve names need at least two more.
  expect(height - ch).toBeGreaterThanOrEqual(16 + 3 * 24);
  fs.copyFileSync((await png.path())!, test.info().outputPath("battery.png"));
  expect(problems).toEqual([]);
});

test("the keyboard: a skip link first, and a focused chart shows its keys", async ({ page }) => {
  const problems = watchProblems(page);
  await page.goto("/?streams=demo");
  await expect(card(page, "demo")).toHaveAttribute("data-hydrated", "true");
  await page.keyboard.press("Tab");
  const skip = page.getByRole("link", { name: "Skip to the content" });
  await expect(skip).toBeFocused();
  await expect(skip).toBeInViewport();
  await page.keyboard.press("Enter");
  await expect(page).toHaveURL(/#content$/);
  const keys = card(page, "demo").locator(".chart-keys");
  await expect(keys).toBeHidden();
  await card(page, "demo").locator("canvas").focus();
  await expect(keys).toBeVisible();
  await expect(keys).toContainText("back to live");
  await artifact(page, "chart-keys");
  expect(problems).toEqual([]);
});
