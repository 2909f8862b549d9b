#!/usr/bin/env python3
"""Publishes EVENTS events of POINTS points to each of STREAMS streams of a running server,
from THREADS keep-alive connections, and prints one JSON line: publishes, seconds, errors.

    server/benches/fill.py http://127.0.0.1:3390 STREAMS EVENTS POINTS THREADS
"""
import http.client
import json
import sys
import threading
import time
from urllib.parse import urlparse

url, streams, events, points, threads = sys.argv[1], *map(int, sys.argv[2:6])
host = urlparse(url)
errors = 0
lock = threading.Lock()


def worker(first: int) -> None:
    global errors
    conn = http.client.HTTPConnection(host.hostname, host.port, timeout=30)
    for s in range(first, streams, threads):
        for e in range(events):
            body = json.dumps([{"series": "v", "value": e + i / 1000} for i in range(points)])
            conn.request("POST", f"/api/streams/fill-{s:03}/points", body, {"content-type": "application/json"})
            r = conn.getresponse()
            r.read()
            if r.status != 200:
                with lock:
                    errors += 1


start = time.time()
ts = [threading.Thread(target=worker, args=(t,)) for t in range(threads)]
for t in ts:
    t.start()
for t in ts:
    t.join()
secs = time.time() - start
print(json.dumps({"publishes": streams * events, "seconds": round(secs, 1), "errors": errors}))
