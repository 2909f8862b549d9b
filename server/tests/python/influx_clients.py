"""InfluxDB's Python clients against Livechart, as programs written for InfluxDB would use
them: the 1.x client (`influxdb`, the token as the password) pings, creates and lists
databases, writes, and is told what /query does not answer; the 2.x client
(`influxdb-client`) pings and checks health. Usage: influx_clients.py URL TOKEN.
Prints one line per step."""

import sys
from urllib.parse import urlparse

from influxdb import InfluxDBClient
from influxdb.exceptions import InfluxDBClientError
from influxdb_client import InfluxDBClient as InfluxDB2Client

url, token = sys.argv[1], sys.argv[2]
address = urlparse(url)

v1 = InfluxDBClient(
    host=address.hostname, port=address.port, username="telegraf", password=token, database="lab"
)
print("version", v1.ping(), flush=True)
v1.create_database("lab")
print("created", flush=True)
print("databases", [d["name"] for d in v1.get_list_database()], flush=True)
written = v1.write_points(
    [{"measurement": "v1", "tags": {"room": "lab"}, "fields": {"temp": 20.5}}],
    time_precision="ms",
)
print("written", written, flush=True)
for statement in ("SELECT * FROM v1", "DROP DATABASE lab"):
    try:
        v1.query(statement)
        print("answered", statement, flush=True)
    except InfluxDBClientError as e:
        print("refused", statement, "|", e, flush=True)

# A wrong password is refused.
try:
    InfluxDBClient(host=address.hostname, port=address.port, username="x", password="wrong").create_database("lab")
    print("wrong password accepted", flush=True)
except InfluxDBClientError as e:
    print("wrong password refused", e.code, flush=True)

with InfluxDB2Client(url=url, token=token, org="lab") as v2:
    print("v2 ping", v2.ping(), flush=True)
    print("v2 health", v2.health().status, flush=True)
