// The 13-stream scene of issue 35, built by the suite's own publisher: streams that are not
// kind to a chart (50 Hz and 0.1 Hz, a dropout, a stop, steps, 12 series, values of very
// different sizes), with an hour of history behind them and live points while a test runs.
import { Server } from "./server";

/** Points as the HTTP API takes them. */
type Point = { series?: string; ts: number; value: number };

/** The scene's streams, in the order a page lists them. */
export const SCENE_STREAMS = [
  "arm", "pump", "sensor", "tank", "cells", "state", "stopped",
  "room-1", "room-2", "room-3", "room-4", "room-5", "room-6",
];

/** The seconds the sensor is silent, ending `DROPOUT_END_S` seconds before the scene starts. */
export const DROPOUT_S = 30;
export const DROPOUT_END_S = 20;
/** The stopped stream's last point is this long before the scene starts. */
export const STOPPED_S = 60;
/** How much history each stream has when the scene starts. */
export const HISTORY_S = 3600;

const CELLS = Array.from({ length: 12 }, (_, i) => `cell-${String(i + 1).padStart(2, "0")}`);

/** What each stream says about itself (PUT /api/streams/{name}). */
const META: Record<string, object> = {
  arm: { title: "Robot arm (50 Hz)", unit: "°", window: "1m" },
  pump: { title: "Pump" },
  sensor: { title: "Sensor with a dropout", unit: "°C" },
  tank: { title: "Tank (every 10 s)", unit: "%", window: "1h" },
  cells: { title: "Battery cells", unit: "V" },
  state: { title: "Machine state", interpolation: "step" },
  stopped: { title: "Stopped a minute ago" },
};

/** The points each stream has for instants `from` ≤ t < `to` (ms), `t0` being the scene's start. */
function pointsBetween(stream: string, from: number, to: number, t0: number): Point[] {
  const out: Point[] = [];
  const every = (ms: number, f: (t: number) => Point[]) => {
    for (let t = Math.ceil(from / ms) * ms; t < to; t += ms) out.push(...f(t));
  };
  const s = (t: number) => t / 1000;
  switch (stream) {
    case "arm":
      every(20, (t) => [
        { series: "shoulder", ts: t, value: 90 * Math.sin(s(t) / 3) },
        { series: "elbow", ts: t, value: 45 * Math.sin(s(t) / 1.3) + 30 },
      ]);
      break;
    case "pump":
      every(1000, (t) => {
        const duty = 0.5 + 0.45 * Math.sin(s(t) / 40);
        return [{ series: "duty", ts: t, value: duty }, { series: "rpm", ts: t, value: Math.round(duty * 10_000) }];
      });
      break;
    case "sensor":
      every(1000, (t) =>
        t >= t0 - (DROPOUT_END_S + DROPOUT_S) * 1000 && t < t0 - DROPOUT_END_S * 1000
          ? []
          : [{ ts: t, value: 21 + 2 * Math.sin(s(t) / 30) }]);
      break;
    case "tank":
      every(10_000, (t) => [{ ts: t, value: 60 + 30 * Math.sin(s(t) / 900) }]);
      break;
    case "cells":
      every(2000, (t) => CELLS.map((series, i) => ({ series, ts: t, value: 3.6 + 0.05 * i + 0.2 * Math.sin(s(t) / 200 + i) })));
      break;
    case "state":
      // A state that holds for 7 s, sent only when it changes: 0, 1, 2, 3, 2, 1, 0, …
      every(7000, (t) => {
        const k = Math.floor(t / 7000) % 6;
        return [{ ts: t, value: k <= 3 ? k : 6 - k }];
      });
      break;
    case "stopped":
      every(1000, (t) => (t < t0 - STOPPED_S * 1000 ? [{ ts: t, value: 50 + 10 * Math.sin(s(t) / 20) }] : []));
      break;
    default: {
      const room = Number(stream.slice("room-".length));
      every(1000, (t) => [{ ts: t, value: 18 + room + Math.sin(s(t) / (50 + room)) }]);
    }
  }
  return out;
}

async function post(base: string, stream: string, points: Point[]): Promise<void> {
  const r = await fetch(`${base}/api/streams/${stream}/points`, {
    method: "POST",
    headers: { "content-type": "application/json" },
    body: JSON.stringify(points),
  });
  if (!r.ok) throw new Error(`scene: publishing to ${stream}: ${r.status} ${await r.text()}`);
}

/** The scene on a server of its own (no built-in streams), publishing until `stop()`. */
export class Scene {
  readonly server: Server;
  private timer?: NodeJS.Timeout;
  private sent = 0;
  private busy = false;
  private failure?: Error;
  /** When the scene started (ms since the epoch): the history ends here. */
  t0 = 0;

  constructor(port: number) {
    this.server = new Server(port, {
      LIVECHART_DEMO_ENABLED: "false",
      LIVECHART_CLASSIC_ENABLED: "false",
      LIVECHART_SYSTEM_ENABLED: "false",
      LIVECHART_HISTORY_DURABILITY: "relaxed",
    });
  }

  get url(): string {
    return this.server.url;
  }

  /** Starts the server, describes the streams, publishes their hour of history, and goes on
   * publishing live every 100 ms. */
  async start(): Promise<void> {
    await this.server.start();
    const base = this.url;
    this.t0 = Math.floor(Date.now() / 1000) * 1000;
    for (const stream of SCENE_STREAMS) {
      const meta = META[stream];
      if (meta) {
        const r = await fetch(`${base}/api/streams/${stream}`, {
          method: "PUT",
          headers: { "content-type": "application/json" },
          body: JSON.stringify(meta),
        });
        if (!r.ok) throw new Error(`scene: describing ${stream}: ${r.status} ${await r.text()}`);
      }
      const history = pointsBetween(stream, this.t0 - HISTORY_S * 1000, this.t0, this.t0);
      for (let i = 0; i < history.length; i += 10_000) await post(base, stream, history.slice(i, i + 10_000));
    }
    this.sent = this.t0;
    this.timer = setInterval(() => void this.tick(), 100);
  }

  /** Publishes every stream's points up to now, in one request per stream that has some. */
  private async tick(): Promise<void> {
    // One tick at a time, so that each stream's points arrive in order; a late tick sends more.
    if (this.busy) return;
    const now = Date.now();
    const from = this.sent;
    if (now <= from) return;
    this.busy = true;
    this.sent = now;
    try {
      await Promise.all(SCENE_STREAMS.map(async (stream) => {
        const points = pointsBetween(stream, from, now, this.t0);
        if (points.length > 0) await post(this.url, stream, points);
      }));
    } catch (e) {
      this.failure ??= e as Error;
    } finally {
      this.busy = false;
    }
  }

  /** Stops publishing and the server; throws what publishing ran into, if anything. */
  async stop(): Promise<void> {
    if (this.timer) clearInterval(this.timer);
    await this.server.stop();
    if (this.failure) throw this.failure;
  }
}
