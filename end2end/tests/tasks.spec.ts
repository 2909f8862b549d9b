import { test, expect, Page } from "@playwright/test";
import { artifact, MAIN_PORT, Server } from "./server";

const MAIN = `http://127.0.0.1:${MAIN_PORT}`;

async function startTask(page: Page, seconds: number, steps: number) {
  const form = page.locator(".task-form");
  await form.getByLabel("Duration (s)").fill(String(seconds));
  await form.getByLabel("Steps").fill(String(steps));
  await form.getByRole("button", { name: "Start task" }).click();
}

test("three tasks progress independently to 100 % and their streams close", async ({ page, request }) => {
  const problems: string[] = [];
  page.on("pageerror", (e) => problems.push(e.message));
  page.on("console", (m) => { if (m.type() === "error") problems.push(m.text()); });
  await page.goto("/?streams=demo");
  await expect(page.locator("figure.chart[data-stream='demo']")).toHaveAttribute("data-state", "live");
  // Newest first in the list: the slowest ends up last.
  await startTask(page, 4, 8);
  await startTask(page, 1.5, 3);
  await startTask(page, 2.5, 5);
  const tasks = page.locator(".task");
  await expect(tasks).toHaveCount(3);
  const [mid, fast, slow] = [tasks.nth(0), tasks.nth(1), tasks.nth(2)];
  await expect(fast).toHaveAttribute("data-status", "done", { timeout: 10_000 });
  // When the fast one is done, the slow one is still on its way.
  expect(await slow.getAttribute("data-status")).toBe("running");
  expect(Number(await slow.getAttribute("data-percent"))).toBeLessThan(100);
  await page.locator(".tasks").scrollIntoViewIfNeeded();
  await artifact(page, "tasks-running");
  for (const t of [mid, slow]) await expect(t).toHaveAttribute("data-status", "done", { timeout: 15_000 });
  for (const t of [mid, fast, slow]) {
    await expect(t).toHaveAttribute("data-percent", "100");
    await expect(t.locator("progress")).toHaveAttribute("value", "100");
    await expect(t.locator(".task-status")).toHaveText(/^Done in \d+\.\d s · 100 %$/);
  }
  await artifact(page, "tasks-done");
  // Each task's stream closed: only the page's chart connection is left.
  await expect.poll(async () => (await (await request.get(`${MAIN}/healthz`)).json()).connections).toBe(1);
  expect(problems).toEqual([]);
});

test.describe("with a strict task limit", () => {
  const server = new Server(3106, { LIVECHART_TASKS_BURST: "1", LIVECHART_TASKS_PER_MINUTE: "1" });
  test.beforeAll(async () => server.start());
  test.afterAll(async () => server.stop());

  test("starting tasks too fast says so", async ({ page }) => {
    await page.goto(`${server.url}/?streams=demo`);
    await expect(page.locator("figure.chart[data-stream='demo']")).toHaveAttribute("data-state", "live");
    await startTask(page, 1, 2);
    await expect(page.locator(".task")).toHaveCount(1);
    await startTask(page, 1, 2);
    await expect(page.getByRole("alert")).toHaveText(/faster than 1 per minute/);
    await expect(page.locator(".task")).toHaveCount(1);
    await artifact(page, "tasks-rate-limited");
  });
});
