// The dark theme: chosen by the system's preference or by the toggle (remembered across
// visits), applied before anything is drawn, to the server's SVG first paint as well as to
// the canvas the WASM draws.
import { test, expect, Page } from "@playwright/test";
import { artifact, watchProblems } from "./server";

/** The colour of one pixel of the chart's canvas, near its top-left corner (background). */
async function canvasCorner(page: Page): Promise<number[]> {
  return page.locator("figure.chart canvas").evaluate((c: HTMLCanvasElement) =>
    Array.from(c.getContext("2d")!.getImageData(2, 2, 1, 1).data.slice(0, 3)));
}

test("the system's dark preference darkens the page and the first paint, before any WASM", async ({ browser }) => {
  const context = await browser.newContext({ colorScheme: "dark" });
  const page = await context.newPage();
  // No WASM and no JS glue: what shows is the server's HTML and SVG, themed by CSS alone.
  await page.route(/\/pkg\/.*\.(wasm|js)$/, (route) => route.abort());
  await page.goto("/streams/demo");
  await expect(page.locator("html")).toHaveAttribute("data-theme", "dark");
  const style = (selector: string, property: string) =>
    page.locator(selector).first().evaluate((e, p) => getComputedStyle(e).getPropertyValue(p), property);
  expect(await style("html", "background-color")).toBe("rgb(13, 17, 23)");
  expect(await style("figure.chart", "background-color")).toBe("rgb(22, 27, 34)");
  expect(await style(".first-paint svg rect", "fill")).toBe("rgb(22, 27, 34)");
  expect(await style(".first-paint svg text", "fill")).toBe("rgb(154, 165, 177)");
  await expect(page.locator("figure.chart")).toHaveAttribute("data-hydrated", "false");
  await artifact(page, "stream-dark-first-paint");
  await context.close();
});

test("the toggle switches the theme, the canvas redraws in it, and the choice is remembered", async ({ browser }) => {
  const context = await browser.newContext({ colorScheme: "light" });
  const page = await context.newPage();
  const problems = watchProblems(page);
  await page.goto("/streams/demo");
  const chart = page.locator("figure.chart");
  await expect(chart).toHaveAttribute("data-hydrated", "true");
  await expect.poll(async () => Number(await chart.getAttribute("data-draws"))).toBeGreaterThan(0);
  await expect(page.locator("html")).toHaveAttribute("data-theme", "light");
  await expect.poll(() => canvasCorner(page)).toEqual([255, 255, 255]);

  const toggle = page.getByRole("button", { name: "Dark theme" });
  await expect(toggle).toHaveAttribute("aria-pressed", "false");
  await toggle.click();
  await expect(page.locator("html")).toHaveAttribute("data-theme", "dark");
  await expect(toggle).toHaveAttribute("aria-pressed", "true");
  await expect.poll(() => canvasCorner(page)).toEqual([22, 27, 34]);
  await artifact(page, "stream-dark");

  // Remembered: the next visit starts dark, though the system prefers light.
  await page.reload();
  await expect(page.locator("html")).toHaveAttribute("data-theme", "dark");
  await expect(chart).toHaveAttribute("data-hydrated", "true");
  await expect.poll(() => canvasCorner(page)).toEqual([22, 27, 34]);
  expect(await page.evaluate(() => localStorage.getItem("livechart-theme"))).toBe("dark");

  // Back to the system's theme: nothing is remembered any more, so the page follows it.
  await page.getByRole("button", { name: "Dark theme" }).click();
  await expect(page.locator("html")).toHaveAttribute("data-theme", "light");
  await expect.poll(() => canvasCorner(page)).toEqual([255, 255, 255]);
  expect(await page.evaluate(() => localStorage.getItem("livechart-theme"))).toBeNull();
  await page.emulateMedia({ colorScheme: "dark" });
  await expect(page.locator("html")).toHaveAttribute("data-theme", "dark");
  await expect.poll(() => canvasCorner(page)).toEqual([22, 27, 34]);
  expect(problems).toEqual([]);
  await context.close();
});
