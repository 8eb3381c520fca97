#!/usr/bin/env bash
# Record the kernel-truth captures in captures/kernel/ (see captures/README.md,
# "Kernel truth").  Root only; not run by CI (CI runs the Rust test on the
# committed files).
#
#   sudo captures/record-kernel.sh            # every scenario (about 3 minutes)
#   sudo captures/record-kernel.sh NAME...    # only these
#   captures/record-kernel.sh --list          # the scenarios
#
# Everything happens in namespaces tlk-* made for the purpose: client, two
# forwarding namespaces and server joined by veth pairs (198.18.0.0/16,
# 2001:db8::/64), or one namespace with only lo.  The trap removes the
# namespaces and the tracing instance even when interrupted.
set -euo pipefail

HERE=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
PYTHON=${PYTHON:-python3}

if [[ ${1:-} == --list ]]; then exec "$PYTHON" "$HERE/kernel_record.py" --list; fi
[[ $(id -u) == 0 ]] || { echo "record-kernel.sh: must be run as root" >&2; exit 1; }
for tool in ip ss tcpdump "$PYTHON"; do
  command -v "$tool" >/dev/null || { echo "record-kernel.sh: missing $tool" >&2; exit 1; }
done

cleanup() {
  local ns inst
  for ns in tlk-c tlk-r1 tlk-r2 tlk-s tlk-lo; do
    ip netns del "$ns" 2>/dev/null || true
  done
  for inst in /sys/kernel/tracing/instances/tl-kernel-*; do
    [[ -d $inst ]] || continue
    echo 0 >"$inst/tracing_on" 2>/dev/null || true
    rmdir "$inst" 2>/dev/null || true
  done
}
trap cleanup EXIT
trap 'exit 130' INT TERM

"$PYTHON" "$HERE/kernel_record.py" "$@"
