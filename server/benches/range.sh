#!/usr/bin/env bash
# The range query end to end (real server, HTTP, curl) and the store's size at the retention
# bound. Needs the release build (`make build`). Prints one line per figure.
#
#   server/benches/range.sh
set -euo pipefail
cd "$(dirname "$0")/../.."
PORT=${PORT:-3391}
DIR=$(mktemp -d)
URL=http://127.0.0.1:$PORT
LEPTOS_SITE_ADDR=127.0.0.1:$PORT LEPTOS_SITE_ROOT=target/site LIVECHART_DATA_DIR=$DIR/data \
  LIVECHART_DEMO_ENABLED=false LIVECHART_SYSTEM_ENABLED=false LIVECHART_CLASSIC_ENABLED=false \
  target/release/livechart > "$DIR/server.log" 2>&1 &
start() {
  LEPTOS_SITE_ADDR=127.0.0.1:$PORT LEPTOS_SITE_ROOT=target/site LIVECHART_DATA_DIR=$DIR/data \
    LIVECHART_DEMO_ENABLED=false LIVECHART_SYSTEM_ENABLED=false LIVECHART_CLASSIC_ENABLED=false \
    target/release/livechart >> "$DIR/server.log" 2>&1 &
  PID=$!
  for _ in $(seq 600); do curl -sf "$URL/healthz" > /dev/null && break; sleep 0.01; done
}
PID=$!
trap 'kill $PID 2>/dev/null; wait $PID 2>/dev/null; rm -rf "$DIR"' EXIT
for _ in $(seq 100); do curl -sf "$URL/healthz" > /dev/null && break; sleep 0.1; done

# STREAM POINTS: one series, 1 ms apart, 10,000 points a request.
fill() {
  python3 - "$URL" "$1" "$2" <<'PY'
import http.client, json, sys
from urllib.parse import urlparse
url, stream, n = sys.argv[1], sys.argv[2], int(sys.argv[3])
u = urlparse(url)
conn = http.client.HTTPConnection(u.hostname, u.port, timeout=60)
t0 = 1_764_000_000_000
for start in range(0, n, 10_000):
    body = json.dumps([{"ts": t0 + i, "value": (i * 7919) % 1000 / 8} for i in range(start, min(n, start + 10_000))])
    conn.request("POST", f"/api/streams/{stream}/points", body, {"content-type": "application/json"})
    r = conn.getresponse(); r.read()
    assert r.status == 200, (r.status, r.reason)
PY
}

# NAME URL: the median and the slowest of 21 requests, in ms.
timed() {
  for _ in $(seq 21); do curl -s -o /dev/null -w '%{time_total}\n' "$2"; done | sort -n |
    awk -v name="$1" '{ t[NR] = $1 * 1000 } END { printf "%s: median %.1f ms, max %.1f ms\n", name, t[11], t[21] }'
}

# The store at the bound (first, alone in the file): 2,000,000 points published to one stream,
# about twice what 16 MiB holds.
fill bound 2000000
kept=$(curl -s "$URL/api/streams/bound/points?max_points=4" | python3 -c 'import json,sys; print(sum(s["total"] for s in json.load(sys.stdin)["series"]))')
bytes=$(du -cb "$DIR"/data/history.sqlite3* | tail -1 | cut -f1)
echo "store at the retention bound: $kept points retained, history files $bytes bytes"

for n in 10000 100000 1000000; do
  fill "r$n" "$n"
  timed "range of $n points reduced to 2000" "$URL/api/streams/r$n/points?max_points=2000"
  [ "$n" -le 100000 ] && timed "range of $n points exact (JSON)" "$URL/api/streams/r$n/points?max_points=100000"
  timed "range of $n points as CSV" "$URL/api/streams/r$n/points?format=csv"
done

# A restart with all of it (about 2.15 million retained points in four streams): the time until
# the server answers, and its memory then.
kill "$PID"; wait "$PID" || true
t0=$(date +%s%N)
start
t1=$(date +%s%N)
rss=$(awk '/VmRSS/ { print $2 }' "/proc/$PID/status")
echo "restart with the retained points: answering after $(( (t1 - t0) / 1000000 )) ms, RSS $rss kB"
