#!/usr/bin/env bash
# Drives the real binary in a real terminal (tmux): opens a capture, steps,
# opens the help, resizes below the minimum and back, quits, and checks
# that the terminal was restored; then kills it with SIGTERM, SIGHUP and
# SIGINT and checks the terminal is restored as by `q` (alternate screen
# left, mouse reporting off, cursor shown, raw mode off); then replays a capture that
# comes slowly through a pipe and saves its connection with `w`.
# Usage: tests/tui_tmux.sh [BINARY]
set -euo pipefail
cd "$(dirname "$0")/.."
BIN=${1:-target/debug/tcpladder}
SESSION="tltest-$$"
OUT=$(mktemp)
# A tmux server of this run's own, kept alive by a session that only
# sleeps: killing the UI's session and opening the next one must not race
# a server that is exiting because its last session went away.
SOCK="tltest-$$"
tmux() { command tmux -L "$SOCK" "$@"; }
trap 'tmux kill-server 2>/dev/null || true; rm -f "$OUT"' EXIT

fail() { echo "tui_tmux: FAIL: $*" >&2; echo "--- screen ---" >&2; cat "$OUT" >&2; exit 1; }
screen() { sleep "${1:-0.6}"; tmux capture-pane -p -t "$SESSION" > "$OUT"; }
expect() { grep -qF -- "$1" "$OUT" || fail "expected '$1' on screen"; }
absent() { ! grep -qF -- "$1" "$OUT" || fail "did not expect '$1' on screen"; }

command -v tmux >/dev/null || { echo "tui_tmux: SKIPPED — tmux is not installed"; exit 0; }
export TERM=${TERM:-xterm-256color}
[ -x "$BIN" ] || fail "no binary at $BIN (cargo build first)"
tmux new-session -d -s keep "sleep 600"

tmux new-session -d -s "$SESSION" -x 120 -y 36 \
  "$BIN replay captures/client-close.pcap --step; echo \"__EXIT__ \$?\"; stty -a | grep -qw -- -icanon && echo __RAW__ || echo __COOKED__; sleep 30"
screen 1.2
expect "segment 1/11"
expect "SYN-SENT"
expect "? help"

tmux send-keys -t "$SESSION" Right Right
screen
expect "segment 3/11"
expect "ESTABLISHED"

tmux send-keys -t "$SESSION" '?'
screen
expect "play / pause"
tmux send-keys -t "$SESSION" x
screen
absent "play / pause"

tmux send-keys -t "$SESSION" End
screen
expect "TIME-WAIT"
expect "segment 11/11"

tmux resize-window -t "$SESSION" -x 50 -y 12
screen
expect "terminal too small"
tmux resize-window -t "$SESSION" -x 120 -y 36
screen
expect "segment 11/11"

tmux send-keys -t "$SESSION" q
screen 0.8
expect "__EXIT__ 0"
expect "__COOKED__"
# The alternate screen is gone: nothing of the UI is left.
absent "segment 11/11"
absent "connections 1"
# `q` gave the terminal back. (Waits poll: other tests may be using the
# CPUs.)
state() { tmux display -p -t "$SESSION" '#{alternate_on} #{mouse_any_flag} #{cursor_flag}'; }
until_state() { for _ in $(seq 1 50); do [ "$(state)" = "$1" ] && return 0; sleep 0.2; done; return 1; }
until_state "0 0 1" || fail "after q: alternate, mouse, cursor = $(state)"

# A signal gives it back the same way.
for sig in TERM HUP INT; do
  tmux kill-session -t "$SESSION" 2>/dev/null || true
  tmux new-session -d -s "$SESSION" -x 120 -y 36 \
    "$BIN replay captures/client-close.pcap --step; echo \"__EXIT__ \$?\"; stty -a | grep -qw -- -icanon && echo __RAW__ || echo __COOKED__; sleep 30"
  until_state "1 1 0" || { screen 0; fail "the UI did not take the terminal: $(state)"; }
  screen 0.5
  expect "segment 1/11"
  pid=$(pgrep -P "$(tmux display -p -t "$SESSION" '#{pane_pid}')" -x tcpladder) \
    || fail "no tcpladder process under the pane"
  kill -"$sig" "$pid"
  until_state "0 0 1" || { screen 0; fail "after SIG$sig: alternate, mouse, cursor = $(state)"; }
  screen 0.3
  expect "__EXIT__ 130"
  # Raw mode off: the line discipline is canonical again.
  expect "__COOKED__"
done
# A capture through a pipe grows as it arrives, like live, and `w` saves
# the connection from the spool, which is gone after `q`.
tmux kill-session -t "$SESSION" 2>/dev/null || true
SHOTS=$(mktemp -d)
tmux new-session -d -s "$SESSION" -x 120 -y 36 \
  "python3 tests/slow_pipe.py captures/client-close.pcap 0.4 | $BIN --shots $SHOTS replay -; echo \"__EXIT__ \$?\"; sleep 30"
screen 1.5
expect "● pipe standard input"
expect "reading"
absent "11 packets"
for _ in $(seq 1 40); do screen 0.25; grep -qF "input ended" "$OUT" && break; done
expect "11 packets"
expect "input ended"
expect "TIME-WAIT"
ls "${TMPDIR:-/tmp}"/tcpladder-pipe-* >/dev/null 2>&1 || fail "no spool while reading"
tmux send-keys -t "$SESSION" w
screen 0.8
expect "saved 11 packets to $SHOTS/tcpladder-connection-1-"
tmux send-keys -t "$SESSION" q
screen 0.8
expect "__EXIT__ 0"
saved=$(ls "$SHOTS"/tcpladder-connection-1-*.pcap)
"$BIN" analyze "$saved" | grep -qF "TIME-WAIT" || fail "the saved connection does not read back"
rm -rf "$SHOTS"
echo "tui_tmux: ok"
