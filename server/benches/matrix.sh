#!/usr/bin/env bash
# The benchmark matrix of BENCHMARKS.md: starts the release server (fresh for each case),
# drives it with `livechart load`, and prints Markdown table rows plus the raw JSON lines
# (kept in target/bench/). A benchmark, not a test: CI never runs it.
#
#   server/benches/matrix.sh            # everything (about 12 minutes)
#   server/benches/matrix.sh fanout     # or one part: fanout | idle | max | ingest | stores | file
#                                       # | redis (needs redis-server: .ci/setup --browser)
#                                       # | nchan (nginx with nchan beside Livechart: .ci/setup --bench)
#                                       # | profile (perf on both at 5,000 × 10/s; root or perf_event_paranoid ≤ 0)
#   LIVECHART_BIN=/tmp/old/livechart LIVECHART_CONFIG=/tmp/old/Leptos.toml server/benches/matrix.sh idle
set -euo pipefail
cd "$(dirname "$0")/../.."
part=${1:-all}
port=3390
out=target/bench
mkdir -p "$out"
: >"$out/server.log"
# The same build as `make test` uses (a plain `cargo build` of the server would not match the
# site's WASM, and later page tests would fail). LIVECHART_BIN runs another server binary
# instead (an older build, for before/after figures from one run; give it its own
# configuration with LIVECHART_CONFIG); the load generator is always this build's.
if [ -z "${LIVECHART_BIN:-}" ]; then make build >&2; fi
bin=${LIVECHART_BIN:-target/release/livechart}
gen=target/release/livechart
# The per-process limit here is 20,000 open files: both processes raise theirs to it.
ulimit -n 20000

pid=""
# Run before the server's binary (the nchan part pins it to a core with taskset).
server_prefix=()
# Each start gets an empty data directory, unless `data` is set (the store part restarts on
# one); the store is STORE (embedded, the default, or memory).
data=""
start_server() {
  stop_server
  [ -n "$data" ] || data=$(mktemp -d "$PWD/$out/data.XXXXXX")
  echo "--- $(date -u +%T) start: store ${STORE:-embedded} $*" >>"$out/server.log"
  env LEPTOS_SITE_ADDR=127.0.0.1:$port LEPTOS_SITE_ROOT=target/site RUST_LOG=warn \
    LIVECHART_LIMITS_MAX_VIEWERS=20000 LIVECHART_SYSTEM_ENABLED=false \
    LIVECHART_CLASSIC_ENABLED=false LIVECHART_DEMO_ENABLED=false \
    LIVECHART_HISTORY_STORE="${STORE:-embedded}" LIVECHART_DATA_DIR="$data" "$@" \
    "${server_prefix[@]}" "$bin" >>"$out/server.log" 2>&1 &
  pid=$!
  for _ in $(seq 100); do
    # (Our process must still be alive: another server on the port would answer too.)
    curl -sf "http://127.0.0.1:$port/healthz" >/dev/null && kill -0 "$pid" 2>/dev/null && return 0
    sleep 0.1
  done
  echo "server did not start" >&2
  exit 1
}
stop_server() {
  if [ -n "$pid" ]; then kill "$pid" 2>/dev/null || true; wait "$pid" 2>/dev/null || true; pid=""; fi
  if [ -z "${keep_data:-}" ] && [ -n "$data" ]; then rm -rf "$data"; data=""; fi
}
# Redis for the `redis` part: its own process on a Unix socket, append-only file on, with
# `appendfsync` from FSYNC (everysec or always); and the second node of a two-node cluster.
redis_pid=""
redis_dir=""
node_b=""
start_redis() {
  stop_redis
  redis_dir=$(mktemp -d "$PWD/$out/redis.XXXXXX")
  redis-server --port 0 --unixsocket "$redis_dir/redis.sock" --unixsocketperm 700 \
    --dir "$redis_dir" --appendonly yes --appendfsync "${FSYNC:-everysec}" --save "" \
    --maxmemory-policy noeviction --daemonize no >>"$out/server.log" 2>&1 &
  redis_pid=$!
  for _ in $(seq 100); do
    [ "$(redis-cli -s "$redis_dir/redis.sock" ping 2>/dev/null)" = PONG ] && return 0
    sleep 0.1
  done
  echo "redis-server did not start" >&2
  exit 1
}
stop_redis() {
  if [ -n "$node_b" ]; then kill "$node_b" 2>/dev/null || true; wait "$node_b" 2>/dev/null || true; node_b=""; fi
  if [ -n "$redis_pid" ]; then kill "$redis_pid" 2>/dev/null || true; wait "$redis_pid" 2>/dev/null || true; redis_pid=""; fi
  if [ -n "$redis_dir" ]; then rm -rf "$redis_dir"; redis_dir=""; fi
}
# nginx with the nchan module, the fastest SSE fan-out one could deploy instead: a publisher
# location, an EventSource subscriber location, a message buffer like Livechart's ring, one
# worker per core, two ports up. New subscribers start at the newest message, as Livechart's
# viewers start after the window they are sent.
nchan_pid=""
nchan_dir=""
nginx_cmd=(nginx)
start_nchan() {
  stop_nchan
  nchan_dir=$(mktemp -d "$PWD/$out/nchan.XXXXXX")
  cat >"$nchan_dir/nginx.conf" <<CONF
load_module /usr/lib/nginx/modules/ngx_nchan_module.so;
worker_processes $(nproc);
worker_rlimit_nofile 20000;
pid $nchan_dir/nginx.pid;
error_log $nchan_dir/error.log warn;
events { worker_connections 20000; }
http {
  access_log off;
  client_body_temp_path $nchan_dir/body;
  proxy_temp_path $nchan_dir/proxy;
  fastcgi_temp_path $nchan_dir/fastcgi;
  uwsgi_temp_path $nchan_dir/uwsgi;
  scgi_temp_path $nchan_dir/scgi;
  nchan_max_reserved_memory 512M;
  server {
    listen 127.0.0.1:$((port + 2));
    location = /pub/load {
      nchan_publisher;
      nchan_channel_id load;
      nchan_message_buffer_length 1024;
      nchan_message_timeout 1h;
    }
    location = /sub/load {
      nchan_subscriber eventsource;
      nchan_channel_id load;
      nchan_subscriber_first_message newest;
    }
  }
}
CONF
  "${nginx_cmd[@]}" -p "$nchan_dir" -c "$nchan_dir/nginx.conf" -e "$nchan_dir/error.log" -g 'daemon off;' >>"$out/server.log" 2>&1 &
  nchan_pid=$!
  for _ in $(seq 100); do
    curl -sf -X POST -d '{"seq":0,"value":0}' "http://127.0.0.1:$((port + 2))/pub/load" >/dev/null && return 0
    sleep 0.1
  done
  echo "nginx with nchan did not start (.ci/setup --bench installs libnginx-mod-nchan)" >&2
  exit 1
}
stop_nchan() {
  # SIGTERM: nginx's master stops its workers (SIGKILL would orphan them).
  if [ -n "$nchan_pid" ]; then kill "$nchan_pid" 2>/dev/null || true; wait "$nchan_pid" 2>/dev/null || true; nchan_pid=""; fi
  if [ -n "$nchan_dir" ]; then rm -rf "$nchan_dir"; nchan_dir=""; fi
}
# nginx's processes: its master and its workers (the master's children).
nchan_pids() { echo "$nchan_pid" $(pgrep -P "$nchan_pid" 2>/dev/null); }
# Busy loops of the nchan part's BUSY.
busy_pids=()
stop_busy() { if [ "${#busy_pids[@]}" -gt 0 ]; then kill "${busy_pids[@]}" 2>/dev/null || true; busy_pids=(); fi; }
trap 'stop_server; stop_redis; stop_nchan; stop_busy' EXIT

load() { "$gen" load --url "http://127.0.0.1:$port" --server-pid "$pid" --sources 8 "$@" 2>/dev/null; }
field() { python3 -c "import json,sys; r=json.loads(sys.argv[1]); print(eval(sys.argv[2], {}, r))" "$1" "$2"; }

echo "Machine: $(nproc) cores, $(awk '/MemTotal/ {printf "%.1f GiB", $2/1048576}' /proc/meminfo), $(uname -sr), $(date -u +%Y-%m-%d)"

if [ "$part" = all ] || [ "$part" = fanout ]; then
  echo
  echo "| viewers × rate | deliveries/s | gaps | dups | p50 ms | p99 ms | p99.9 ms | max ms | server CPU (cores) | server RSS | generator CPU (cores) |"
  echo "| --- | --- | --- | --- | --- | --- | --- | --- | --- | --- | --- |"
  for n in 1000 5000 10000; do
    start_server
    r=$(load --viewers "$n" --rate 10 --seconds 30)
    echo "$r" >>"$out/fanout.jsonl"
    secs=30.5
    echo "| $n × 10/s | $(field "$r" 'round(deliveries_per_s)') | $(field "$r" gaps) | $(field "$r" duplicates) | $(field "$r" 'latency_ms["p50"]') | $(field "$r" 'latency_ms["p99"]') | $(field "$r" 'latency_ms["p999"]') | $(field "$r" 'latency_ms["max"]') | $(field "$r" "round(server['cpu_s']/$secs, 2)") | $(field "$r" 'server["peak_rss_kib"]//1024') MiB | $(field "$r" "round(generator['cpu_s']/$secs, 2)") |"
  done
fi

if [ "$part" = all ] || [ "$part" = idle ]; then
  echo
  echo "| idle viewers | held | server RSS | RSS per viewer (slope from 0) |"
  echo "| --- | --- | --- | --- |"
  start_server
  base=$(awk '/VmRSS/ {print $2}' /proc/$pid/status)
  echo "| 0 | - | $((base / 1024)) MiB | - |"
  for n in 5000 10000 19000; do
    start_server
    secs=10; [ "$n" = 19000 ] && secs=60
    r=$(load --viewers "$n" --rate 0 --seconds "$secs")
    echo "$r" >>"$out/idle.jsonl"
    rss=$(field "$r" 'server["peak_rss_kib"]')
    echo "| $n | $(field "$r" connected) for ${secs} s | $((rss / 1024)) MiB | $(( (rss - base) * 1024 / n )) B |"
  done
fi

if [ "$part" = all ] || [ "$part" = max ]; then
  echo
  echo "| viewers × rate | deliveries/s | gaps | p99 ms | server CPU (cores) |"
  echo "| --- | --- | --- | --- | --- |"
  # Many viewers at a modest rate, then fewer viewers at higher rates (writes then carry
  # several events each): the same deliveries/s cost very different latencies.
  for spec in "10000 20" "10000 30" "10000 40" "5000 80" "2500 100" "2000 150"; do
    set -- $spec
    start_server
    r=$(load --viewers "$1" --rate "$2" --seconds 20)
    echo "$r" >>"$out/max.jsonl"
    echo "| $1 × $2/s | $(field "$r" 'round(deliveries_per_s)') | $(field "$r" gaps) | $(field "$r" 'latency_ms["p99"]') | $(field "$r" "round(server['cpu_s']/20.5, 2)") |"
  done
fi

if [ "$part" = all ] || [ "$part" = ingest ]; then
  echo
  echo "| store | batch | clients | points/s accepted | request p50 ms | p99 ms | server CPU (cores) |"
  echo "| --- | --- | --- | --- | --- | --- | --- |"
  for spec in "1 4" "100 4" "1000 4"; do
    set -- $spec
    # embedded: durability = commit (the default); relaxed: the same store without fsync.
    for mode in memory embedded relaxed; do
      case $mode in
        relaxed) STORE=embedded; start_server LIVECHART_HISTORY_DURABILITY=relaxed ;;
        *) STORE=$mode; start_server ;;
      esac
      r=$(load --ingest-clients "$2" --points "$1" --seconds 10)
      echo "$r" >>"$out/ingest.jsonl"
      echo "| $mode | $1 | $2 | $(field "$r" 'round(points_per_s)') | $(field "$r" 'request_ms["p50"]') | $(field "$r" 'request_ms["p99"]') | $(field "$r" "round(server['cpu_s']/10, 2)") |"
    done
  done
  unset STORE
fi

if [ "$part" = all ] || [ "$part" = stores ]; then
  echo
  echo "| store | viewers × rate | deliveries/s | gaps | dups | p50 ms | p99 ms | p99.9 ms | server CPU (cores) |"
  echo "| --- | --- | --- | --- | --- | --- | --- | --- | --- |"
  # Alternating, twice each: the spread of each store shows against the other's.
  for STORE in memory embedded memory embedded; do
    start_server
    r=$(load --viewers 10000 --rate 10 --seconds 30)
    echo "$r" >>"$out/stores.jsonl"
    echo "| $STORE | 10000 × 10/s | $(field "$r" 'round(deliveries_per_s)') | $(field "$r" gaps) | $(field "$r" duplicates) | $(field "$r" 'latency_ms["p50"]') | $(field "$r" 'latency_ms["p99"]') | $(field "$r" 'latency_ms["p999"]') | $(field "$r" "round(server['cpu_s']/30.5, 2)") |"
  done
  unset STORE
fi

if [ "$part" = all ] || [ "$part" = file ]; then
  echo
  echo "| publishes so far (100 streams, 1 point each) | publishes/s | file size (database + log) |"
  echo "| --- | --- | --- |"
  keep_data=1
  start_server
  total=0
  for round in 1 2 3 4 5; do
    # 2,000 events per stream per round: 200,000 publishes, the ring (1,024) filled twice.
    r=$(server/benches/fill.py "http://127.0.0.1:$port" 100 2000 1 8)
    total=$((total + 200000))
    echo "| $total | $(field "$r" 'round(publishes/seconds)') | $(du -cb "$data"/history.sqlite3* | tail -1 | cut -f1 | numfmt --to=iec) |"
  done
  stop_server
  # Startup with these 100 full streams: from exec to the first answer.
  t0=$(date +%s.%N)
  start_server
  t1=$(date +%s.%N)
  echo
  echo "Startup with 100 full streams (ring 1,024 events, window 500): $(python3 -c "print(round(($t1 - $t0) * 1000))") ms to the first answer of /healthz; RSS $(awk '/VmRSS/ {print int($2/1024)}' /proc/$pid/status) MiB."
  keep_data=""
  stop_server
fi

if [ "$part" = all ] || [ "$part" = redis ]; then
  redis_env() { echo LIVECHART_HISTORY_STORE=redis LIVECHART_REDIS_URL="redis+unix://$redis_dir/redis.sock"; }
  echo
  echo "| store | batch | clients | points/s accepted | request p50 ms | p99 ms | server CPU (cores) | Redis CPU (cores) |"
  echo "| --- | --- | --- | --- | --- | --- | --- | --- |"
  for spec in "1 4" "100 4" "1000 4"; do
    set -- $spec
    for mode in embedded redis-everysec redis-always; do
      case $mode in
        embedded) STORE=embedded; start_server; watch="" ;;
        redis-*) FSYNC=${mode#redis-}; start_redis; STORE=redis start_server $(redis_env); watch="--watch-pid $redis_pid" ;;
      esac
      r=$(load --ingest-clients "$2" --points "$1" --seconds 10 $watch)
      echo "$r" >>"$out/redis-ingest.jsonl"
      echo "| $mode | $1 | $2 | $(field "$r" 'round(points_per_s)') | $(field "$r" 'request_ms["p50"]') | $(field "$r" 'request_ms["p99"]') | $(field "$r" "round(server['cpu_s']/10, 2)") | $(field "$r" "round(watched[0]['cpu_s']/10, 2) if watched else '-'") |"
      stop_server; stop_redis
    done
  done
  echo
  echo "| store | nodes × viewers × rate | deliveries/s | gaps | dups | p50 ms | p99 ms | p99.9 ms | node A CPU | node B CPU | Redis CPU | generator CPU (cores) |"
  echo "| --- | --- | --- | --- | --- | --- | --- | --- | --- | --- | --- | --- |"
  secs=30.5
  for mode in embedded redis embedded-10k redis-10k redis-2; do
    case $mode in
      embedded) STORE=embedded; start_server; r=$(load --viewers 1000 --rate 10 --seconds 30) ;;
      embedded-10k) STORE=embedded; start_server; r=$(load --viewers 10000 --rate 10 --seconds 30) ;;
      redis) start_redis; STORE=redis start_server $(redis_env)
        r=$(load --viewers 1000 --rate 10 --seconds 30 --watch-pid "$redis_pid") ;;
      redis-10k) start_redis; STORE=redis start_server $(redis_env)
        r=$(load --viewers 10000 --rate 10 --seconds 30 --watch-pid "$redis_pid") ;;
      redis-2) start_redis; STORE=redis start_server $(redis_env)
        # The second node, on the next port, the same Redis.
        env LEPTOS_SITE_ADDR=127.0.0.1:$((port + 1)) LEPTOS_SITE_ROOT=target/site RUST_LOG=warn \
          LIVECHART_LIMITS_MAX_VIEWERS=20000 LIVECHART_SYSTEM_ENABLED=false \
          LIVECHART_CLASSIC_ENABLED=false LIVECHART_DEMO_ENABLED=false $(redis_env) \
          "$bin" >>"$out/server.log" 2>&1 &
        node_b=$!
        for _ in $(seq 100); do curl -sf "http://127.0.0.1:$((port + 1))/healthz" >/dev/null && break; sleep 0.1; done
        # The stream exists on both nodes before viewers connect to either.
        curl -sf -H 'content-type: application/json' -d '{"value": 0}' "http://127.0.0.1:$port/api/streams/load/points" >/dev/null
        for _ in $(seq 100); do curl -sf "http://127.0.0.1:$((port + 1))/api/streams" | grep -q '"load"' && break; sleep 0.1; done
        r=$(load --viewers 10000 --rate 10 --seconds 30 --also-url "http://127.0.0.1:$((port + 1))" \
          --watch-pid "$node_b" --watch-pid "$redis_pid") ;;
    esac
    echo "$r" >>"$out/redis-fanout.jsonl"
    echo "| ${mode%-10k} | $(field "$r" "'2 × 5000' if len(watched) == 2 else '1 × ' + str(connected)") × 10/s | $(field "$r" 'round(deliveries_per_s)') | $(field "$r" gaps) | $(field "$r" duplicates) | $(field "$r" 'latency_ms["p50"]') | $(field "$r" 'latency_ms["p99"]') | $(field "$r" 'latency_ms["p999"]') | $(field "$r" "round(server['cpu_s']/$secs, 2)") | $(field "$r" "round(watched[0]['cpu_s']/$secs, 2) if len(watched) == 2 else '-'") | $(field "$r" "round(watched[-1]['cpu_s']/$secs, 2) if watched else '-'") | $(field "$r" "round(generator['cpu_s']/$secs, 2)") |"
    stop_server; stop_redis
  done
  # Idle viewers on one node of a cluster: the same per-viewer cost as on a single server?
  start_redis; STORE=redis start_server $(redis_env)
  base=$(awk '/VmRSS/ {print $2}' /proc/$pid/status)
  r=$(load --viewers 19000 --rate 0 --seconds 20 --watch-pid "$redis_pid")
  echo "$r" >>"$out/redis-idle.jsonl"
  rss=$(field "$r" 'server["peak_rss_kib"]')
  echo
  echo "Idle viewers on one node with Redis: $(field "$r" connected) held for 20 s, server RSS $((rss / 1024)) MiB, $(( (rss - base) * 1024 / 19000 )) B per viewer (slope from 0), Redis RSS $(field "$r" "watched[0]['rss_kib']//1024") MiB."
  stop_server; stop_redis
  unset STORE FSYNC
fi

if [ "$part" = nchan ]; then
  # The same load against Livechart and against nchan, in alternating pairs within one run:
  # only same-run ratios mean anything on a shared 2-core box. PAIRS pairs per case (3).
  # PIN=1 puts the server (either) on core 0 and the generator on core 1 (taskset), so that
  # each side has a core of its own: what the server alone does per core.
  # BASELINE_BIN=path also runs another Livechart build in each pair (before/after figures
  # from one run; the generator is always this build's).
  # BUSY=n keeps n busy loops running at nice -5 throughout: a box shared with other work.
  secs=${SECONDS_EACH:-15}
  for _ in $(seq "${BUSY:-0}"); do
    nice -n -5 sh -c 'while :; do :; done' &
    busy_pids+=("$!")
  done
  if [ "${PIN:-0}" = 1 ]; then
    server_prefix=(taskset -c 0); gen_cmd=(taskset -c 1 "$gen"); nginx_cmd=(taskset -c 0 nginx)
  else
    gen_cmd=("$gen"); nginx_cmd=(nginx)
  fi
  echo
  echo "| viewers × rate | server | deliveries/s | gaps | dups | p50 ms | p99 ms | p99.9 ms | max ms | server CPU s | CPU µs per delivery | generator CPU s |"
  echo "| --- | --- | --- | --- | --- | --- | --- | --- | --- | --- | --- | --- |"
  row() { # $1: the report, $2: the server's name, $3: an expression of its CPU seconds
    echo "| $(field "$1" connected) × 10/s | $2 | $(field "$1" 'round(deliveries_per_s)') | $(field "$1" gaps) | $(field "$1" duplicates) | $(field "$1" 'latency_ms["p50"]') | $(field "$1" 'latency_ms["p99"]') | $(field "$1" 'latency_ms["p999"]') | $(field "$1" 'latency_ms["max"]') | $(field "$1" "round($3, 2)") | $(field "$1" "round(($3) * 1e6 / max(1, delivered_events), 2)") | $(field "$1" "round(generator['cpu_s'], 2)") |"
  }
  for n in ${VIEWERS:-1000 5000 10000}; do
    for _ in $(seq "${PAIRS:-3}"); do
      start_server
      r=$("${gen_cmd[@]}" load --url "http://127.0.0.1:$port" --server-pid "$pid" --sources 8 \
        --viewers "$n" --rate 10 --seconds "$secs" 2>/dev/null)
      stop_server
      echo "$r" >>"$out/nchan.jsonl"
      row "$r" Livechart "server['cpu_s']"
      if [ -n "${BASELINE_BIN:-}" ]; then
        current=$bin; bin=$BASELINE_BIN
        start_server
        r=$("${gen_cmd[@]}" load --url "http://127.0.0.1:$port" --server-pid "$pid" --sources 8 \
          --viewers "$n" --rate 10 --seconds "$secs" 2>/dev/null)
        stop_server
        bin=$current
        echo "$r" >>"$out/nchan.jsonl"
        row "$r" "Livechart (baseline)" "server['cpu_s']"
      fi
      start_nchan
      watch=(); for p in $(nchan_pids); do watch+=(--watch-pid "$p"); done
      r=$("${gen_cmd[@]}" load --sources 8 --viewers "$n" --rate 10 --seconds "$secs" "${watch[@]}" \
        --peer-subscribe "http://127.0.0.1:$((port + 2))/sub/load" \
        --peer-publish "http://127.0.0.1:$((port + 2))/pub/load" 2>/dev/null)
      stop_nchan
      echo "$r" >>"$out/nchan.jsonl"
      row "$r" nchan "sum(w['cpu_s'] for w in watched)"
    done
  done
fi

if [ "$part" = profile ]; then
  # Where each server's time goes at VIEWERS (5,000) × 10/s: 5 s into a 25 s run, `perf stat`
  # for 5 s, then `perf record` for 8 s (nginx: its workers). The top of each `perf report` is
  # kept in target/bench/profile-<server>.txt.
  n=${VIEWERS:-5000}
  profile() { # $1: the server's name, then its pids
    local name=$1; shift
    local pids; pids=$(IFS=,; echo "$*")
    sleep 5
    perf stat -e task-clock,context-switches,raw_syscalls:sys_enter -p "$pids" -o "$out/stat-$name.txt" -- sleep 5 >/dev/null 2>&1
    perf record -F 997 -g -p "$pids" -o "$out/perf-$name.data" -- sleep 8 >/dev/null 2>&1
    perf report -i "$out/perf-$name.data" --no-children --sort dso,symbol --stdio -g none 2>/dev/null \
      | grep '%' >"$out/profile-$name.txt"
    python3 - "$name" "$out/stat-$name.txt" "$out/profile-$name.txt" "$n" <<'PY'
import re, sys
name, stat, report, n = sys.argv[1], open(sys.argv[2]).read(), open(sys.argv[3]).read(), int(sys.argv[4])
def counter(event):
    m = re.search(r"([\d,.]+)\s+(?:msec\s+)?" + re.escape(event), stat)
    return float(m.group(1).replace(",", "")) if m else 0.0
ms, calls, switches = counter("task-clock"), counter("raw_syscalls:sys_enter"), counter("context-switches")
kernel = sum(float(l.split("%")[0]) for l in report.splitlines() if "[k]" in l)
deliveries = n * 10 * 5
print(f"| {name} | {ms:.0f} ms | {ms * 1000 / deliveries:.2f} µs | {calls / deliveries:.2f} | {switches:.0f} | {kernel:.0f} % | {100 - kernel:.0f} % |")
PY
  }
  echo
  echo "| $n × 10/s, 5 s | server CPU | per delivery | system calls per delivery | context switches | kernel | user |"
  echo "| --- | --- | --- | --- | --- | --- | --- |"
  start_server
  load --viewers "$n" --rate 10 --seconds 25 >/dev/null &
  gen_pid=$!
  profile livechart "$pid"
  wait "$gen_pid"
  stop_server
  start_nchan
  "$gen" load --sources 8 --viewers "$n" --rate 10 --seconds 25 \
    --peer-subscribe "http://127.0.0.1:$((port + 2))/sub/load" \
    --peer-publish "http://127.0.0.1:$((port + 2))/pub/load" >/dev/null 2>&1 &
  gen_pid=$!
  # shellcheck disable=SC2046 # one pid each
  profile nchan $(pgrep -P "$nchan_pid")
  wait "$gen_pid"
  stop_nchan
  echo
  echo "Top symbols: $out/profile-livechart.txt and $out/profile-nchan.txt (perf report --no-children)."
fi
