// Reading a chart's canvas: where its lines are drawn.
import { Locator } from "@playwright/test";

/** For each canvas column of `chart`, whether it holds a pixel close to `rgb` (the line of a
 * series). */
export function columns(chart: Locator, [r, g, b]: number[]): Promise<boolean[]> {
  return chart.locator("canvas").evaluate((c: HTMLCanvasElement, [r, g, b]) => {
    const d = c.getContext("2d")!.getImageData(0, 0, c.width, c.height).data;
    const out: boolean[] = new Array(c.width).fill(false);
    for (let i = 0; i < d.length; i += 4) {
      if (Math.abs(d[i] - r) < 30 && Math.abs(d[i + 1] - g) < 30 && Math.abs(d[i + 2] - b) < 30) {
        out[(i / 4) % c.width] = true;
      }
    }
    return out;
  }, [r, g, b]);
}

/** The longest run of columns without the line, between the first and the last with it. */
export function longestHole(cols: boolean[]): number {
  const first = cols.indexOf(true);
  const last = cols.lastIndexOf(true);
  let longest = 0;
  let run = 0;
  for (let x = first; x <= last; x++) {
    run = cols[x] ? 0 : run + 1;
    longest = Math.max(longest, run);
  }
  return longest;
}
