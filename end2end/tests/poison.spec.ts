import { test, expect, Page } from "@playwright/test";
import { artifact, MAIN_PORT, publish } from "./server";

// Data that once took the server (and the chart in the browser) down: two points 275,000
// years apart made one axis label per day. Every chart must draw a handful of labels for
// any data, and one chart's data must never stop the others.

const MAIN = `http://127.0.0.1:${MAIN_PORT}`;
const card = (page: Page, stream: string) => page.locator(`figure.chart[data-stream='${stream}']`);

function watchProblems(page: Page): string[] {
  const problems: string[] = [];
  page.on("console", (m) => {
    if (m.type() === "error" || /unreachable/i.test(m.text())) problems.push(`console: ${m.text()}`);
  });
  page.on("pageerror", (e) => problems.push(`pageerror: ${e.message}`));
  return problems;
}

test.beforeAll(async ({ request }) => {
  await publish(request, MAIN, "poison", [
    { ts: 0, value: 1 },
    { ts: 8640000000000000, value: 2 },
  ]);
  await publish(request, MAIN, "extremes", [
    { ts: 1, value: -1e308 },
    { ts: 8640000000000, value: 1e308 },
    { ts: 8640000000001, value: 4.9e-324 },
  ]);
});

test("a chart of poison data loads, draws, and stays live", async ({ page, request }) => {
  const problems = watchProblems(page);
  const started = Date.now();
  await page.goto("/streams/poison");
  await expect(card(page, "poison")).toHaveAttribute("data-hydrated", "true");
  await expect(card(page, "poison")).toHaveAttribute("data-state", "live");
  // The server's picture has a few labels, dates on the time axis; the page is small.
  const html = await (await request.get(`${MAIN}/streams/poison`)).text();
  expect(html.length).toBeLessThan(200_000);
  expect(html).toContain("275760-09-13");
  const svg = html.slice(html.indexOf("<svg"), html.indexOf("</svg>"));
  expect(svg.split("<text").length - 1).toBeLessThan(40);
  // The canvas draws it, and goes on drawing as points arrive.
  await expect.poll(async () => Number(await card(page, "poison").getAttribute("data-draws"))).toBeGreaterThan(0);
  const draws = Number(await card(page, "poison").getAttribute("data-draws"));
  await publish(request, MAIN, "poison", [{ ts: 4320000000000000, value: 3 }]);
  await expect(card(page, "poison")).toHaveAttribute("data-count", "3");
  await expect.poll(async () => Number(await card(page, "poison").getAttribute("data-draws"))).toBeGreaterThan(draws);
  console.log(`poison page: live and drawn ${Date.now() - started} ms after navigation`);
  await artifact(page, "poison-chart");
  expect(problems).toEqual([]);
});

test("the other charts of the dashboard keep drawing beside poison data", async ({ page }) => {
  const problems = watchProblems(page);
  await page.goto("/?streams=poison,extremes,demo");
  for (const stream of ["poison", "extremes", "demo"]) {
    await expect(card(page, stream)).toHaveAttribute("data-hydrated", "true");
    await expect(card(page, stream)).toHaveAttribute("data-state", "live");
  }
  // The demo publishes every 250 ms in the suite: its chart keeps receiving and drawing.
  const demo = card(page, "demo");
  const before = Number(await demo.getAttribute("data-draws"));
  const lastId = await demo.getAttribute("data-last-id");
  await expect.poll(() => demo.getAttribute("data-last-id")).not.toBe(lastId);
  await expect.poll(async () => Number(await demo.getAttribute("data-draws"))).toBeGreaterThan(before + 2);
  expect(Number(await card(page, "extremes").getAttribute("data-draws"))).toBeGreaterThan(0);
  await artifact(page, "poison-dashboard");
  expect(problems).toEqual([]);
});
