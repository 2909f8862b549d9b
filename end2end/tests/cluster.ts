// A real redis-server and a real nginx, started by the tests that need them.
import { spawn, spawnSync, ChildProcess } from "node:child_process";
import fs from "node:fs";
import os from "node:os";
import path from "node:path";
import { ROOT } from "./server";

/** Whether a program is installed; with CI=true a missing one fails the test, never skips it. */
export function installed(program: string, versionArg: string): boolean {
  const ok = spawnSync(program, [versionArg], { stdio: "ignore" }).status === 0;
  if (!ok && process.env.CI === "true") {
    throw new Error(`${program} is not installed (.ci/setup installs it); CI=true, so this fails`);
  }
  return ok;
}

async function waitFor(what: string, check: () => Promise<boolean> | boolean): Promise<void> {
  const deadline = Date.now() + 15_000;
  while (Date.now() < deadline) {
    if (await check()) return;
    await new Promise((r) => setTimeout(r, 50));
  }
  throw new Error(`${what} did not start`);
}

/** redis-server on a Unix socket in a temporary directory, with the append-only file. */
export class Redis {
  readonly dir = fs.mkdtempSync(path.join(os.tmpdir(), "livechart-redis-"));
  private child?: ChildProcess;
  get socket(): string {
    return path.join(this.dir, "redis.sock");
  }
  get url(): string {
    return `redis+unix://${this.socket}`;
  }
  async start(): Promise<void> {
    this.child = spawn("redis-server", [
      "--port", "0", "--unixsocket", this.socket, "--unixsocketperm", "700", "--dir", this.dir,
      "--appendonly", "yes", "--appendfsync", "everysec", "--save", "",
      "--maxmemory-policy", "noeviction", "--daemonize", "no",
    ], { stdio: "ignore" });
    await waitFor("redis-server", () =>
      spawnSync("redis-cli", ["-s", this.socket, "ping"], { encoding: "utf8" }).stdout?.trim() === "PONG");
  }
  stop(): void {
    this.child?.kill("SIGTERM");
    this.child = undefined;
  }
}

/** nginx with `end2end/nginx/livechart.conf` (the README's configuration), its node
 * addresses and its listening address replaced by the test's. */
export class Nginx {
  readonly dir = fs.mkdtempSync(path.join(os.tmpdir(), "livechart-nginx-"));
  private child?: ChildProcess;
  constructor(readonly port: number, readonly nodes: number[]) {}
  get url(): string {
    return `http://127.0.0.1:${this.port}`;
  }
  static template(): string {
    return fs.readFileSync(path.join(ROOT, "end2end/nginx/livechart.conf"), "utf8");
  }
  async start(): Promise<void> {
    const site = Nginx.template()
      .replace("127.0.0.1:3001", `127.0.0.1:${this.nodes[0]}`)
      .replace("127.0.0.1:3002", `127.0.0.1:${this.nodes[1]}`)
      .replace("listen 127.0.0.1:8080", `listen 127.0.0.1:${this.port}`);
    const d = this.dir;
    const root = process.getuid?.() === 0 ? "user root;\n" : "";
    fs.writeFileSync(path.join(d, "nginx.conf"), `${root}worker_processes 1;
pid ${d}/nginx.pid;
error_log ${d}/error.log warn;
events { worker_connections 1024; }
http {
  access_log off;
  client_body_temp_path ${d}/body;
  proxy_temp_path ${d}/proxy;
  fastcgi_temp_path ${d}/fastcgi;
  uwsgi_temp_path ${d}/uwsgi;
  scgi_temp_path ${d}/scgi;
${site}
}
`);
    this.child = spawn(nginxBinary(), ["-p", d, "-c", path.join(d, "nginx.conf"), "-g", "daemon off;"], {
      stdio: ["ignore", "ignore", "inherit"],
    });
    await waitFor("nginx", async () => fetch(`${this.url}/healthz`).then(() => true, () => false));
  }
  stop(): void {
    this.child?.kill("SIGTERM");
    this.child = undefined;
  }
}

export function nginxBinary(): string {
  return fs.existsSync("/usr/sbin/nginx") ? "/usr/sbin/nginx" : "nginx";
}

export const README = () => fs.readFileSync(path.join(ROOT, "README.md"), "utf8");
