import { test, expect, Page } from "@playwright/test";
import { artifact, openTables, publish, Server } from "./server";

// These tests read the points shown from each chart's table, which opens on request.
test.beforeEach(({ page }) => openTables(page));

// A server of its own with the embedded store (the default): restarting it on the same data
// directory loses nothing, so an open dashboard resumes as if nothing happened.
const server = new Server(3108, { LIVECHART_CLASSIC_ENABLED: "false", LIVECHART_SYSTEM_ENABLED: "false" });
const card = (page: Page, stream: string) => page.locator(`figure.chart[data-stream='${stream}']`);
const values = (page: Page, stream: string) =>
  card(page, stream).locator("table tbody tr").evaluateAll((trs) => trs.map((tr) => Number(tr.getAttribute("data-value"))));
const range = (from: number, to: number) => Array.from({ length: to - from + 1 }, (_, i) => from + i);

test.afterEach(async () => server.stop());

test("a dashboard stays open across a restart: Reconnecting…, then Live with no gap", async ({ page, request }) => {
  await server.start();
  const problems: string[] = [];
  // (Reconnecting to a stopped server is what this test is about: the browser reports each
  // refused attempt, and that is no problem of the page.)
  page.on("console", (m) => {
    if (m.type() === "error" && !m.text().includes("net::ERR_CONNECTION_REFUSED")) problems.push(`console: ${m.text()}`);
  });
  page.on("pageerror", (e) => problems.push(`pageerror: ${e.message}`));
  const t0 = Date.now() - 60_000;
  await publish(request, server.url, "kept", range(1, 10).map((v) => ({ ts: t0 + v * 1000, value: v })));
  await page.goto(`${server.url}/?streams=kept,demo`);
  await expect(card(page, "kept")).toHaveAttribute("data-state", "live");
  await expect.poll(() => values(page, "kept")).toEqual(range(1, 10));
  const demoBefore = Number(await card(page, "demo").getAttribute("data-last-id").then((id) => id?.split("-")[1]));

  await server.stop();
  await expect(card(page, "kept").locator(".status")).toHaveText("Connection lost. Reconnecting…");
  await artifact(page, "restart-reconnecting");
  // Published while the page is away from this server: it must arrive on resume, once.
  await server.start();
  // Fresh points: "Live" means data is arriving now (old ones would read "Stale" soon after).
  const t1 = Date.now() - 2_000;
  await publish(request, server.url, "kept", range(11, 20).map((v) => ({ ts: t1 + (v - 10) * 100, value: v })));
  await expect(card(page, "kept").locator(".status")).toHaveText("Live");
  await expect.poll(() => values(page, "kept")).toEqual(range(1, 20));
  for (const stream of ["kept", "demo"]) {
    await expect(card(page, stream)).toHaveAttribute("data-resets", "0");
    await expect(card(page, stream)).toHaveAttribute("data-gaps", "0");
  }
  // The demo's ids went on from where they were, in the same epoch.
  await expect.poll(async () => Number((await card(page, "demo").getAttribute("data-last-id"))?.split("-")[1]))
    .toBeGreaterThan(demoBefore);
  await artifact(page, "restart-live-again");
  expect(problems).toEqual([]);
});

test("a page opened after a restart shows the points published before it", async ({ page, request }) => {
  await server.start();
  const t0 = Date.now() - 60_000;
  await publish(request, server.url, "before", range(1, 12).map((v) => ({ ts: t0 + v * 1000, value: v * 2 })));
  await server.stop();
  await server.start();
  // First paint (server-rendered, before any event) already has them.
  const html = await (await request.get(`${server.url}/streams/before`)).text();
  expect(html).toContain('data-count="12"');
  await page.goto(`${server.url}/streams/before`);
  await expect(page.locator("figure.chart")).toHaveAttribute("data-state", "live");
  await expect.poll(async () => page.locator("figure.chart table tbody tr").evaluateAll((trs) =>
    trs.map((tr) => Number(tr.getAttribute("data-value"))))).toEqual(range(1, 12).map((v) => v * 2));
  await expect(page.locator("figure.chart")).toHaveAttribute("data-resets", "0");
});
