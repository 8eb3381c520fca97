#!/usr/bin/env bash
# Regenerates the pictures in docs/images from the bundled captures, with
# the commands docs/lecture-guide.md shows. Usage: docs/make-images.sh [BINARY]
set -euo pipefail
cd "$(dirname "$0")/.."
BIN=${1:-target/release/tcpladder}
[ -x "$BIN" ] || cargo build --release
out=docs/images
ex() { "$BIN" export --force "$@"; }

ex captures/client-close.pcap --to 3 --title "The three-way handshake" -o $out/handshake.svg
ex captures/client-close.pcap --to 3 --title "The three-way handshake" -o $out/handshake.png
ex captures/client-close.pcap --from 8 --title "The four-way close and TIME-WAIT" -o $out/four-way-close.svg
ex captures/client-close.pcap -o $out/client-close.svg
ex captures/simultaneous-open.pcap --to 6 --title "Simultaneous open: the SYNs cross" -o $out/simultaneous-open.svg
ex captures/simultaneous-close.pcap --from 8 --title "Simultaneous close: the FINs cross" -o $out/simultaneous-close.svg
ex captures/refused.pcap --title "Connection refused: SYN answered by RST" -o $out/refused.svg
ex captures/syn-timeout.pcap --flat --title "SYN timeout: retries with exponential backoff" -o $out/syn-timeout.svg
ex captures/retransmission.pcap --from 15 --title "A lost FIN and its retransmission" -o $out/fin-retransmission.svg
ex captures/client-close.pcap -o $out/client-close.md
# The socket calls: a `demo client-close` run kept as fixed files
# (`demo client-close -w docs/images/demo-client-close.pcap --json >
# docs/images/demo-client-close.json`, as root or with unprivileged user
# namespaces), drawn through export's hidden --calls so the picture is the
# same every time.
demo=(docs/images/demo-client-close.pcap --calls docs/images/demo-client-close.json)
ex "${demo[@]}" --title "The socket calls of a session the client closes" -o $out/client-close-calls.svg
ex "${demo[@]}" --title "The socket calls of a session the client closes" -o $out/client-close-calls.png
ex "${demo[@]}" -o $out/client-close-calls.txt
