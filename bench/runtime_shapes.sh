#!/usr/bin/env bash
# The two runtime shapes side by side: `--runtime per-core` (one single-threaded runtime per
# load thread, the default) and `--runtime shared` (one work-stealing runtime), three
# interleaved runs each, requests/s and CPU per request (user and sys µs).
#
#   bench/runtime_shapes.sh [PATH_TO_STAMPEDE] [SECONDS] [CONNECTIONS] [GENERATOR_CPUS]
#
# The target (../shared/bench, one thread) is pinned to CPU 0; stampede runs on
# GENERATOR_CPUS (default 1; "0,1" with --threads 2 measures two load threads, sharing a
# core with the target, so there the CPU per request is the figure to read, not the rate).
# Load goes only to 127.0.0.1.
set -euo pipefail
bin=$(readlink -f "${1:-target/release/stampede}"); secs=${2:-5}; conns=${3:-50}; cpus=${4:-1}
here=$(cd "$(dirname "$0")/.." && pwd); shared="$here/../shared/bench"
[ -x "$bin" ] || { echo "no stampede binary at $bin (cargo build --release)"; exit 2; }
(cd "$shared/target" && cargo build --release -q)
port=$(python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])')
taskset -c 0 "$shared/target/target/release/bench-target" "127.0.0.1:$port" >/dev/null 2>&1 &
tpid=$!; out=$(mktemp -d); trap 'kill $tpid 2>/dev/null; true' EXIT
for _ in $(seq 50); do curl -s -o /dev/null "http://127.0.0.1:$port/" && break; sleep 0.1; done
threads=$(( $(tr ',' '\n' <<<"$cpus" | wc -l) ))
for r in 1 2 3; do
  for shape in per-core shared; do
    /usr/bin/time -f "%U %S" -o "$out/time" taskset -c "$cpus" "$bin" run --url "http://127.0.0.1:$port/" \
      --vus "$conns" --duration "${secs}s" --runtime "$shape" --threads "$threads" --headless \
      --json "$out/r.json" >/dev/null 2>&1 || true
    read -r u s <"$out/time"
    python3 -c "import json; t=json.load(open('$out/r.json'))['total']; print('$shape', t['rps'], $u * 1e6 / t['requests'], $s * 1e6 / t['requests'])"
  done
done >"$out/rows"
python3 - "$out/rows" "$conns" "$cpus" <<'PY'
import statistics, sys
rows = {}
for line in open(sys.argv[1]):
    shape, rps, user, sys_ = line.split()
    rows.setdefault(shape, []).append((float(rps), float(user), float(sys_)))
print(f"{sys.argv[2]} connections, load on CPU(s) {sys.argv[3]}")
print(f"{'shape':10} {'median rps':>11} {'user µs/req':>12} {'sys µs/req':>11}   runs")
for shape, v in rows.items():
    med = lambda i: statistics.median(r[i] for r in v)
    print(f"{shape:10} {med(0):11,.0f} {med(1):12.2f} {med(2):11.2f}   " + ", ".join(f"{r[0]:,.0f}" for r in v))
PY
