import { test, expect } from "@playwright/test";
import { artifact, openTables, Server } from "./server";

// These tests read the points shown from each chart's table, which opens on request.
test.beforeEach(({ page }) => openTables(page));

// A server of its own, so that stopping it does not disturb the other tests; with the memory
// store, so that a restart loses the history (restart.spec.ts: the embedded store keeps it).
const server = new Server(3101, { LIVECHART_HISTORY_STORE: "memory" });

test.afterAll(async () => server.stop());

test("stopping a memory-only server shows Reconnecting…, restarting it goes live after a gap", async ({ page }) => {
  await server.start();
  const pageErrors: string[] = [];
  page.on("pageerror", (e) => pageErrors.push(e.message));
  await page.goto(`${server.url}/streams/demo`);
  const status = page.locator("figure.chart .status");
  const rows = page.locator("figure.chart table tbody tr");
  await expect(status).toHaveText("Live");
  await expect.poll(() => rows.count()).toBeGreaterThanOrEqual(2);

  await server.stop();
  await expect(status).toHaveText("Connection lost. Reconnecting…");
  await expect(page.locator("figure.chart")).toHaveAttribute("data-state", "reconnecting");
  await artifact(page, "reconnecting");
  const lastTsWhileDown = await rows.last().getAttribute("data-ts");

  await server.start();
  await expect(status).toHaveText("Live");
  // New points arrive after the restart.
  await expect.poll(() => rows.last().getAttribute("data-ts")).not.toBe(lastTsWhileDown);
  // The restarted server's history is new (another epoch): the chart was told, and marks
  // the gap instead of joining the lines across the outage.
  await expect(page.locator("figure.chart")).toHaveAttribute("data-resets", "1");
  await expect(page.locator("figure.chart")).toHaveAttribute("data-gaps", "1");
  await artifact(page, "live-again");
  expect(pageErrors).toEqual([]);
});
