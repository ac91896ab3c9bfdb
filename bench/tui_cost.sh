#!/usr/bin/env bash
# The dashboard's cost: requests/s of the same run with the TUI (inside tmux) and headless,
# interleaved, three times each; then the CPU time the dashboard adds at a light fixed load.
#
#   bench/tui_cost.sh [PATH_TO_STAMPEDE] [SECONDS]
#
# Load goes only to ../shared/bench's target on 127.0.0.1 (pinned to CPU 0; stampede to CPU 1).
set -euo pipefail
bin=$(readlink -f "${1:-target/release/stampede}"); secs=${2:-10}
here=$(cd "$(dirname "$0")/.." && pwd); shared="$here/../shared/bench"
command -v tmux >/dev/null || { echo "needs tmux"; exit 2; }
(cd "$shared/target" && cargo build --release -q)
port=$(python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])')
taskset -c 0 "$shared/target/target/release/bench-target" "127.0.0.1:$port" >/dev/null 2>&1 &
tpid=$!; out=$(mktemp -d); sock="tui-cost-$$"
trap 'kill $tpid 2>/dev/null; tmux -L $sock kill-server 2>/dev/null; true' EXIT
sleep 0.5
url="http://127.0.0.1:$port/"
rps() { python3 -c "import json,sys; print(round(json.load(open(sys.argv[1]))['total']['rps']))" "$1"; }
in_tmux() {  # args... : run a command in a 160x48 tmux pane and wait for it to exit
  printf '%q ' "$@" > "$out/cmd.sh"
  tmux -L "$sock" new-session -d -s b -x 160 -y 48 "bash $out/cmd.sh; tmux -L $sock wait-for -S done"
  tmux -L "$sock" wait-for done; tmux -L "$sock" kill-server 2>/dev/null || true
}
echo "run  tui_rps  headless_rps"
for r in 1 2 3; do
  in_tmux taskset -c 1 "$bin" run --url "$url" --vus 50 --duration "${secs}s" --exit-on-end --json "$out/t$r.json"
  taskset -c 1 "$bin" run --url "$url" --vus 50 --duration "${secs}s" --headless --json "$out/h$r.json" >/dev/null 2>&1
  echo "$r    $(rps "$out/t$r.json")    $(rps "$out/h$r.json")"
done | tee "$out/rows"
python3 - "$out/rows" <<'PY'
import statistics, sys
rows = [l.split() for l in open(sys.argv[1]) if l[0].isdigit()]
t = statistics.median(float(r[1]) for r in rows); h = statistics.median(float(r[2]) for r in rows)
print(f"median tui {t:,.0f} rps, headless {h:,.0f} rps, difference {100 * (h - t) / h:+.1f} %")
PY
# CPU per second of run at a light open-model load (100/s), with and without the dashboard.
cpu() { /usr/bin/time -f "%U %S" -o "$out/cpu" "$@" >/dev/null 2>&1 || true; awk '{print $1 + $2}' "$out/cpu"; }
light=(run --url "$url" --rate 100/s --duration "${secs}s")
in_tmux /usr/bin/time -f "%U %S" -o "$out/cpu_tui" taskset -c 1 "$bin" "${light[@]}" --exit-on-end
tui_cpu=$(awk '{print $1 + $2}' "$out/cpu_tui")
head_cpu=$(cpu taskset -c 1 "$bin" "${light[@]}" --headless)
python3 -c "t=$tui_cpu; h=$head_cpu; s=$secs; print(f'CPU at 100/s: tui {t:.2f} s, headless {h:.2f} s over {s} s: rendering costs {100*(t-h)/s:.1f} % of a core')"
