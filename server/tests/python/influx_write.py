"""Writes points to Livechart with InfluxDB's official Python client (influxdb-client),
as a program that writes to InfluxDB 2 would: Token auth, gzip, several precisions.
Usage: influx_write.py URL TOKEN. Prints one line per write: "ok" or "refused STATUS"."""

import sys

from influxdb_client import InfluxDBClient, Point, WritePrecision
from influxdb_client.client.write_api import SYNCHRONOUS
from influxdb_client.rest import ApiException

url, token = sys.argv[1], sys.argv[2]


def write(api, **kwargs):
    try:
        api.write(bucket="lab", **kwargs)
        print("ok", flush=True)
    except ApiException as e:
        print("refused", e.status, flush=True)


with InfluxDBClient(url=url, token=token, org="lab", enable_gzip=True) as client:
    api = client.write_api(write_options=SYNCHRONOUS)
    cpu = (
        Point("cpu")
        .tag("host", "web1")
        .tag("cpu", "cpu0")
        .field("usage_idle", 97.5)
        .field("procs", 12)
        .time(1700000000123456789, WritePrecision.NS)
    )
    write(api, record=cpu)
    later = (
        Point("cpu")
        .tag("cpu", "cpu0")
        .tag("host", "web1")
        .field("usage_idle", 96.0)
        .time(1700000001, WritePrecision.S)
    )
    write(api, record=later, write_precision=WritePrecision.S)
    write(api, record="env,room=lab\\ 1 temp=21.5,ok=true 1700000002000", write_precision=WritePrecision.MS)
    env = Point("env").tag("room", "lab 1").field("temp", 22.25).time(1700000003000000, WritePrecision.US)
    write(api, record=[env], write_precision=WritePrecision.US)
    # A string field cannot be charted: refused whole.
    write(api, record='env,room=x temp=1,note="hello" 1700000004000000000')
