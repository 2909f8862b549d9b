import { test, expect, Page } from "@playwright/test";
import { artifact, openTables } from "./server";

// These tests read the points shown from each chart's table, which opens on request.
test.beforeEach(({ page }) => openTables(page));

const card = (page: Page, stream: string) => page.locator(`figure.chart[data-stream='${stream}']`);
const rows = (page: Page, stream: string, series: string) =>
  card(page, stream).locator(`table tbody tr[data-series='${series}']`);
const valuesOf = (page: Page, stream: string, series: string) =>
  rows(page, stream, series).evaluateAll((trs) => trs.map((tr) => Number(tr.getAttribute("data-value"))));

test("the system stream shows plausible CPU and memory figures", async ({ page }) => {
  await page.goto("/?streams=system");
  const chart = card(page, "system");
  await expect(chart).toHaveAttribute("data-state", "live");
  await expect(chart.locator(".chart-title")).toHaveText("This machine: CPU and memory");
  for (const series of ["cpu", "cpu0", "mem"]) {
    await expect(chart.locator(`.legend button[data-series='${series}']`)).toBeVisible();
  }
  await expect.poll(async () => (await valuesOf(page, "system", "cpu")).length).toBeGreaterThanOrEqual(3);
  for (const v of [...(await valuesOf(page, "system", "cpu")), ...(await valuesOf(page, "system", "mem"))]) {
    expect(v).toBeGreaterThanOrEqual(0);
    expect(v).toBeLessThanOrEqual(100);
  }
  // Some memory is always in use.
  expect(Math.max(...(await valuesOf(page, "system", "mem")))).toBeGreaterThan(0);
  // V on the chart reads its latest values aloud, with their unit.
  await chart.locator("canvas").focus();
  await page.keyboard.press("v");
  await expect(chart.locator(".live-summary")).toContainText("%");
  await artifact(page, "system");
});

test("the classic demo shows its two event types as two series", async ({ page }) => {
  await page.goto("/?streams=classic");
  const chart = card(page, "classic");
  await expect(chart).toHaveAttribute("data-state", "live");
  await expect.poll(async () => (await valuesOf(page, "classic", "time")).length).toBeGreaterThanOrEqual(3);
  await expect.poll(async () => (await valuesOf(page, "classic", "counter")).length).toBeGreaterThanOrEqual(2);
  for (const v of await valuesOf(page, "classic", "time")) {
    expect(Number.isInteger(v) && v >= 0 && v <= 59).toBe(true);
  }
  for (const v of await valuesOf(page, "classic", "counter")) {
    expect(Number.isInteger(v) && v >= 1).toBe(true);
  }
  await artifact(page, "classic");
});
