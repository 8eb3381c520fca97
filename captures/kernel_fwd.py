#!/usr/bin/env python3
"""A user-space "router" for the kernel-truth path: bridges two interfaces
with AF_PACKET raw sockets and emulates delay, loss, reordering,
duplication and ICMP errors by deterministic rules (no sch_netem needed).

    python3 kernel_fwd.py --a IF_TOWARD_CLIENT --b IF_TOWARD_SERVER \
        --delay-ms 10 --rules JSON --name r1 [--src4 ADDR --src6 ADDR]

Run inside a router namespace (record-kernel.sh does it).  The namespace
has no IP forwarding; every frame that arrives on one interface is sent
unchanged out of the other one `--delay-ms` later, unless a rule says
otherwise.  Frames from --a to --b travel client -> server ("c2s").

A rule is a JSON object:

    {"dir": "c2s" | "s2c",             direction (required)
     "flags": ["FIN"],                 TCP flags that must all be set
     "noflags": ["SYN"],               TCP flags that must all be clear
     "payload": true | false,          carries payload or not
     "min_len": 1300,                  at least this much payload
     "acks_fin": true,                 its ACK field acknowledges the peer's
                                       FIN (ack = the FIN's seq + len + 1)
     "proto": "tcp" (default) | "any",
     "nth": 1,                         act on the nth matching frame (1-based)
     "count": 1,                       ... and on this many from there (0 = all)
     "action": "drop" | "dup" | "delay" | "icmp" | "rst",
     "extra_ms": 30,                   delay: hold this much longer;
                                       dup: the copy follows this much later;
                                       rst: the RST leaves this much later
     "icmp": {"type": 3, "code": 1, "mtu": 0},   icmp: the error to send back
                                       (ICMPv6 types for IPv6 frames); the frame
                                       itself is dropped unless "forward": true
     "seq_offset": 0,                  rst: RST seq = the frame's ack + this
     "forward": true}                  rst/icmp: also forward the frame

Each rule counts its own matches, so "nth": 3 means the third frame that
matches this rule.  The first rule that fires decides; a frame that no
rule fires on is forwarded with the plain delay.

An "rst" rule answers the matching frame, as if its receiver had sent it,
with a crafted bare RST (no options) back to the frame's sender: seq = the
frame's ack + seq_offset (0: exactly what the sender expects;
2**30: far outside any window), ack flag clear.

An "icmp" rule sends, from this router's address (--src4 / --src6), the
ICMP or ICMPv6 error quoting the frame (IP header and as much of the
segment as Linux quotes: up to 576 / 1280 bytes in all) back to the
sender, after the plain delay.  The checksum offloads of every veth are
switched off by the recorder, so frames carry correct checksums.

Every action taken is printed as one JSON line on stdout (time, rule,
action, a summary of the frame) for the recorder's log, and at the end
{"max_late_ms": ...}: the most any frame left after its due time (the
forwarder runs SCHED_FIFO to keep that small).
"""

import argparse
import heapq
import json
import os
import select
import signal
import socket
import struct
import sys
import time

ETH_P_ALL = 0x0003
PACKET_OUTGOING = 4
SO_TIMESTAMPNS = 35
FLAG_BITS = {"FIN": 0x01, "SYN": 0x02, "RST": 0x04, "PSH": 0x08,
             "ACK": 0x10, "URG": 0x20, "ECE": 0x40, "CWR": 0x80}


def csum(data):
    if len(data) % 2:
        data += b"\0"
    s = sum(struct.unpack("!%dH" % (len(data) // 2), data))
    while s >> 16:
        s = (s & 0xFFFF) + (s >> 16)
    return (~s) & 0xFFFF


def parse(frame):
    """Ethernet frame -> dict (ip version, addresses, l4, tcp fields) or None."""
    if len(frame) < 14:
        return None
    etype = struct.unpack("!H", frame[12:14])[0]
    p = {"eth_dst": frame[0:6], "eth_src": frame[6:12], "etype": etype}
    if etype == 0x0800 and len(frame) >= 34:
        ihl = (frame[14] & 0x0F) * 4
        p.update(v=4, ip_off=14, l4_off=14 + ihl, proto=frame[23],
                 src=frame[26:30], dst=frame[30:34],
                 ip_len=struct.unpack("!H", frame[16:18])[0])
    elif etype == 0x86DD and len(frame) >= 54:
        p.update(v=6, ip_off=14, l4_off=54, proto=frame[20],
                 src=frame[22:38], dst=frame[38:54],
                 ip_len=40 + struct.unpack("!H", frame[18:20])[0])
    else:
        return p
    o = p["l4_off"]
    if p["proto"] == 6 and len(frame) >= o + 20:
        sport, dport, seq, ack, off, flags = struct.unpack("!HHIIBB", frame[o:o + 14])
        doff = (off >> 4) * 4
        p.update(tcp=True, sport=sport, dport=dport, seq=seq, ack=ack,
                 flags=flags, doff=doff,
                 plen=p["ip_off"] + p["ip_len"] - (o + doff))
    return p


def summary(p):
    if not p.get("tcp"):
        return {"etype": p.get("etype"), "proto": p.get("proto")}
    names = [n for n, b in FLAG_BITS.items() if p["flags"] & b]
    return {"sport": p["sport"], "dport": p["dport"], "flags": names,
            "seq": p["seq"], "ack": p["ack"], "len": p["plen"]}


# (address, port) -> seq just past the FIN that endpoint sent
FIN_END = {}


def note_fin(p):
    if p.get("tcp") and p["flags"] & 0x01:
        FIN_END[(p["src"], p["sport"])] = (p["seq"] + p["plen"] + 1) & 0xFFFFFFFF


class Rule:
    def __init__(self, d):
        self.d = d
        self.seen = 0

    def fires(self, p, direction):
        d = self.d
        if d["dir"] != direction:
            return False
        if d.get("proto", "tcp") == "tcp":
            if not p.get("tcp"):
                return False
            for f in d.get("flags", []):
                if not p["flags"] & FLAG_BITS[f]:
                    return False
            for f in d.get("noflags", []):
                if p["flags"] & FLAG_BITS[f]:
                    return False
            if "payload" in d and bool(p["plen"] > 0) != d["payload"]:
                return False
            if p["plen"] < d.get("min_len", 0):
                return False
            if "acks_fin" in d:
                fin = FIN_END.get((p["dst"], p["dport"]))
                if (fin is not None and p["flags"] & 0x10 and p["ack"] == fin) != d["acks_fin"]:
                    return False
        self.seen += 1
        nth = d.get("nth", 1)
        count = d.get("count", 1)
        if self.seen < nth:
            return False
        return count == 0 or self.seen < nth + count


def ip4_header(src, dst, proto, payload_len, ttl=64):
    h = struct.pack("!BBHHHBBH4s4s", 0x45, 0, 20 + payload_len, 0, 0x4000,
                    ttl, proto, 0, src, dst)
    return h[:10] + struct.pack("!H", csum(h)) + h[12:]


def icmp_error(frame, p, spec, src4, src6):
    """The ICMP/ICMPv6 error a router would send about `frame`, to its sender."""
    eth = p["eth_src"] + p["eth_dst"] + frame[12:14]
    ip = frame[p["ip_off"]:p["ip_off"] + p["ip_len"]]
    typ, code, mtu = spec["type"], spec["code"], spec.get("mtu", 0)
    if p["v"] == 4:
        quote = ip[:576 - 28]
        rest = struct.pack("!HH", 0, mtu) if (typ, code) == (3, 4) else b"\0\0\0\0"
        body = struct.pack("!BBH", typ, code, 0) + rest + quote
        body = body[:2] + struct.pack("!H", csum(body)) + body[4:]
        return eth + ip4_header(socket.inet_aton(src4), p["src"], 1, len(body)) + body
    quote = ip[:1280 - 48]
    rest = struct.pack("!I", mtu) if typ == 2 else b"\0\0\0\0"
    body = struct.pack("!BBH", typ, code, 0) + rest + quote
    src = socket.inet_pton(socket.AF_INET6, src6)
    pseudo = src + p["src"] + struct.pack("!I3xB", len(body), 58)
    body = body[:2] + struct.pack("!H", csum(pseudo + body)) + body[4:]
    ip6 = struct.pack("!IHBB16s16s", 0x60000000, len(body), 58, 64, src, p["src"])
    return eth + ip6 + body


def crafted_rst(p, seq_offset):
    """A bare RST from the frame's receiver to its sender."""
    eth = p["eth_src"] + p["eth_dst"] + struct.pack("!H", p["etype"])
    seq = (p["ack"] + seq_offset) & 0xFFFFFFFF
    tcp = struct.pack("!HHIIBBHHH", p["dport"], p["sport"], seq, 0, 5 << 4,
                      FLAG_BITS["RST"], 0, 0, 0)
    if p["v"] == 4:
        pseudo = p["dst"] + p["src"] + struct.pack("!BBH", 0, 6, len(tcp))
        tcp = tcp[:16] + struct.pack("!H", csum(pseudo + tcp)) + tcp[18:]
        return eth + ip4_header(p["dst"], p["src"], 6, len(tcp)) + tcp
    pseudo = p["dst"] + p["src"] + struct.pack("!I3xB", len(tcp), 6)
    tcp = tcp[:16] + struct.pack("!H", csum(pseudo + tcp)) + tcp[18:]
    ip6 = struct.pack("!IHBB16s16s", 0x60000000, len(tcp), 6, 64, p["dst"], p["src"])
    return eth + ip6 + tcp


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--a", required=True)
    ap.add_argument("--b", required=True)
    ap.add_argument("--delay-ms", type=float, default=10.0)
    ap.add_argument("--rules", default="[]")
    ap.add_argument("--name", default="fwd")
    ap.add_argument("--src4", default="198.18.0.1")
    ap.add_argument("--src6", default="2001:db8::1")
    a = ap.parse_args()
    rules = [Rule(r) for r in json.loads(a.rules)]
    delay = a.delay_ms / 1000.0

    socks = {}
    for name in (a.a, a.b):
        s = socket.socket(socket.AF_PACKET, socket.SOCK_RAW, socket.htons(ETH_P_ALL))
        s.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 4 << 20)
        s.setsockopt(socket.SOL_SOCKET, SO_TIMESTAMPNS, 1)
        s.bind((name, 0))
        s.setblocking(False)
        socks[name] = s
    sa, sb = socks[a.a], socks[a.b]
    other = {sa.fileno(): (sb, "c2s", sa), sb.fileno(): (sa, "s2c", sb)}

    stop = False

    def on_term(*_):
        nonlocal stop
        stop = True
    signal.signal(signal.SIGTERM, on_term)
    signal.signal(signal.SIGINT, on_term)

    # Real-time priority keeps the hold times exact while compilers load
    # the machine (the loop sleeps in select, so it cannot hog a CPU).
    try:
        os.sched_setscheduler(0, os.SCHED_FIFO, os.sched_param(10))
    except (AttributeError, OSError):
        pass
    heap = []
    n = 0
    max_late = 0.0  # the most a frame left after its due time, seconds

    def later(due, sock, frame):
        nonlocal n
        n += 1
        heapq.heappush(heap, (due, n, sock, frame))

    def note(**kw):
        kw["t"] = time.time()
        kw["router"] = a.name
        print(json.dumps(kw), flush=True)

    print(json.dumps({"ready": a.name}), flush=True)
    while not stop:
        now = time.time()
        while heap and heap[0][0] <= now:
            due, _, sock, frame = heapq.heappop(heap)
            max_late = max(max_late, time.time() - due)
            try:
                sock.send(frame)
            except OSError as e:
                note(error=str(e), size=len(frame))
        timeout = max(0.0, heap[0][0] - time.time()) if heap else 0.2
        try:
            ready, _, _ = select.select([sa, sb], [], [], min(timeout, 0.2))
        except InterruptedError:
            continue
        for s in ready:
            out, direction, back = other[s.fileno()]
            while True:
                try:
                    frame, anc, _, addr = s.recvmsg(65536, 64)
                except (BlockingIOError, InterruptedError):
                    break
                if addr[2] == PACKET_OUTGOING:
                    continue
                # hold times count from the frame's arrival as the kernel
                # stamped it (CLOCK_REALTIME, the captures' clock), not from
                # when this process got round to reading it
                now = time.time()
                for lvl, typ, data in anc:
                    if lvl == socket.SOL_SOCKET and typ == SO_TIMESTAMPNS and len(data) >= 16:
                        sec, nsec = struct.unpack("qq", data[:16])
                        now = sec + nsec / 1e9
                p = parse(frame) or {}
                note_fin(p)
                rule = next((r for r in rules if r.fires(p, direction)), None)
                if rule is None:
                    later(now + delay, out, frame)
                    continue
                d = rule.d
                act = d["action"]
                extra = d.get("extra_ms", 0) / 1000.0
                note(action=act, dir=direction, rule=rules.index(rule),
                     frame=summary(p))
                if act == "drop":
                    pass
                elif act == "dup":
                    later(now + delay, out, frame)
                    later(now + delay + extra, out, frame)
                elif act == "delay":
                    later(now + delay + extra, out, frame)
                elif act == "icmp":
                    later(now + delay, back, icmp_error(frame, p, d["icmp"], a.src4, a.src6))
                    if d.get("forward"):
                        later(now + delay, out, frame)
                elif act == "rst":
                    later(now + delay + extra, back, crafted_rst(p, d.get("seq_offset", 0)))
                    if d.get("forward", True):
                        later(now + delay, out, frame)
                else:
                    raise SystemExit(f"unknown action {act}")
    for s in socks.values():
        s.close()
    print(json.dumps({"max_late_ms": round(max_late * 1000, 3), "router": a.name}), flush=True)


if __name__ == "__main__":
    main()
