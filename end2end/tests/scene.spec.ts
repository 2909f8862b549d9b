// Issue 35's scene as a user meets it: 13 streams that are not kind to a chart (50 Hz and
// 0.1 Hz, a dropout, a stop, steps, 12 series, values of very different sizes) on the default
// dashboard, in both themes and at phone width. Its frame figures are in figures.spec.ts.
import { test, expect, Page, Locator } from "@playwright/test";
import fs from "node:fs";
import { artifact, dataMenu, watchProblems } from "./server";
import { columns, longestHole } from "./pixels";
import { Scene, SCENE_STREAMS } from "./scene";

const scene = new Scene(3113);
test.beforeAll(async () => {
  test.setTimeout(120_000);
  await scene.start();
});
test.afterAll(async () => scene.stop());

const card = (page: Page, stream: string) => page.locator(`figure.chart[data-stream='${stream}']`);

async function allHydrated(page: Page): Promise<void> {
  const charts = page.locator("figure.chart");
  const n = await charts.count();
  for (let i = 0; i < n; i++) await expect(charts.nth(i)).toHaveAttribute("data-hydrated", "true");
}

/** axe-core's violations on the page as it is now (the npm package, run in the page). */
async function axeViolations(page: Page): Promise<string[]> {
  await page.addScriptTag({ content: fs.readFileSync(require.resolve("axe-core/axe.min.js"), "utf8") });
  return page.evaluate(async () => {
    const axe = (window as unknown as { axe: { run: (c: Document) => Promise<{ violations: { id: string; impact: string; nodes: { target: string[] }[] }[] }> } }).axe;
    const result = await axe.run(document);
    return result.violations.map((v) => `${v.id} (${v.impact}) ×${v.nodes.length}: ${v.nodes.slice(0, 3).map((n) => n.target.join(" ")).join(", ")}`);
  });
}

for (const theme of ["light", "dark"]) {
  test(`the scene's dashboard tells the truth and stays small (${theme} theme)`, async ({ page }) => {
    const problems = watchProblems(page);
    await page.emulateMedia({ colorScheme: theme as "light" | "dark" });
    await page.goto(scene.url);
    // Twelve charts of thirteen streams, and the page says so.
    await expect(page.locator("figure.chart")).toHaveCount(12);
    await expect(page.locator(".lede")).toContainText("Showing the first 12 of 13 streams");
    await allHydrated(page);
    // The first twelve by name; the tank is left out.
    const shown = [...SCENE_STREAMS].sort().slice(0, 12);
    expect(shown).not.toContain("tank");
    for (const stream of shown) await expect(card(page, stream)).toHaveAttribute("data-state", "live");
    // The stream that stopped a minute ago is stale, with the age of its last point; those
    // that publish are live.
    await expect(card(page, "stopped").locator(".status")).toHaveText(/^Stale · last point (\d+ s|\d+ min) ago$/);
    await expect(card(page, "pump").locator(".status")).toHaveText("Live");
    // The arm's description chooses a minute (not 0.4 s of 20 points); the others the default.
    await expect(card(page, "arm")).toHaveAttribute("data-window", "1m");
    await expect(card(page, "pump")).toHaveAttribute("data-window", "20");
    await expect(card(page, "arm")).toHaveAttribute("data-loading", "false");
    // Few Tab stops a chart: its window, pause, Data menu and plot, then a legend button a
    // series (the pump has two).
    const stops = await card(page, "pump").evaluate((f) =>
      [...f.querySelectorAll<HTMLElement>("a[href], button, select, summary, [tabindex='0']")]
        .filter((e) => e.checkVisibility() && e.tabIndex >= 0).map((e) => e.tagName.toLowerCase()));
    expect(stops).toEqual(["select", "button", "summary", "canvas", "button", "button"]);
    // A small DOM whatever the charts hold: no table of points until one is asked for.
    const nodes = await page.evaluate(() => document.getElementsByTagName("*").length);
    expect(nodes).toBeLessThan(5000);
    expect(await page.locator("figure.chart tbody tr").count()).toBe(0);
    // The document is as tall as what it shows, and no wider than the window.
    const size = await page.evaluate(() => {
      const body = document.body.getBoundingClientRect();
      const last = [...document.querySelectorAll("main, footer")].map((e) => e.getBoundingClientRect().bottom + scrollY);
      return { height: document.documentElement.scrollHeight, content: Math.max(...last, body.bottom + scrollY), width: document.documentElement.scrollWidth, inner: innerWidth };
    });
    expect(size.width).toBeLessThanOrEqual(size.inner);
    expect(size.height).toBeLessThanOrEqual(size.content + 40);
    await artifact(page, `scene-dashboard-${theme}`);
    expect(await axeViolations(page)).toEqual([]);
    expect(problems).toEqual([]);
  });
}

test("the read-out lists every one of twelve series, inside the chart", async ({ page }) => {
  const problems = watchProblems(page);
  await page.goto(`${scene.url}/?streams=cells,pump`);
  const cells = card(page, "cells");
  await expect(cells).toHaveAttribute("data-hydrated", "true");
  await expect(cells).toHaveAttribute("data-series", "12");
  const box = (await cells.locator("canvas").boundingBox())!;
  await page.mouse.move(box.x + box.width * 0.6, box.y + box.height * 0.5);
  const tooltip = cells.locator(".tooltip");
  await expect(tooltip).toBeVisible();
  const lines = (await tooltip.innerText()).split("\n").filter((l) => l.trim() !== "");
  // The time, then one line per series, each with its value and unit; the nearest marked.
  expect(lines).toHaveLength(13);
  for (let i = 1; i <= 12; i++) expect(lines[i]).toMatch(new RegExp(`^(▸ )?cell-${String(i).padStart(2, "0")} \\d(\\.\\d+)? V$`));
  expect(lines.filter((l) => l.startsWith("▸ "))).toHaveLength(1);
  const figure = (await cells.boundingBox())!;
  const t = (await tooltip.boundingBox())!;
  expect(t.x).toBeGreaterThanOrEqual(figure.x);
  expect(t.x + t.width).toBeLessThanOrEqual(figure.x + figure.width);
  expect(t.y + t.height).toBeLessThanOrEqual(figure.y + figure.height);
  // On the other chart, the same instant: its two series (a duty cycle and thousands of rpm).
  const other = card(page, "pump").locator(".tooltip");
  await expect(other).toBeVisible();
  await expect(other).toContainText(/duty 0\.\d+/);
  await expect(other).toContainText(/rpm \d+/);
  await artifact(page, "scene-readout");
  expect(problems).toEqual([]);
});

test("the sensor's 30 s dropout is a hole in its line", async ({ page }) => {
  const problems = watchProblems(page);
  await page.goto(`${scene.url}/?streams=sensor&window=5m`);
  const sensor = card(page, "sensor");
  await expect(sensor).toHaveAttribute("data-hydrated", "true");
  await expect(sensor).toHaveAttribute("data-loading", "false");
  // 30 s of a 5 min line: about a tenth of its width, with no pixel of the line.
  await expect.poll(async () => {
    const cols = await columns(sensor, [37, 99, 235]);
    return longestHole(cols) / (cols.lastIndexOf(true) - cols.indexOf(true));
  }).toBeGreaterThan(0.07);
  expect(problems).toEqual([]);
});

test("each chart keeps its own window and pause through a reload and a Show/Hide", async ({ page }) => {
  const problems = watchProblems(page);
  await page.goto(`${scene.url}/?streams=arm,pump,room-1&window=1m`);
  await allHydrated(page);
  await card(page, "pump").getByRole("combobox", { name: "Window" }).selectOption("5m");
  await expect(card(page, "pump")).toHaveAttribute("data-window", "5m");
  await card(page, "room-1").getByRole("button", { name: "Pause" }).click();
  await expect(card(page, "room-1")).toHaveAttribute("data-paused", "true");
  await expect(page).toHaveURL(/window:pump=5m/);
  await expect(page).toHaveURL(/from:room-1=\d+&to:room-1=\d+/);
  const frozen = await card(page, "room-1").getAttribute("data-range");

  const check = async () => {
    await allHydrated(page);
    await expect(card(page, "pump")).toHaveAttribute("data-window", "5m");
    await expect(card(page, "room-1")).toHaveAttribute("data-paused", "true");
    await expect(card(page, "room-1")).toHaveAttribute("data-loading", "false");
    // The same instants as when it was paused, while the others go on.
    await expect(card(page, "room-1")).toHaveAttribute("data-past", frozen!);
  };
  await page.reload();
  await check();
  await expect(card(page, "arm")).toHaveAttribute("data-window", "1m");
  // Hiding the arm through the stream list keeps the others as they are.
  await page.locator(".stream-list li[data-stream='arm'] .toggle").click();
  await expect(page).toHaveURL(/streams=pump,room-1&/);
  await expect(page.locator("figure.chart")).toHaveCount(2);
  await check();
  expect(page.url()).not.toContain(":arm=");
  expect(problems).toEqual([]);
});

test("the table of points and the values read aloud come when asked for", async ({ page }) => {
  const problems = watchProblems(page);
  await page.goto(`${scene.url}/?streams=state`);
  const state = card(page, "state");
  await expect(state).toHaveAttribute("data-hydrated", "true");
  await expect(state.locator(".points-table")).toBeHidden();
  await (await dataMenu(state)).getByRole("button", { name: "Table of the points" }).click();
  // The menu closes; the table opens with the points shown, in a box of its own.
  await expect(state.locator("details.data-menu")).not.toHaveAttribute("open", "");
  const rows = state.locator(".points-table tbody tr");
  await expect.poll(() => rows.count()).toBeGreaterThan(0);
  expect(Number(await state.getAttribute("data-count"))).toBe(await rows.count());
  await artifact(page, "scene-table");
  await state.getByRole("button", { name: "Close the table" }).click();
  await expect(state.locator(".points-table")).toBeHidden();
  await expect(rows).toHaveCount(0);
  // Escape closes the menu and gives the focus back to it.
  await (await dataMenu(state)).getByRole("button", { name: "Table of the points" }).focus();
  await page.keyboard.press("Escape");
  await expect(state.locator("details.data-menu summary")).toBeFocused();
  await expect(state.locator("details.data-menu")).not.toHaveAttribute("open", "");
  expect(problems).toEqual([]);
});

test("at phone width: nothing wider than the screen, a tap shows the read-out, a pinch zooms the chart", async ({ browser }) => {
  const context = await browser.newContext({ viewport: { width: 390, height: 844 }, hasTouch: true, isMobile: true });
  const page = await context.newPage();
  const problems = watchProblems(page);
  await page.goto(scene.url);
  await allHydrated(page);
  expect(await page.evaluate(() => document.documentElement.scrollWidth)).toBeLessThanOrEqual(390);
  const pump = card(page, "pump");
  await pump.scrollIntoViewIfNeeded();
  const box = (await pump.locator("canvas").boundingBox())!;
  await page.touchscreen.tap(box.x + box.width * 0.6, box.y + box.height * 0.5);
  await expect(pump.locator(".tooltip")).toBeVisible();
  await expect(pump.locator(".tooltip")).toContainText(/rpm \d+/);
  await artifact(page, "scene-phone-tap");
  // Two fingers moving apart over the chart zoom it into the past; the page keeps its scale.
  const [from, to] = (await pump.getAttribute("data-range"))!.split("-").map(Number);
  const cdp = await context.newCDPSession(page);
  const y = box.y + box.height / 2;
  const mid = box.x + box.width / 2;
  const fingers = (d: number) => [{ x: mid - d, y, id: 1 }, { x: mid + d, y, id: 2 }];
  await cdp.send("Input.dispatchTouchEvent", { type: "touchStart", touchPoints: fingers(20) });
  for (const d of [30, 45, 60, 80]) await cdp.send("Input.dispatchTouchEvent", { type: "touchMove", touchPoints: fingers(d) });
  await cdp.send("Input.dispatchTouchEvent", { type: "touchEnd", touchPoints: [] });
  await expect(pump).toHaveAttribute("data-paused", "true");
  const past = (await pump.getAttribute("data-past"))!.split("-").map(Number);
  expect(past[1] - past[0]).toBeLessThan(0.8 * (to - from));
  expect(await page.evaluate(() => visualViewport!.scale)).toBe(1);
  for (const theme of ["light", "dark"]) {
    await page.emulateMedia({ colorScheme: theme as "light" | "dark" });
    await artifact(page, `scene-phone-${theme}`);
  }
  expect(problems).toEqual([]);
  await context.close();
});

test("no axe-core violation on the stream page, About, a refused address, and a paused chart with its table open", async ({ page }) => {
  for (const address of ["/streams/cells", "/about", "/?window=7x", "/?streams=arm,cells"]) {
    await page.goto(`${scene.url}${address}`);
    await allHydrated(page);
    if (address.includes("streams=")) {
      const cells: Locator = card(page, "cells");
      await cells.getByRole("button", { name: "Pause" }).click();
      await (await dataMenu(cells)).getByRole("button", { name: "Table of the points" }).click();
      await dataMenu(card(page, "arm"));
    }
    expect(await axeViolations(page), address).toEqual([]);
  }
});
