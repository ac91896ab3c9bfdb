#!/usr/bin/env bash
# Memory per step: peak RSS of scenarios of 1, 100, 1,000 and 10,000 literal steps, each
# run at 4 VUs for a few seconds against ../shared/bench's target, in two shapes:
#
#   active: one flow whose every step is sent (each step records on every thread);
#   idle:   the same steps declared, but the first step fails its check and ends every
#           iteration, so only it records (what a declared step costs before it is used).
#
#   bench/step_memory.sh [PATH_TO_STAMPEDE] [SECONDS] [COUNTS]
#   (defaults: release binary, 5, "1 100 1000 10000")
#
# Then 50 connections on `/` (the throughput benchmark's shape) for the base figure.
# Prints one row per run: shape, steps, peak RSS, requests sent, requests in the first
# second, and the cost per step over the 1-step run. Load goes only to 127.0.0.1.
set -euo pipefail
bin=$(readlink -f "${1:-target/release/stampede}"); secs=${2:-5}; counts=${3:-1 100 1000 10000}
here=$(cd "$(dirname "$0")/.." && pwd); shared="$here/../shared/bench"
[ -x "$bin" ] || { echo "no stampede binary at $bin (cargo build --release)"; exit 2; }
(cd "$shared/target" && cargo build --release -q)
port=$(python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])')
"$shared/target/target/release/bench-target" "127.0.0.1:$port" >/dev/null 2>&1 &
tpid=$!; out=$(mktemp -d); trap 'kill $tpid 2>/dev/null; rm -rf "$out"; true' EXIT
for _ in $(seq 50); do curl -s -o /dev/null "http://127.0.0.1:$port/" && break; sleep 0.1; done

scenario() {  # shape steps -> path
  local shape=$1 n=$2 f="$out/$1-$2.yaml"
  {
    echo "name: steps-$n"
    echo "target: http://127.0.0.1:$port"
    echo "load: { vus: 4, duration: ${secs}s }"
    echo "flows:"
    echo "  - steps:"
    for i in $(seq 1 "$n"); do
      if [ "$shape" = idle ] && [ "$i" = 1 ]; then
        echo "      - { name: s$i, get: /, expect: { status: 299 } }"
      else
        echo "      - { name: s$i, get: /?s=$i }"
      fi
    done
  } >"$f"
  echo "$f"
}

run() {  # label file -> "rss_kib requests first_second"
  local json="$out/r.json"
  rm -f "$json"
  /usr/bin/time -f "RSS %M" "$bin" run "$2" --headless --quiet --json "$json" >"$out/log" 2>&1 || true
  local rss; rss=$(grep -o 'RSS [0-9]*' "$out/log" | tail -1 | cut -d' ' -f2)
  python3 - "$json" "$rss" <<'PY'
import json, sys
try:
    d = json.load(open(sys.argv[1]))
except (OSError, ValueError):
    print(sys.argv[2], "failed", "-"); sys.exit(0)
s = d["series"]
first = sum(n for t, n in zip(s["t_s"], s["total"]["requests"]) if t <= 1.0)
print(sys.argv[2], d["total"]["requests"], first)
PY
}

printf '%-7s %7s %10s %10s %10s %14s\n' shape steps "RSS MiB" requests "in 1st s" "KiB per step"
for shape in active idle; do
  base=""
  for n in $counts; do
    read -r rss reqs first < <(run "$shape" "$(scenario "$shape" "$n")")
    [ -z "$base" ] && base=$rss
    per="-"; [ "$n" -gt 1 ] && per=$(( (rss - base) / (n - 1) ))
    printf '%-7s %7s %10.1f %10s %10s %14s\n' "$shape" "$n" "$(awk -v r="$rss" 'BEGIN{print r/1024}')" "$reqs" "$first" "$per"
  done
done
/usr/bin/time -f "RSS %M" "$bin" run --url "http://127.0.0.1:$port/" --vus 50 --duration "${secs}s" --headless --quiet >"$out/log" 2>&1 || true
echo "50 connections on /: peak RSS $(grep -o 'RSS [0-9]*' "$out/log" | tail -1 | cut -d' ' -f2) KiB"
