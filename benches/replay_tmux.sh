#!/usr/bin/env bash
# The `replay` rows of docs/performance.md: opens FILE in the terminal UI
# (a detached tmux session, 150x40), polls the screen every 100 ms until
# the first row of the connection list is drawn, then reads the process's
# peak and resident memory from /proc. Usage:
#   benches/replay_tmux.sh BINARY FILE
# prints "first frame S, list S, VmHWM: … kB, VmRSS: … kB".
set -euo pipefail
BIN=$1
FILE=$2
SESSION="replay-bench-$$"
command -v tmux >/dev/null || { echo "replay_tmux: tmux is not installed" >&2; exit 1; }
# A tmux server of its own, so a user's sessions are neither seen nor hit.
tmux() { command tmux -L "$SESSION" "$@"; }
trap 'tmux kill-server 2>/dev/null || true' EXIT
start=$(date +%s.%N)
tmux new-session -d -s "$SESSION" -x 150 -y 40 "$BIN replay $FILE --step; sleep 30"
first="" list=""
for _ in $(seq 1 900); do
  sleep 0.1
  pane=$(tmux capture-pane -p -t "$SESSION" 2>/dev/null || true)
  now=$(date +%s.%N)
  if [ -z "$first" ] && grep -q "connections\|reading" <<<"$pane"; then
    first=$(echo "$now - $start" | bc)
  fi
  # The list's first row: "┃1    client → server …".
  if grep -qE "^┃1 +[0-9a-f.:\[]" <<<"$pane"; then
    list=$(echo "$now - $start" | bc)
    break
  fi
done
pid=$(pgrep -f "^$BIN replay $FILE" | head -1)
sleep 1
echo "first frame ${first}s, list ${list}s, $(grep VmHWM /proc/"$pid"/status | tr -s '\t ' ' '), $(grep VmRSS /proc/"$pid"/status | tr -s '\t ' ' ')"
tmux send-keys -t "$SESSION" q
