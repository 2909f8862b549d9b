import { test, expect, Page } from "@playwright/test";
import { artifact, MAIN_PORT, openTables, publish, Server } from "./server";
import { Proxy } from "./proxy";

// These tests read the points shown from each chart's table, which opens on request.
test.beforeEach(({ page }) => openTables(page));

const MAIN = `http://127.0.0.1:${MAIN_PORT}`;
const chart = (page: Page) => page.locator("figure.chart");
const rows = (page: Page) => page.locator("figure.chart table tbody tr");
const tableValues = (page: Page) =>
  rows(page).evaluateAll((trs) => trs.map((tr) => Number(tr.getAttribute("data-value"))));
const range = (from: number, to: number) => Array.from({ length: to - from + 1 }, (_, i) => from + i);

test("the window is on the page at first paint, without JavaScript", async ({ browser, request }) => {
  const t0 = Date.now() - 60_000;
  await publish(request, MAIN, "firstpaint", range(1, 12).map((v) => ({ ts: t0 + v * 1000, value: v * 5 })));
  const context = await browser.newContext({ javaScriptEnabled: false });
  const page = await context.newPage();
  await page.goto("/streams/firstpaint");
  // Nothing ran in the browser: what is there came from the server.
  await expect(chart(page)).toHaveAttribute("data-hydrated", "false");
  await expect(chart(page)).toHaveAttribute("data-count", "12");
  const svg = page.locator("figure.chart .first-paint svg");
  await expect(svg).toBeVisible();
  const box = (await svg.boundingBox())!;
  expect(box.width).toBeGreaterThan(300);
  // One line through the twelve points, drawn by the server.
  expect(await svg.locator("polyline").count()).toBeGreaterThanOrEqual(1);
  expect(await svg.locator("circle").count()).toBe(12);
  await artifact(page, "first-paint-no-js");
  await context.close();
});

test("the page resumes from exactly after the window it rendered", async ({ page, request }) => {
  const problems: string[] = [];
  page.on("pageerror", (e) => problems.push(e.message));
  const t0 = Date.now();
  await publish(request, MAIN, "handoff", range(1, 5).map((v) => ({ ts: t0 + v, value: v })));
  await page.goto("/streams/handoff");
  await expect(chart(page)).toHaveAttribute("data-state", "live");
  await publish(request, MAIN, "handoff", range(6, 8).map((v) => ({ ts: t0 + v, value: v })));
  await expect.poll(() => tableValues(page)).toEqual(range(1, 8));
  await expect(chart(page)).toHaveAttribute("data-gaps", "0");
  expect(problems).toEqual([]);
});

test.describe("through a connection that breaks", () => {
  const proxy = new Proxy(3102, MAIN_PORT);
  test.beforeAll(async () => proxy.start());
  test.afterAll(async () => proxy.stop());

  test("after the connection is cut mid-stream the chart has every value", async ({ page, request }) => {
    const problems: string[] = [];
    page.on("pageerror", (e) => problems.push(e.message));
    const t0 = Date.now();
    const send = (from: number, to: number) =>
      publish(request, MAIN, "blip", range(from, to).map((v) => ({ ts: t0 + v * 10, value: v })));
    await send(1, 10);
    await page.goto(`${proxy.url}/streams/blip?window=200`);
    await expect(chart(page)).toHaveAttribute("data-state", "live");
    await send(11, 20);
    await expect.poll(() => tableValues(page)).toEqual(range(1, 20));

    // The network drops; publishing goes on meanwhile.
    proxy.cut();
    await expect(chart(page)).toHaveAttribute("data-state", "reconnecting");
    for (let v = 21; v <= 60; v += 10) await send(v, v + 9);
    await artifact(page, "blip-down");
    proxy.heal();

    await expect(chart(page)).toHaveAttribute("data-state", "live");
    await send(61, 70);
    // Every value once, in order: nothing missed, nothing repeated, no gap marker.
    await expect.poll(() => tableValues(page)).toEqual(range(1, 70));
    await expect(chart(page)).toHaveAttribute("data-gaps", "0");
    await expect(chart(page)).toHaveAttribute("data-resets", "0");
    await artifact(page, "blip-recovered");
    expect(problems).toEqual([]);
  });
});

test.describe("with a short history", () => {
  const server = new Server(3103, {
    LIVECHART_DEMO_ENABLED: "false",
    LIVECHART_HISTORY_RING_EVENTS: "16",
    LIVECHART_HISTORY_WINDOW: "16",
  });
  const proxy = new Proxy(3104, 3103);
  test.beforeAll(async () => {
    await server.start();
    await proxy.start();
  });
  test.afterAll(async () => {
    await proxy.stop();
    await server.stop();
  });

  test("a resume older than the history draws a gap marker", async ({ page, request }) => {
    const problems: string[] = [];
    page.on("pageerror", (e) => problems.push(e.message));
    const t0 = Date.now() - 120_000;
    const send = (from: number, to: number) =>
      publish(request, server.url, "stale", range(from, to).map((v) => ({ ts: t0 + v * 1000, value: (v % 7) * 10 })));
    await send(1, 8);
    await page.goto(`${proxy.url}/streams/stale?window=40`);
    await expect(chart(page)).toHaveAttribute("data-state", "live");
    await expect(rows(page)).toHaveCount(8);

    proxy.cut();
    await expect(chart(page)).toHaveAttribute("data-state", "reconnecting");
    // Forty events while away: more than the sixteen the server keeps.
    for (let v = 9; v <= 48; v++) await send(v, v);
    proxy.heal();

    await expect(chart(page)).toHaveAttribute("data-state", "live");
    await expect(chart(page)).toHaveAttribute("data-resets", "1");
    await expect(chart(page)).toHaveAttribute("data-gaps", "1");
    await expect(page.locator(".gap-note")).toBeVisible();
    // What it had, then the server's window after the gap: 8 + 16 points.
    await expect(rows(page)).toHaveCount(24);
    const gapRow = page.locator("figure.chart tbody tr[data-gap='true']");
    await expect(gapRow).toHaveCount(1);
    expect(Number(await gapRow.getAttribute("data-ts"))).toBe(t0 + 33 * 1000);
    // The marker is drawn: the canvas has pixels of its colour (180, 83, 9).
    const markerPixels = () =>
      page.locator("figure.chart canvas").evaluate((c: HTMLCanvasElement) => {
        const d = c.getContext("2d")!.getImageData(0, 0, c.width, c.height).data;
        let n = 0;
        for (let i = 0; i < d.length; i += 4) {
          if (Math.abs(d[i] - 180) < 25 && Math.abs(d[i + 1] - 83) < 25 && Math.abs(d[i + 2] - 9) < 25) n++;
        }
        return n;
      });
    await expect.poll(markerPixels).toBeGreaterThan(50);
    await artifact(page, "gap-marker");
    expect(problems).toEqual([]);
  });
});
