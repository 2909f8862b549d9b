// Reads a stream's points with Node's `eventsource` 3 and 5, on the single-stream endpoint
// and the multiplexed one, through whatever happens to the server (a restart), until each
// reader has the value `last`. Prints one JSON line per reader: the values it charted, in
// order. The test that runs this (server/tests/clients.rs) checks them: no gap, no repeat.
//
//   node clients/read_events.mjs BASE_URL STREAM LAST
import { EventSource as EventSource3 } from "eventsource3";
import { EventSource as EventSource5 } from "eventsource5";

const [base, stream, lastArg] = process.argv.slice(2);
const last = Number(lastArg);
const readers = [];

for (const [library, EventSource] of [
  ["eventsource3", EventSource3],
  ["eventsource5", EventSource5],
]) {
  for (const endpoint of ["single", "mux"]) {
    const url =
      endpoint === "single"
        ? `${base}/api/streams/${stream}/events`
        : `${base}/api/events?streams=${stream}`;
    const reader = { name: `${library} ${endpoint}`, values: [], done: false };
    const take = (points) => {
      for (const p of points) reader.values.push(p.value);
      if (reader.values.includes(last)) {
        reader.done = true;
        source.close();
        finish();
      }
    };
    // The multiplexed endpoint wraps each event's data as {stream, id, data}.
    const unwrap = (e) => {
      const data = JSON.parse(e.data);
      return endpoint === "mux" ? (data.stream === stream ? data.data : null) : data;
    };
    const source = new EventSource(url);
    source.addEventListener("snapshot", (e) => {
      const snapshot = unwrap(e);
      if (!snapshot) return;
      if (!reader.connected) {
        reader.connected = true;
        // The test waits for every reader's first snapshot before it goes on.
        console.log(JSON.stringify({ connected: reader.name }));
      }
      take(snapshot.points);
    });
    source.addEventListener("points", (e) => {
      const points = unwrap(e);
      if (points) take(points);
    });
    source.addEventListener("reset", () => reader.values.push("reset"));
    readers.push(reader);
  }
}

function finish() {
  if (!readers.every((r) => r.done)) return;
  for (const r of readers) console.log(JSON.stringify({ reader: r.name, values: r.values }));
  process.exit(0);
}

setTimeout(() => {
  for (const r of readers) console.log(JSON.stringify({ reader: r.name, values: r.values }));
  console.error("timed out");
  process.exit(1);
}, 90_000);
