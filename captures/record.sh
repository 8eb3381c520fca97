#!/usr/bin/env bash
# Record tcpladder's sample captures from the Linux kernel's TCP stack.
#
#   sudo captures/record.sh            # record every scenario
#   sudo captures/record.sh NAME...    # record only these (e.g. refused ipv6)
#
# Every scenario runs in its own network namespace (tl-NAME) that has
# nothing but a loopback interface, so no packet ever leaves the machine.
# Inside it we start a capture on lo, run the scenario's client and server
# (captures/scenarios.py), stop the capture with SIGINT so it flushes, and
# delete the namespace again.  Firewall rules and sysctls that a scenario
# needs are set inside its namespace only.
#
# Needs: root, iproute2 (ip, ss), iptables, tcpdump, dumpcap, python3.
set -euo pipefail

HERE=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
OUT=${OUT:-$HERE}
PYTHON=${PYTHON:-python3}
PORT=9502
TAIL=0.2      # keep capturing this long after the scenario ends (tcpdump)
TAIL_DUMPCAP=1.0  # dumpcap has no immediate mode: packets can sit in the
                  # kernel ring for its 250 ms read timeout; wait them out
ATTEMPTS=5    # for scenarios whose packet interleaving is a race

ALL=(
  client-close server-close refused syn-timeout simultaneous-open
  simultaneous-close half-close abort-rst rst-unread ipv6 reuse-time-wait
  retransmission many-connections nanosecond multi-interface syn-retransmit
)

NS=""
CAP_PID=""
CAP_TMP=""

die() { echo "record.sh: $*" >&2; exit 1; }
say() { echo "record.sh: $*" >&2; }

in_ns() { ip netns exec "$NS" "$@"; }

cleanup() {
  if [[ -n $CAP_PID ]]; then
    kill -INT "$CAP_PID" 2>/dev/null || true
    wait "$CAP_PID" 2>/dev/null || true
    CAP_PID=""
  fi
  if [[ -n $CAP_TMP ]]; then
    rm -f "$CAP_TMP" "$CAP_TMP.log"
    CAP_TMP=""
  fi
  if [[ -n $NS ]]; then
    ip netns del "$NS" 2>/dev/null || true
    NS=""
  fi
}
trap cleanup EXIT
trap 'exit 130' INT TERM

# make_ns NAME: a fresh namespace with only lo, up.
make_ns() {
  NS="tl-$1"
  if ip netns list | awk '{print $1}' | grep -qxF -- "$NS"; then
    ip netns del "$NS"   # left over from an interrupted run
  fi
  ip netns add "$NS"
  ip -n "$NS" link set lo up
}

# start_capture KIND FILE: KIND is tcpdump, tcpdump-nano, dumpcap or
# dumpcap-multi.  Only TCP is captured.  Returns once the capture runs.
start_capture() {
  local kind=$1 file=$2
  CAP_TMP="$OUT/.$file.part"
  rm -f "$CAP_TMP" "$CAP_TMP.log"
  # tcpdump: write as root (no privilege drop), hand every packet over at
  # once (no ring-buffer batching) and use a 32 MiB kernel buffer.
  local tcpdump=(tcpdump -i lo -Z root -U -n --immediate-mode -B 32768)
  local cmd
  case $kind in
    tcpdump)      cmd=("${tcpdump[@]}" -w "$CAP_TMP" tcp) ;;
    tcpdump-nano) cmd=("${tcpdump[@]}" --time-stamp-precision=nano -w "$CAP_TMP" tcp) ;;
    dumpcap)      cmd=(dumpcap -q -i lo -f tcp -B 32 -w "$CAP_TMP") ;;
    # two interfaces with different link types: lo (Ethernet) and any
    # (Linux cooked capture); every packet shows up once on each
    dumpcap-multi) cmd=(dumpcap -q -i lo -f "tcp port 9502" -B 32 -i any -f "tcp port 9503" -B 32 -w "$CAP_TMP") ;;
    *) die "unknown capture kind $kind" ;;
  esac
  # Started directly (not via a function) so that $! is the capture tool:
  # ip netns exec execs it in place.
  ip netns exec "$NS" "${cmd[@]}" 2>"$CAP_TMP.log" &
  CAP_PID=$!
  local want=1
  [[ $kind == dumpcap-multi ]] && want=2
  for _ in $(seq 100); do
    if [[ $kind == tcpdump* ]]; then
      grep -q 'listening on' "$CAP_TMP.log" 2>/dev/null && break
    else
      # dumpcap writes the file header once every interface is open
      local n
      n=$(grep -c 'Capturing on' "$CAP_TMP.log" 2>/dev/null) || n=0
      (( n >= want )) && [[ -s $CAP_TMP ]] && break
    fi
    kill -0 "$CAP_PID" 2>/dev/null || { cat "$CAP_TMP.log" >&2; die "capture died"; }
    sleep 0.05
  done
  sleep 0.2   # let the capture socket settle before the first packet
}

# stop_capture FILE: SIGINT, wait for the capture to flush, move in place.
stop_capture() {
  local file=$1
  if [[ $file == *.pcapng ]]; then sleep "$TAIL_DUMPCAP"; else sleep "$TAIL"; fi
  kill -INT "$CAP_PID"
  wait "$CAP_PID" || die "capture for $file exited with status $?"
  CAP_PID=""
  grep -v -e 'listening on' -e 'Capturing on' -e '^File:' "$CAP_TMP.log" \
    | sed 's/^/    /' >&2 || true
  # a capture that lost packets is no use as a sample
  if grep -Eq '^[1-9][0-9]* packets? dropped by kernel' "$CAP_TMP.log" ||
     grep -Eq "Packets received/dropped on interface .*: [0-9]+/[1-9]" "$CAP_TMP.log"; then
    say "the capture for $file dropped packets"
    return 75
  fi
  if [[ $file == multi-interface.pcapng ]]; then
    # lo (port 9502) and any (port 9503) each carry one whole session
    local counts
    counts=$(sed -n "s/^Packets received\/dropped on interface .*: \([0-9]*\)\/.*/\1/p" \
      "$CAP_TMP.log" | sort -u | wc -l)
    if [[ $counts != 1 ]]; then
      say "lo and any saw different numbers of packets (one session each)"
      return 75
    fi
  fi
  rm -f "$CAP_TMP.log"
  # does the capture show what the scenario is about?  (75: record again)
  "$PYTHON" "$HERE/scenarios.py" check "${file%.*}" "$CAP_TMP" || return $?
  chmod 644 "$CAP_TMP" && mv -f "$CAP_TMP" "$OUT/$file" || return 1
  CAP_TMP=""
  say "wrote $OUT/$file ($(stat -c %s "$OUT/$file") bytes)"
}

scenario() { in_ns "$PYTHON" "$HERE/scenarios.py" "$@"; }

# record_one NAME: one attempt; returns the scenario's exit status.
record_one() {
  local name=$1 kind=tcpdump file="$1.pcap"
  case $name in
    server-close) kind=dumpcap; file=$name.pcapng ;;
    multi-interface) kind=dumpcap-multi; file=$name.pcapng ;;
    nanosecond) kind=tcpdump-nano ;;
  esac

  make_ns "$name"

  # Per-scenario firewall rules and sysctls, inside the namespace only.
  case $name in
    syn-timeout)
      # every SYN to the server port vanishes; give up after 3 retries
      # (SYNs at 0, 1, 3, 7 s; ETIMEDOUT at 15 s)
      in_ns sysctl -qw net.ipv4.tcp_syn_retries=3
      # newer kernels first retry a few times at a fixed 1 s interval;
      # switch that off to show the classic doubling backoff
      if in_ns test -e /proc/sys/net/ipv4/tcp_syn_linear_timeouts; then
        in_ns sysctl -qw net.ipv4.tcp_syn_linear_timeouts=0
      fi
      in_ns iptables -w -A INPUT -p tcp --dport "$PORT" --syn -j DROP
      ;;
    syn-retransmit)
      # only the very first SYN to the server port is dropped
      in_ns iptables -w -A INPUT -p tcp --dport "$PORT" --syn \
        -m statistic --mode nth --every 1000000 --packet 0 -j DROP
      ;;
    retransmission)
      # the 2nd data-carrying segment from the server (not a SYN, IP
      # length > 52 = IP + TCP + timestamp headers) and the first FIN
      # (either direction) are each dropped exactly once
      in_ns iptables -w -A INPUT -p tcp --sport "$PORT" --tcp-flags SYN NONE \
        -m length --length 53:65535 \
        -m statistic --mode nth --every 1000000 --packet 1 -j DROP
      in_ns iptables -w -A INPUT -p tcp --tcp-flags FIN FIN \
        -m statistic --mode nth --every 1000000 --packet 0 -j DROP
      ;;
  esac

  start_capture "$kind" "$file"
  local rc=0
  scenario "$name" || rc=$?
  if (( rc == 0 )); then
    stop_capture "$file" || rc=$?
  fi
  cleanup
  return "$rc"
}

record() {
  local name=$1 attempt rc
  for (( attempt = 1; attempt <= ATTEMPTS; attempt++ )); do
    say "recording $name (attempt $attempt)"
    rc=0
    record_one "$name" || rc=$?
    case $rc in
      0) return 0 ;;
      75) say "$name: not usable this time, recording it again" ;;
      *) die "$name failed (exit $rc)" ;;
    esac
  done
  die "$name: gave up after $ATTEMPTS attempts"
}

main() {
  [[ $(id -u) == 0 ]] || die "must be run as root"
  for tool in ip iptables ss tcpdump dumpcap "$PYTHON"; do
    command -v "$tool" >/dev/null || die "missing $tool"
  done
  local names=("$@")
  (( ${#names[@]} )) || names=("${ALL[@]}")
  for name in "${names[@]}"; do
    [[ " ${ALL[*]} " == *" $name "* ]] || die "unknown scenario '$name' (known: ${ALL[*]})"
  done
  for name in "${names[@]}"; do
    record "$name"
  done
}

main "$@"
