#!/usr/bin/env bash
# Throughput side by side: wrk, oha (when installed) and stampede against ../shared/bench's
# target, in one run, so the ratios compare like with like on this (noisy) machine.
#
#   bench/throughput.sh [PATH_TO_STAMPEDE] [SECONDS]      (defaults: release binary, 10)
#
# The target is pinned to CPU 0 and each generator to CPU 1 (one core each). For 50 and 1000
# connections on `/`, and 50 on `/4k`, every tool runs 3 times, interleaved; the tables give
# the median rps, the ratio to wrk, CPU per request (user and sys µs) and peak RSS. Then the
# open model at 20,000/s (stampede alone: count, latency p50 − service p50, send lag p99), and
# /delay/10 at 50 connections against the target's own record of its handler time (/_stats),
# and 10,000 connections (stampede, then wrk) for the error-free count. `stampede-per-core`
# is stampede with `--runtime per-core` beside the default (one work-stealing runtime).
# Load goes only to 127.0.0.1. Peers: apt-get install wrk; cargo install oha --locked.
set -euo pipefail
bin=$(readlink -f "${1:-target/release/stampede}"); secs=${2:-10}
here=$(cd "$(dirname "$0")/.." && pwd); shared="$here/../shared/bench"
[ -x "$bin" ] || { echo "no stampede binary at $bin (cargo build --release)"; exit 2; }
command -v taskset >/dev/null || { echo "taskset missing (apt-get install util-linux)"; exit 2; }
(cd "$shared/target" && cargo build --release -q)
port=$(python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])')
taskset -c 0 "$shared/target/target/release/bench-target" "127.0.0.1:$port" >/dev/null 2>&1 &
tpid=$!; out=$(mktemp -d); trap 'kill $tpid 2>/dev/null; true' EXIT
for _ in $(seq 50); do curl -s -o /dev/null "http://127.0.0.1:$port/" && break; sleep 0.1; done
base="http://127.0.0.1:$port"
# 10,000 connections need 10,000 descriptors on each side (the target inherits this limit).
ulimit -n "$(ulimit -Hn)" 2>/dev/null || true
tools="stampede stampede-per-core"; command -v wrk >/dev/null && tools="wrk $tools"; command -v oha >/dev/null && tools="$tools oha"

# One run of one tool: prints "rps user_us_per_request sys_us_per_request rss_kib".
run_tool() {  # tool conns route tag
  local t=$1 c=$2 url="$base$3" log="$out/$1.$4.log" rps n
  case $t in
    wrk) /usr/bin/time -f "TIME %U %S %M" taskset -c 1 wrk -t1 -c"$c" -d"${secs}s" "$url" >"$log" 2>&1 || true
         rps=$(awk '/Requests\/sec/ {print $2}' "$log"); n=$(awk '/requests in/ {print $1}' "$log") ;;
    oha) /usr/bin/time -f "TIME %U %S %M" taskset -c 1 oha --no-tui -c "$c" -z "${secs}s" --output-format json "$url" >"$log" 2>&1 || true
         read -r rps n < <(python3 -c "import json; t=open('$log').read(); d=json.loads(t[t.index('{'):t.rindex('}')+1]); s=d['summary']; print(s['requestsPerSec'], round(s['requestsPerSec']*s['total']))") ;;
    stampede*) local shape=shared; [ "$t" = stampede-per-core ] && shape=per-core
         /usr/bin/time -f "TIME %U %S %M" taskset -c 1 "$bin" run --url "$url" --vus "$c" --duration "${secs}s" --runtime "$shape" --headless --json "$out/s.$4.json" >"$log" 2>&1 || true
         read -r rps n < <(python3 -c "import json; d=json.load(open('$out/s.$4.json'))['total']; print(d['rps'], d['requests'])") ;;
  esac
  # (oha's JSON ends without a newline, so time's line may follow it on the same line)
  read -r _ u s m < <(grep -o 'TIME .*' "$log" | tail -1)
  python3 -c "print($rps, round($u * 1e6 / max($n, 1), 2), round($s * 1e6 / max($n, 1), 2), $m)"
}

table() {  # title conns route
  echo; echo "== $1"
  : >"$out/rows"
  for r in 1 2 3; do for t in $tools; do echo "$t $(run_tool "$t" "$2" "$3" "$2.$r.$t")" >>"$out/rows"; done; done
  python3 - "$out/rows" <<'PY'
import statistics, sys
rows = {}
for line in open(sys.argv[1]):
    t, rps, user, sys_, rss = line.split()
    rows.setdefault(t, []).append((float(rps), float(user), float(sys_), int(rss)))
med = {t: statistics.median(r[0] for r in v) for t, v in rows.items()}
base = med.get("wrk")
print(f"{'tool':16} {'median rps':>11} {'vs wrk':>7} {'user µs/req':>12} {'sys µs/req':>11}"
      f" {'peak RSS MB':>12}   runs")
for t, v in rows.items():
    ratio = f"{med[t] / base:.2f}" if base else "n/a"
    user = statistics.median(r[1] for r in v)
    sys_ = statistics.median(r[2] for r in v)
    print(f"{t:16} {med[t]:11,.0f} {ratio:>7} {user:12.2f} {sys_:11.2f}"
          f" {max(r[3] for r in v) / 1024:12.1f}   " + ", ".join(f"{r[0]:,.0f}" for r in v))
PY
}

table "50 connections, /" 50 /
table "1000 connections, /" 1000 /
table "50 connections, /4k" 50 /4k

echo; echo "== open model, 20,000/s for ${secs}s (stampede)"
cat >"$out/open.yaml" <<YAML
target: $base
load: { rate: 20000/s, duration: ${secs}s, max_in_flight: 1000 }
flows: [ { steps: [ { get: / } ] } ]
YAML
taskset -c 1 "$bin" run "$out/open.yaml" --headless --json "$out/open.json" >/dev/null 2>&1 || true
python3 - "$out/open.json" "$secs" <<'PY'
import json, sys
d = json.load(open(sys.argv[1])); t = d["total"]; planned = 20000 * int(sys.argv[2])
print(f"planned {planned:,} · sent {t['requests'] + t['interrupted']:,} · dropped {d['dropped']:,}")
print(f"latency p50 {t['latency_ms']['p50']:.3f} ms − service p50 {t['service_time_ms']['p50']:.3f} ms"
      f" = {t['latency_ms']['p50'] - t['service_time_ms']['p50']:.3f} ms")
print(f"send lag p50 {t['send_lag_ms']['p50'] * 1000:.0f} µs · p99 {t['send_lag_ms']['p99'] * 1000:.0f} µs")
PY

echo; echo "== /delay/10 at 50 connections: p50 against the server's own (its /_stats)"
for t in ${tools/ stampede-per-core/}; do
  curl -s "$base/_reset" >/dev/null
  case $t in
    wrk) taskset -c 1 wrk -t1 -c50 -d"${secs}s" --latency "$base/delay/10" >"$out/d.$t" 2>&1 || true
         p50=$(awk '$1 == "50%" {print $2}' "$out/d.$t") ;;
    oha) taskset -c 1 oha --no-tui -c 50 -z "${secs}s" --output-format json "$base/delay/10" >"$out/d.$t" 2>&1 || true
         p50=$(python3 -c "import json; t=open('$out/d.$t').read(); d=json.loads(t[t.index('{'):t.rindex('}')+1]); print(f\"{d['latencyPercentiles']['p50']*1000:.3f}ms\")") ;;
    stampede) taskset -c 1 "$bin" run --url "$base/delay/10" --vus 50 --duration "${secs}s" --headless --json "$out/d.json" >/dev/null 2>&1 || true
         p50=$(python3 -c "import json; print(f\"{json.load(open('$out/d.json'))['total']['latency_ms']['p50']:.3f}ms\")") ;;
  esac
  server=$(curl -s "$base/_stats" | tr ' ' '\n' | awk -F= '$1 == "p50_us" {printf "%.3fms", $2 / 1000}')
  echo "$t: client p50 $p50 · server p50 $server"
done

echo; echo "== 10,000 connections for ${secs}s"
taskset -c 1 "$bin" run --url "$base/" --vus 10000 --duration "${secs}s" --headless --json "$out/10k.json" >"$out/10k.log" 2>&1 || true
python3 - "$out/10k.json" <<'PY'
import json, sys
try: t = json.load(open(sys.argv[1]))["total"]
except (OSError, ValueError): print("stampede: no result (see its log)"); sys.exit(0)
errors = sum(t.get("errors", {}).values()) if isinstance(t.get("errors"), dict) else t.get("errors")
print(f"stampede: {t['rps']:,.0f} rps · {t['requests']:,} requests · errors {errors} · p99 {t['latency_ms']['p99']:.1f} ms")
PY
if command -v wrk >/dev/null; then
  taskset -c 1 wrk -t1 -c10000 -d"${secs}s" "$base/" 2>&1 | awk '/Requests\/sec|Socket errors|requests in/ {print "wrk: " $0}'
fi
