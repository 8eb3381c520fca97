#!/usr/bin/env python3
"""Writes a little-endian pcap to standard output the way `tcpdump -U -w -`
does over a slow link: the header at once, then one record every DELAY
seconds, flushed each time. Usage: tests/slow_pipe.py FILE DELAY [LINGER]
(LINGER: seconds to keep the pipe open after the last record)."""
import struct
import sys
import time

data = open(sys.argv[1], "rb").read()
delay = float(sys.argv[2])
linger = float(sys.argv[3]) if len(sys.argv) > 3 else 0.0
out = sys.stdout.buffer
out.write(data[:24])
out.flush()
at = 24
while at + 16 <= len(data):
    caplen = struct.unpack("<I", data[at + 8:at + 12])[0]
    out.write(data[at:at + 16 + caplen])
    out.flush()
    at += 16 + caplen
    time.sleep(delay)
time.sleep(linger)
