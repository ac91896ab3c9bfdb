#!/usr/bin/env bash
# Soak: a long run at a modest fixed rate, stampede's resident memory sampled every 10 s.
# Memory must stay flat: histograms are fixed-size and nothing is kept per request.
#
#   bench/soak.sh [PATH_TO_STAMPEDE] [MINUTES] [RATE]     (defaults: release binary, 10, 500/s)
#
# RATE may also be a user count, `50vus`: the closed model at full speed (the throughput
# benchmark's shape: `bench/soak.sh target/release/stampede 1 50vus` is the 60 s memory
# check at 50 connections). Runs under 5 minutes judge growth after 10 s, not 60 s.
#
# Load goes only to ../shared/bench's target on 127.0.0.1. Prints one line per sample
# (seconds, RSS in KiB, open file descriptors: the connections stampede holds), then the
# growth after the first minute and the slope over it.
set -euo pipefail
bin=$(readlink -f "${1:-target/release/stampede}"); minutes=${2:-10}; rate=${3:-500/s}
here=$(cd "$(dirname "$0")/.." && pwd); shared="$here/../shared/bench"
[ -x "$bin" ] || { echo "no stampede binary at $bin (cargo build --release)"; exit 2; }
(cd "$shared/target" && cargo build --release -q)
port=$(python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])')
"$shared/target/target/release/bench-target" "127.0.0.1:$port" >/dev/null 2>&1 &
tpid=$!; out=$(mktemp -d)
trap 'kill $tpid ${spid:-} 2>/dev/null; true' EXIT
sleep 0.5
case $rate in
  *vus) model="vus: ${rate%vus}" ;;
  *) model="rate: $rate" ;;
esac
settle=60; [ "$minutes" -lt 5 ] && settle=10
# Two steps that exercise templates, a body check and an extraction on every iteration.
cat > "$out/soak.yaml" <<YAML
name: soak
target: http://127.0.0.1:$port
load: { $model, duration: ${minutes}m }
flows:
  - steps:
      - name: page
        get: /4k
        query: { q: "{{ random_string(8) }}", user: "{{ uuid() }}" }
        expect: { status: 200, body: [ { contains: "x", name: has text } ] }
        extract: { first: { regex: "^(.)" } }
      - name: root
        get: /?from={{ first }}
YAML
"$bin" run "$out/soak.yaml" --headless --json "$out/soak.json" >"$out/summary.txt" 2>"$out/progress.txt" &
spid=$!
echo "seconds rss_kib fds"
t=0
while kill -0 $spid 2>/dev/null; do
  rss=$(awk '/^VmRSS/ {print $2}' /proc/$spid/status 2>/dev/null || true)
  fds=$(ls /proc/$spid/fd 2>/dev/null | wc -l)
  [ -n "$rss" ] && echo "$t $rss $fds" | tee -a "$out/rss"
  sleep 5; t=$((t + 5))
done
wait $spid || true
python3 - "$out/rss" "$out/soak.json" "$settle" <<'PY'
import json, sys
settle = int(sys.argv[3])
rows = [tuple(map(int, l.split()))[:2] for l in open(sys.argv[1]) if l.strip()]
fds = [int(l.split()[2]) for l in open(sys.argv[1]) if l.strip()]
after = [(t, r) for t, r in rows if t >= settle]
doc = json.load(open(sys.argv[2]))
print(f"requests {doc['total']['requests']}, errors {doc['total']['errors']}, dropped {doc['dropped']}")
if len(after) < 2:
    print(f"run too short to judge (needs samples after {settle} s)"); sys.exit(0)
first, last = after[0][1], after[-1][1]
n = len(after); mt = sum(t for t, _ in after) / n; mr = sum(r for _, r in after) / n
slope = sum((t - mt) * (r - mr) for t, r in after) / sum((t - mt) ** 2 for t, _ in after)
print(f"open files: {min(fds)} to {max(fds)}")
print(f"RSS at {settle} s {first} KiB, at end {last} KiB, peak {max(r for _, r in rows)} KiB")
print(f"growth after {settle} s {100 * (last - first) / first:+.2f} %, "
      f"slope {slope * 60:+.1f} KiB/min (goal: flat, under 2 %)")
PY
