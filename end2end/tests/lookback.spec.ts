// Looking back: time windows filled from the retained history and continued live, dragging
// and zooming into the past, the crosshair across a dashboard, CSV and PNG export, and the
// address that shares what is shown.
import { test, expect, Page } from "@playwright/test";
import fs from "node:fs";
import path from "node:path";
import { artifact, dataMenu, MAIN_PORT, openTables, publish, watchProblems } from "./server";

// These tests read the points shown from each chart's table, which opens on request.
test.beforeEach(({ page }) => openTables(page));

const MAIN = `http://127.0.0.1:${MAIN_PORT}`;
const card = (page: Page, stream: string) => page.locator(`figure.chart[data-stream='${stream}']`);
const rows = (page: Page, stream: string) => card(page, stream).locator("table tbody tr");
const shown = (page: Page, stream: string) =>
  rows(page, stream).evaluateAll((trs) =>
    trs.map((tr) => [Number(tr.getAttribute("data-ts")), Number(tr.getAttribute("data-value"))]),
  );
const range = (from: number, to: number) => Array.from({ length: to - from + 1 }, (_, i) => from + i);


/** `n` points of one series ending about now, `step` ms apart, valued 1..n. */
function history(n: number, step: number, end = Date.now()) {
  return range(1, n).map((v) => ({ ts: end - (n - v) * step, value: v }));
}

async function publishAll(request: Parameters<typeof publish>[0], stream: string, points: { ts: number; value: number }[]) {
  for (let i = 0; i < points.length; i += 1000) await publish(request, MAIN, stream, points.slice(i, i + 1000));
}

async function range_of(page: Page, stream: string): Promise<[number, number]> {
  const r = (await card(page, stream).getAttribute("data-range"))!;
  const [from, to] = r.split("-").map(Number);
  return [from, to];
}

/** Ctrl + wheel: what zooms a chart (a plain wheel scrolls the page). */
async function ctrlWheel(page: Page, dx: number, dy: number): Promise<void> {
  await page.keyboard.down("Control");
  await page.mouse.wheel(dx, dy);
  await page.keyboard.up("Control");
}

test("a time window shows the older points, then live ones, with no gap or repeat at the seam", async ({ page, request }) => {
  const problems = watchProblems(page);
  const points = history(600, 400); // four minutes, far more than the 20-point window
  await publishAll(request, "lb-seam", points);
  await page.goto("/streams/lb-seam");
  const chart = card(page, "lb-seam");
  await expect(chart).toHaveAttribute("data-state", "live");
  await expect(chart).toHaveAttribute("data-count", "20");

  // Hold the range query while more is published: those points reach the page twice (in
  // the answer and live); the ones published after the answer arrive only live.
  let next = 601;
  const more = (n: number) => {
    const batch = range(next, next + n - 1).map((v) => ({ ts: Date.now() + v - 600, value: v }));
    next += n;
    points.push(...batch);
    return publish(request, MAIN, "lb-seam", batch);
  };
  await page.route("**/api/streams/lb-seam/points?**", async (route) => {
    await more(5);
    await page.waitForTimeout(300);
    await route.continue();
    await more(5);
  });
  await chart.getByRole("combobox", { name: "Window" }).selectOption("5m");
  await expect(chart).toHaveAttribute("data-window", "5m");
  await expect(chart).toHaveAttribute("data-count", "610");
  await more(10);
  await expect(chart).toHaveAttribute("data-count", "620");
  await expect.poll(() => shown(page, "lb-seam")).toEqual(points.map((p) => [p.ts, p.value]));
  await expect(chart).toHaveAttribute("data-gaps", "0");
  await expect(page).toHaveURL(/window=5m/);
  await artifact(page, "time-window-5m");
  expect(problems).toEqual([]);
});

test("dragging goes into the past, zoom narrows it, Back to live returns", async ({ page, request }) => {
  const problems = watchProblems(page);
  await publishAll(request, "lb-pan", history(3000, 200)); // ten minutes at 5 Hz
  await page.goto("/streams/lb-pan?window=1m");
  const chart = card(page, "lb-pan");
  await expect(chart).toHaveAttribute("data-state", "live");
  await expect.poll(async () => Number(await chart.getAttribute("data-count"))).toBeGreaterThan(250);
  const [liveFrom, liveTo] = await range_of(page, "lb-pan");
  const oldest = async () => Math.min(...(await shown(page, "lb-pan")).map(([ts]) => ts));
  const oldestLive = await oldest();

  // Hold the paper and pull it right: earlier times come in from the left.
  const canvas = chart.locator("canvas");
  const box = (await canvas.boundingBox())!;
  const y = box.y + box.height / 2;
  await page.mouse.move(box.x + box.width * 0.3, y);
  await page.mouse.down();
  await page.mouse.move(box.x + box.width * 0.8, y, { steps: 8 });
  await page.mouse.up();
  await expect(chart).toHaveAttribute("data-paused", "true");
  await expect(chart.getByRole("button", { name: "Back to live" })).toBeVisible();
  await expect(chart).toHaveAttribute("data-loading", "false");
  const [pastFrom, pastTo] = await range_of(page, "lb-pan");
  expect(pastTo).toBeLessThan(liveTo);
  expect(pastTo - pastFrom).toBe(liveTo - liveFrom);
  await expect.poll(oldest).toBeLessThan(oldestLive - 10_000);
  await expect(page).toHaveURL(new RegExp(`from=${pastFrom}&to=${pastTo}`));
  await artifact(page, "dragged-into-the-past");

  // Ctrl + wheel zooms in around the pointer.
  await page.mouse.move(box.x + box.width / 2, y);
  await ctrlWheel(page, 0, -200);
  await ctrlWheel(page, 0, -200);
  await expect.poll(async () => { const [f, t] = await range_of(page, "lb-pan"); return t - f; })
    .toBeLessThan((pastTo - pastFrom) * 0.7);
  await expect(chart).toHaveAttribute("data-loading", "false");
  const [zf, zt] = await range_of(page, "lb-pan");
  // (The table of points follows the drawing at most once a second.)
  await expect.poll(async () => {
    const zoomed = await shown(page, "lb-pan");
    return zoomed.length > 10 && zoomed.every(([ts]) => ts >= zf && ts <= zt);
  }).toBe(true);
  await artifact(page, "zoomed-in");

  // The keyboard: an arrow pans, Home returns to live.
  await canvas.focus();
  await page.keyboard.press("ArrowLeft");
  await expect.poll(async () => (await range_of(page, "lb-pan"))[1]).toBeLessThan(zt);
  await page.keyboard.press("Home");
  await expect(chart).toHaveAttribute("data-paused", "false");
  await expect(chart).not.toHaveAttribute("data-past", /.+/);

  // And the button.
  await page.mouse.move(box.x + box.width / 2, y);
  await ctrlWheel(page, 0, 200);
  await expect(chart).toHaveAttribute("data-paused", "true");
  await chart.getByRole("button", { name: "Back to live" }).click();
  await expect(chart).toHaveAttribute("data-paused", "false");
  // Live again: the window ends at now, which has moved on since.
  const [, backTo] = await range_of(page, "lb-pan");
  expect(backTo).toBeGreaterThanOrEqual(liveTo);
  expect(Math.abs(backTo - Date.now())).toBeLessThan(5_000);
  expect(problems).toEqual([]);
});

test("a finger drags into the past too (pointer events)", async ({ page, request }) => {
  const problems = watchProblems(page);
  await publishAll(request, "lb-touch", history(600, 500));
  await page.goto("/streams/lb-touch?window=1m");
  const chart = card(page, "lb-touch");
  await expect(chart).toHaveAttribute("data-state", "live");
  const [, liveTo] = await range_of(page, "lb-touch");
  const canvas = chart.locator("canvas");
  const box = (await canvas.boundingBox())!;
  const at = (f: number) => ({ pointerType: "touch", pointerId: 7, isPrimary: true, button: 0, buttons: 1,
    clientX: box.x + box.width * f, clientY: box.y + box.height / 2 });
  await canvas.dispatchEvent("pointerdown", at(0.2));
  for (const f of [0.3, 0.4, 0.5, 0.6]) await canvas.dispatchEvent("pointermove", at(f));
  await canvas.dispatchEvent("pointerup", { ...at(0.6), buttons: 0 });
  await expect(chart).toHaveAttribute("data-paused", "true");
  expect((await range_of(page, "lb-touch"))[1]).toBeLessThan(liveTo);
  expect(problems).toEqual([]);
});

test("the crosshair stands at the same instant on every chart of the dashboard", async ({ page, request }) => {
  const problems = watchProblems(page);
  const end = Date.now();
  await publishAll(request, "lb-x1", history(300, 1000, end));
  await publishAll(request, "lb-x2", history(300, 1000, end).map((p) => ({ ...p, value: p.value * 2 })));
  await page.goto("/?streams=lb-x1,lb-x2&window=5m");
  for (const s of ["lb-x1", "lb-x2"]) await expect(card(page, s)).toHaveAttribute("data-count", "300");
  const box = (await card(page, "lb-x1").locator("canvas").boundingBox())!;
  await page.mouse.move(box.x + box.width * 0.5, box.y + box.height * 0.5);
  for (const s of ["lb-x1", "lb-x2"]) await expect(card(page, s).locator(".crosshair")).toBeVisible();
  const x1 = (await card(page, "lb-x1").locator(".crosshair").boundingBox())!;
  const x2 = (await card(page, "lb-x2").locator(".crosshair").boundingBox())!;
  // Both charts span the same five minutes at the same width: the lines are level.
  expect(Math.abs(x1.x - box.x - (x2.x - (await card(page, "lb-x2").locator("canvas").boundingBox())!.x))).toBeLessThan(3);
  // The other chart says its value at that instant: twice the first one's.
  const other = await card(page, "lb-x2").locator(".tooltip").textContent();
  const mine = await card(page, "lb-x1").locator(".tooltip").textContent();
  const v1 = Number(mine!.split(" · ").pop());
  const v2 = Number(other!.split("value ").pop());
  expect(v2).toBeGreaterThanOrEqual(2 * (v1 - 1));
  expect(v2).toBeLessThanOrEqual(2 * (v1 + 1));
  await artifact(page, "crosshair");
  await page.mouse.move(0, 0);
  for (const s of ["lb-x1", "lb-x2"]) await expect(card(page, s).locator(".crosshair")).toBeHidden();

  // Kept in step: dragging one chart moves the other into the same past.
  await page.getByLabel("Keep the charts' time in step").check();
  await page.mouse.move(box.x + box.width * 0.3, box.y + box.height / 2);
  await page.mouse.down();
  await page.mouse.move(box.x + box.width * 0.6, box.y + box.height / 2, { steps: 5 });
  await page.mouse.up();
  const past = await card(page, "lb-x1").getAttribute("data-past");
  expect(past).toMatch(/^\d+-\d+$/);
  await expect(card(page, "lb-x2")).toHaveAttribute("data-past", past!);
  // Zoomed in together, with the crosshair: the README's picture.
  await page.mouse.move(box.x + box.width * 0.5, box.y + box.height / 2);
  await ctrlWheel(page, 0, -200);
  await ctrlWheel(page, 0, -200);
  const zoomed = await card(page, "lb-x1").getAttribute("data-past");
  expect(zoomed).not.toBe(past);
  await expect(card(page, "lb-x2")).toHaveAttribute("data-past", zoomed!);
  for (const s of ["lb-x1", "lb-x2"]) await expect(card(page, s)).toHaveAttribute("data-loading", "false");
  await page.mouse.move(box.x + box.width * 0.55, box.y + box.height * 0.4);
  for (const s of ["lb-x1", "lb-x2"]) await expect(card(page, s).locator(".crosshair")).toBeVisible();
  await page.screenshot({ path: path.join(__dirname, "..", "screenshots", "lookback.png") });
  await card(page, "lb-x2").getByRole("button", { name: "Back to live" }).click();
  for (const s of ["lb-x1", "lb-x2"]) await expect(card(page, s)).toHaveAttribute("data-paused", "false");
  expect(problems).toEqual([]);
});

test("CSV gives exactly the points of the range shown; PNG is the chart as drawn", async ({ page, request }) => {
  const problems = watchProblems(page);
  const a = history(400, 500);
  const b = a.map((p) => ({ series: "b", ts: p.ts, value: p.value / 4 }));
  await publishAll(request, "lb-export", [...a.map((p) => ({ series: "a", ...p })), ...b]);
  await page.goto("/streams/lb-export?window=1m");
  const chart = card(page, "lb-export");
  await expect(chart).toHaveAttribute("data-state", "live");
  await expect.poll(async () => Number(await chart.getAttribute("data-count"))).toBeGreaterThan(200);
  // Zoom into the past, so that the range is not the live one.
  const box = (await chart.locator("canvas").boundingBox())!;
  await page.mouse.move(box.x + box.width * 0.4, box.y + box.height / 2);
  await ctrlWheel(page, 0, -200);
  await expect(chart).toHaveAttribute("data-loading", "false");
  const [from, to] = await range_of(page, "lb-export");

  const [csv] = await Promise.all([page.waitForEvent("download"), (await dataMenu(chart)).getByRole("link", { name: "CSV" }).click()]);
  expect(await csv.failure()).toBeNull();
  const text = fs.readFileSync((await csv.path())!, "utf8");
  const fmt = (v: number) => (Number.isInteger(v) ? `${v}.0` : String(v));
  const expected = ["series,ts,value"]
    .concat(a.filter((p) => p.ts >= from && p.ts <= to).map((p) => `a,${p.ts},${fmt(p.value)}`))
    .concat(b.filter((p) => p.ts >= from && p.ts <= to).map((p) => `b,${p.ts},${fmt(p.value)}`));
  expect(text).toBe(expected.join("\n") + "\n");
  expect(csv.suggestedFilename()).toBe(`lb-export-${from}-${to}.csv`);

  const [png] = await Promise.all([page.waitForEvent("download"), (await dataMenu(chart)).getByRole("button", { name: "PNG" }).click()]);
  const bytes = fs.readFileSync((await png.path())!);
  expect(bytes.subarray(1, 4).toString("latin1")).toBe("PNG");
  const width = bytes.readUInt32BE(16);
  const height = bytes.readUInt32BE(20);
  const canvasSize = await chart.locator("canvas").evaluate((c: HTMLCanvasElement) => [c.width, c.height]);
  expect(width).toBe(canvasSize[0]);
  expect(height).toBe(canvasSize[1] + 40); // the title and legend above it (DPR 1)
  fs.copyFileSync((await png.path())!, test.info().outputPath("export.png"));
  expect(problems).toEqual([]);
});

test("an address with a window and a range opens on them", async ({ page, request }) => {
  const problems = watchProblems(page);
  const points = history(600, 1000);
  await publishAll(request, "lb-address", points);
  const from = points[100].ts;
  const to = points[200].ts;
  await page.goto(`/streams/lb-address?window=15m&from=${from}&to=${to}`);
  const chart = card(page, "lb-address");
  await expect(chart).toHaveAttribute("data-hydrated", "true");
  await expect(chart.getByRole("combobox", { name: "Window" })).toHaveValue("15m");
  await expect(chart).toHaveAttribute("data-past", `${from}-${to}`);
  await expect(chart).toHaveAttribute("data-count", "101");
  await expect.poll(async () => (await shown(page, "lb-address")).map(([, v]) => v)).toEqual(range(101, 201));
  expect(problems).toEqual([]);
  // A bad one is refused with the reason.
  const bad = await page.goto("/streams/lb-address?window=5x");
  expect(bad!.status()).toBe(400);
  await expect(page.locator(".error-detail")).toContainText("window");
  // One chart's own key too, named in the answer.
  const badChart = await page.goto("/?streams=lb-address&from:lb-address=5");
  expect(badChart!.status()).toBe(400);
  await expect(page.locator(".error-detail")).toContainText("from:lb-address, to:lb-address: give both");
});

test("a plain wheel over a chart scrolls the page; Ctrl + wheel zooms the chart", async ({ page, request }) => {
  const problems = watchProblems(page);
  await publishAll(request, "lb-scroll", history(400, 500));
  await page.setViewportSize({ width: 1000, height: 600 });
  await page.goto("/?streams=lb-scroll,demo&window=1m");
  const chart = card(page, "lb-scroll");
  await expect(chart).toHaveAttribute("data-state", "live");
  const box = (await chart.locator("canvas").boundingBox())!;
  await page.mouse.move(box.x + box.width / 2, box.y + box.height / 2);
  await page.mouse.wheel(0, 300);
  await expect.poll(() => page.evaluate(() => window.scrollY)).toBeGreaterThan(100);
  await expect(chart.locator(".zoom-hint")).toBeVisible();
  await artifact(page, "wheel-scrolls-the-page");
  // The chart did not move: still live, its range the live one.
  await expect(chart).toHaveAttribute("data-paused", "false");
  await expect(chart).not.toHaveAttribute("data-past", /.+/);
  await expect(chart.locator(".zoom-hint")).toBeHidden({ timeout: 5_000 });
  const scrolled = await page.evaluate(() => window.scrollY);
  const again = (await chart.locator("canvas").boundingBox())!;
  await page.mouse.move(again.x + again.width / 2, again.y + again.height / 2);
  await ctrlWheel(page, 0, -200);
  await expect(chart).toHaveAttribute("data-paused", "true");
  await expect(chart).toHaveAttribute("data-past", /^\d+-\d+$/);
  // Not scrolled by that wheel (up by 200 px it would have been).
  expect(await page.evaluate(() => window.scrollY)).toBeGreaterThan(scrolled - 50);
  expect(problems).toEqual([]);
});
