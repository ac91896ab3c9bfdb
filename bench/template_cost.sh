#!/usr/bin/env bash
# The hot-path cost of the scenario language: requests/s of a two-step flow written with
# templates and an extraction, and of the same flow with literal values, interleaved, three
# runs each (50 VUs). Load goes only to ../shared/bench's target on 127.0.0.1 (pinned to
# CPU 0; stampede to CPU 1).
#
#   bench/template_cost.sh [PATH_TO_STAMPEDE] [SECONDS]
set -euo pipefail
bin=$(readlink -f "${1:-target/release/stampede}"); secs=${2:-10}
here=$(cd "$(dirname "$0")/.." && pwd); shared="$here/../shared/bench"
(cd "$shared/target" && cargo build --release -q)
port=$(python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])')
taskset -c 0 "$shared/target/target/release/bench-target" "127.0.0.1:$port" >/dev/null 2>&1 &
tpid=$!; out=$(mktemp -d)
trap 'kill $tpid 2>/dev/null; true' EXIT
sleep 0.5
cat > "$out/templated.yaml" <<YAML
target: http://127.0.0.1:$port
load: { vus: 50, duration: ${secs}s }
flows:
  - steps:
      - name: first
        get: "/?user={{ random_int(1, 100000) }}"
        headers: { x-request-id: "{{ uuid() }}" }
        extract: { part: { regex: "h(ell)o" } }
      - name: second
        get: "/?g={{ part }}&vu={{ vu() }}&i={{ iteration() }}"
YAML
cat > "$out/literal.yaml" <<YAML
target: http://127.0.0.1:$port
load: { vus: 50, duration: ${secs}s }
flows:
  - steps:
      - name: first
        get: "/?user=42"
        headers: { x-request-id: 6f1c2a4e-9d3b-4c7a-8e21-0b5d9f3a7c64 }
      - name: second
        get: "/?g=ell&vu=7&i=12"
YAML
rps() { python3 -c "import json,sys; print(round(json.load(open(sys.argv[1]))['total']['rps']))" "$1"; }
echo "run  templated_rps  literal_rps"
for r in 1 2 3; do
  taskset -c 1 "$bin" run "$out/templated.yaml" --headless --json "$out/t$r.json" >/dev/null 2>&1
  taskset -c 1 "$bin" run "$out/literal.yaml" --headless --json "$out/l$r.json" >/dev/null 2>&1
  echo "$r    $(rps "$out/t$r.json")    $(rps "$out/l$r.json")"
done | tee "$out/rows"
python3 - "$out/rows" <<'PY'
import statistics, sys
rows = [l.split() for l in open(sys.argv[1])]
t = statistics.median(int(r[1]) for r in rows); l = statistics.median(int(r[2]) for r in rows)
print(f"median templated {t:.0f} rps, literal {l:.0f} rps: templated/literal = {t / l:.3f}")
PY
