import { test, expect, Page } from "@playwright/test";
import { artifact, openTables, publish, Server } from "./server";
import { installed, Nginx, README, Redis } from "./cluster";

// These tests read the points shown from each chart's table, which opens on request.
test.beforeEach(({ page }) => openTables(page));

// Two nodes sharing their streams through a real Redis, behind a real nginx configured as the
// README says. The node the dashboard is connected to is killed: the page reconnects through
// nginx to the other node and resumes with every point once and no gap.
const redis = new Redis();
const quiet = { LIVECHART_DEMO_ENABLED: "false", LIVECHART_CLASSIC_ENABLED: "false", LIVECHART_SYSTEM_ENABLED: "false" };
const shared = () => ({ ...quiet, LIVECHART_HISTORY_STORE: "redis", LIVECHART_REDIS_URL: redis.url });
const nodes = [new Server(3110, {}), new Server(3111, {})];
const nginx = new Nginx(3112, [3110, 3111]);
const card = (page: Page, stream: string) => page.locator(`figure.chart[data-stream='${stream}']`);
const values = (page: Page, stream: string) =>
  card(page, stream).locator("table tbody tr").evaluateAll((trs) => trs.map((tr) => Number(tr.getAttribute("data-value"))));
const range = (from: number, to: number) => Array.from({ length: to - from + 1 }, (_, i) => from + i);

test.afterEach(async () => {
  nginx.stop();
  for (const n of nodes) await n.stop();
  redis.stop();
});

test("the README's nginx configuration is the one tested here", () => {
  expect(README()).toContain(Nginx.template().trim());
});

test("behind nginx, a dashboard whose node is killed resumes on the other node with no gap", async ({ page, request }) => {
  test.skip(!installed("redis-server", "--version") || !installed("nginx", "-v"), "needs redis-server and nginx (.ci/setup)");
  await redis.start();
  for (const n of nodes) Object.assign(n.env, shared());
  for (const n of nodes) await n.start();
  await nginx.start();
  const problems: string[] = [];
  page.on("console", (m) => { if (m.type() === "error") problems.push(`console: ${m.text()}`); });
  page.on("pageerror", (e) => problems.push(`pageerror: ${e.message}`));

  const t0 = Date.now() - 60_000;
  await publish(request, nginx.url, "shared", range(1, 10).map((v) => ({ ts: t0 + v * 1000, value: v })));
  await page.goto(`${nginx.url}/?streams=shared`);
  await expect(card(page, "shared")).toHaveAttribute("data-state", "live");
  await expect.poll(() => values(page, "shared")).toEqual(range(1, 10));

  // The node holding the page's event stream.
  const viewersOn = async (n: Server) => (await (await request.get(`${n.url}/healthz`)).json()).connections as number;
  await expect.poll(async () => (await viewersOn(nodes[0])) + (await viewersOn(nodes[1]))).toBe(1);
  const holder = (await viewersOn(nodes[0])) === 1 ? nodes[0] : nodes[1];
  const other = holder === nodes[0] ? nodes[1] : nodes[0];
  await holder.kill();
  await expect(card(page, "shared").locator(".status")).toHaveText("Connection lost. Reconnecting…");
  await artifact(page, "cluster-reconnecting");
  // Published through nginx (to the surviving node) while the page is away.
  // Fresh points: "Live" means data is arriving now.
  const t1 = Date.now() - 2_000;
  await publish(request, nginx.url, "shared", range(11, 20).map((v) => ({ ts: t1 + (v - 10) * 100, value: v })));
  await expect(card(page, "shared").locator(".status")).toHaveText("Live");
  await expect.poll(() => viewersOn(other)).toBe(1);
  await expect.poll(() => values(page, "shared")).toEqual(range(1, 20));
  await expect(card(page, "shared")).toHaveAttribute("data-resets", "0");
  await expect(card(page, "shared")).toHaveAttribute("data-gaps", "0");
  await artifact(page, "cluster-live-on-the-other-node");
  expect(problems.filter((p) => !p.includes("net::ERR_INCOMPLETE_CHUNKED_ENCODING"))).toEqual([]);
});
