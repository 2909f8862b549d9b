// InfluxDB's JavaScript client against Livechart, as a program that writes to InfluxDB 2
// would: ping, health, then a write with the token. Prints one line per step.
//
//   node clients/influx_js.mjs BASE_URL TOKEN
import { InfluxDB, Point } from "@influxdata/influxdb-client";
import { HealthAPI, PingAPI } from "@influxdata/influxdb-client-apis";

const [url, token] = process.argv.slice(2);
const influx = new InfluxDB({ url, token });
try {
  await new PingAPI(influx).getPing();
  console.log("ping ok");
  const health = await new HealthAPI(influx).getHealth();
  console.log(`health ${health.status}`);
  const write = influx.getWriteApi("lab", "lab", "ms");
  write.writePoint(new Point("js").tag("room", "lab").floatField("temp", 21.5).timestamp(Date.now()));
  await write.close();
  console.log("write ok");
} catch (e) {
  console.log(`failed ${e.statusCode ?? ""} ${e.message}`);
  process.exit(1);
}
