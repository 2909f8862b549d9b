"""Reads a stream's points with sseclient-py, on the single-stream endpoint and the
multiplexed one, through whatever happens to the server (a restart), until each reader has
the value LAST. sseclient-py parses; reconnecting is this script's (as an application using
it would): after the connection ends it reconnects with the last id it saw as Last-Event-ID.
Prints the same lines as end2end/clients/read_events.mjs, for server/tests/clients.rs.

    python read_events.py BASE_URL STREAM LAST
"""

import json
import sys
import threading
import time
import urllib.request

import sseclient

base, stream, last = sys.argv[1], sys.argv[2], float(sys.argv[3])
lock = threading.Lock()


def say(line):
    with lock:
        print(json.dumps(line), flush=True)


def read(endpoint, report):
    url = (
        f"{base}/api/streams/{stream}/events"
        if endpoint == "single"
        else f"{base}/api/events?streams={stream}"
    )
    name = f"sseclient-py {endpoint}"
    values, last_id, connected = [], None, False
    deadline = time.monotonic() + 90
    while time.monotonic() < deadline:
        headers = {"Accept": "text/event-stream"}
        if last_id is not None:
            headers["Last-Event-ID"] = last_id
        try:
            response = urllib.request.urlopen(urllib.request.Request(url, headers=headers), timeout=30)
            for event in sseclient.SSEClient(response).events():
                if event.id is not None:
                    last_id = event.id
                if event.event not in ("snapshot", "points", "reset"):
                    continue
                data = json.loads(event.data)
                if endpoint == "mux":
                    if data.get("stream") != stream:
                        continue
                    data = data["data"]
                if event.event == "reset":
                    values.append("reset")
                    continue
                if event.event == "snapshot":
                    if not connected:
                        connected = True
                        say({"connected": name})
                    data = data["points"]
                values.extend(p["value"] for p in data)
                if last in values:
                    report[name] = values
                    return
        except OSError:
            pass
        time.sleep(0.3)
    report[name] = values


report = {}
threads = [threading.Thread(target=read, args=(e, report)) for e in ("single", "mux")]
for t in threads:
    t.start()
for t in threads:
    t.join()
for name, values in report.items():
    say({"reader": name, "values": values})
sys.exit(0 if all(last in v for v in report.values()) else 1)
