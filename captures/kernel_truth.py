#!/usr/bin/env python3
"""Kernel truth: turn the kernel's own record of TCP state changes (the
tracepoint sock:inet_sock_set_state, plus tcp:tcp_receive_reset) into the
RFC 9293 state path of every endpoint, written as truth.json next to the
captures of a scenario.

    python3 kernel_truth.py rebuild captures/kernel/NAME   # truth.json again
                                                           # from its "raw" lines

kernel_record.py calls build() right after a recording.  The one place
where Linux states become RFC 9293 states is rfc_state() below; the rules
for what the tracepoint does not show are in derive_*() and documented in
captures/README.md ("Kernel truth").
"""

import ipaddress
import json
import os
import re
import struct
import sys

# ------------------------------------------------------------ the mapping

LINUX_TO_RFC = {
    "TCP_CLOSE": "CLOSED",
    "TCP_LISTEN": "LISTEN",
    "TCP_SYN_SENT": "SYN-SENT",
    "TCP_SYN_RECV": "SYN-RECEIVED",
    "TCP_NEW_SYN_RECV": "SYN-RECEIVED",
    "TCP_ESTABLISHED": "ESTABLISHED",
    "TCP_FIN_WAIT1": "FIN-WAIT-1",
    "TCP_FIN_WAIT2": "FIN-WAIT-2",
    "TCP_CLOSE_WAIT": "CLOSE-WAIT",
    "TCP_CLOSING": "CLOSING",
    "TCP_LAST_ACK": "LAST-ACK",
    "TCP_TIME_WAIT": "TIME-WAIT",
}


def rfc_state(old, new, reset_received, peer_fin_arrived):
    """The RFC 9293 state a Linux socket enters on the tracepoint event
    `old -> new` (names as the tracepoint prints them, e.g. "TCP_FIN_WAIT2").

    Returns (rfc_name, note).  rfc_name is None when the event is not an
    RFC state change of the connection's endpoint.

    * Every state maps to its RFC name (LINUX_TO_RFC); TCP_NEW_SYN_RECV
      (a request socket, which the tracepoint never reports) and
      TCP_SYN_RECV are both SYN-RECEIVED.
    * `X -> TCP_CLOSE` is ambiguous in Linux: tcp_done() is called both
      when a connection really ends and when tcp_time_wait() replaces the
      full socket by a TIME-WAIT mini-socket (inet_timewait_sock), which
      the tracepoint never reports again.  So:
        - after a received RST (tcp:tcp_receive_reset just before):
          CLOSED;
        - TCP_CLOSING -> TCP_CLOSE without RST: the ACK of our FIN arrived,
          tcp_time_wait(TCP_TIME_WAIT): TIME-WAIT;
        - TCP_FIN_WAIT2 -> TCP_CLOSE without RST and with the peer's FIN
          just arrived (tcp_fin() in FIN-WAIT-2): TIME-WAIT;
        - TCP_FIN_WAIT2 -> TCP_CLOSE without RST and without a FIN: an
          orphaned socket (close() was called) in FIN-WAIT-2 became a
          mini-socket with substate FIN-WAIT-2 (tcp_fin_timeout 60 s =
          TCP_TIMEWAIT_LEN, so tcp_time_wait(TCP_FIN_WAIT2) at once): the
          RFC state stays FIN-WAIT-2 (returns None, "mini-socket"); its
          later move to TIME-WAIT emits no tracepoint and is derived
          (derive_mini_socket);
        - any other X -> TCP_CLOSE: CLOSED.
    * The listener's own TCP_CLOSE -> TCP_LISTEN is the server's LISTEN.
    * A child socket's TCP_LISTEN -> TCP_SYN_RECV (it is cloned from the
      listener, state and all) is emitted when the
      request socket becomes a full socket (at the handshake's final ACK,
      or at the SYN for TCP Fast Open); the endpoint was already in
      SYN-RECEIVED since the SYN arrived (returns None unless it is the
      first state, see build()).
    """
    if new == "TCP_CLOSE":
        if reset_received:
            return "CLOSED", "reset received"
        if old == "TCP_CLOSING":
            return "TIME-WAIT", "tcp_time_wait: full socket replaced by a TIME-WAIT mini-socket"
        if old == "TCP_FIN_WAIT2":
            if peer_fin_arrived:
                return "TIME-WAIT", "tcp_time_wait: peer's FIN arrived in FIN-WAIT-2; full socket replaced by a TIME-WAIT mini-socket"
            return None, "mini-socket: orphaned FIN-WAIT-2 socket replaced by a FIN-WAIT-2 timewait mini-socket; no tracepoint for its later changes"
        return "CLOSED", None
    return LINUX_TO_RFC[new], None


# ------------------------------------------------------------ trace lines

EV_RE = re.compile(r"^\s*(?P<task>.+?)-(?P<pid>\d+)\s+\[(?P<cpu>\d+)\].*?\s(?P<ts>\d+\.\d+):\s+(?P<ev>\w+):\s+(?P<rest>.*)$")
KV_RE = re.compile(r"(\w+)=(\S+)")


def parse_trace(lines, offset):
    """Tracepoint lines -> list of events with wall-clock times (mono + offset)."""
    evs = []
    for line in lines:
        m = EV_RE.match(line)
        if not m:
            continue
        kv = dict(KV_RE.findall(m["rest"]))
        ev = {"t": float(m["ts"]) + offset, "event": m["ev"], "line": line.rstrip("\n")}
        fam = kv.get("family", "AF_INET")
        if m["ev"] in ("inet_sock_set_state", "tcp_receive_reset"):
            if fam == "AF_INET6":
                s, d = kv.get("saddrv6") or kv.get("saddr_v6"), kv.get("daddrv6") or kv.get("daddr_v6")
            else:
                s, d = kv.get("saddr"), kv.get("daddr")
            ev.update(sport=int(kv["sport"]), dport=int(kv["dport"]),
                      saddr=str(ipaddress.ip_address(s)), daddr=str(ipaddress.ip_address(d)),
                      skaddr=kv.get("skaddr"))
            if m["ev"] == "inet_sock_set_state":
                ev.update(old=kv["oldstate"], new=kv["newstate"])
        evs.append(ev)
    evs.sort(key=lambda e: e["t"])
    return evs


# ------------------------------------------------------------ pcap reading

def read_pcap(path):
    """Minimal pcap reader (tcpdump -w: Ethernet, us or ns) -> list of packets."""
    out = []
    with open(path, "rb") as f:
        data = f.read()
    if len(data) < 24:
        return out
    magic = struct.unpack("<I", data[:4])[0]
    if magic == 0xA1B2C3D4:
        e, div = "<", 1e6
    elif magic == 0xA1B23C4D:
        e, div = "<", 1e9
    else:
        e = ">"
        div = 1e6 if struct.unpack(">I", data[:4])[0] == 0xA1B2C3D4 else 1e9
    link = struct.unpack(e + "I", data[20:24])[0]
    off, frame = 24, 0
    while off + 16 <= len(data):
        sec, frac, incl, _ = struct.unpack(e + "IIII", data[off:off + 16])
        pkt = data[off + 16:off + 16 + incl]
        off += 16 + incl
        frame += 1
        p = decode(pkt, link)
        if p:
            p["t"] = sec + frac / div
            p["frame"] = frame
            out.append(p)
    return out


def decode(pkt, link):
    if link == 1:
        if len(pkt) < 14:
            return None
        etype, o = struct.unpack("!H", pkt[12:14])[0], 14
    elif link == 113:
        etype, o = struct.unpack("!H", pkt[14:16])[0], 16
    else:
        return None
    if etype == 0x0800:
        ihl = (pkt[o] & 15) * 4
        proto, src, dst = pkt[o + 9], pkt[o + 12:o + 16], pkt[o + 16:o + 20]
        total = struct.unpack("!H", pkt[o + 2:o + 4])[0]
        l4, end = o + ihl, o + total
    elif etype == 0x86DD:
        proto, src, dst = pkt[o + 6], pkt[o + 8:o + 24], pkt[o + 24:o + 40]
        l4, end = o + 40, o + 40 + struct.unpack("!H", pkt[o + 4:o + 6])[0]
    else:
        return None
    p = {"src": str(ipaddress.ip_address(src)), "dst": str(ipaddress.ip_address(dst))}
    if proto == 6:
        sport, dport, seq, ack, doff, flags = struct.unpack("!HHIIBB", pkt[l4:l4 + 14])
        p.update(proto="tcp", sport=sport, dport=dport, seq=seq, ack=ack, flags=flags,
                 len=max(0, end - l4 - (doff >> 4) * 4))
    elif proto in (1, 58):
        p.update(proto="icmp", type=pkt[l4], code=pkt[l4 + 1])
    else:
        return None
    return p


FIN, SYN, RST, ACK = 1, 2, 4, 16


def addr_port(a, p):
    return f"[{a}]:{p}" if ":" in a else f"{a}:{p}"


# ------------------------------------------------------------ building

def build(meta, raw_lines, capdir):
    """meta: scenario description from the recorder (see kernel_record.py);
    raw_lines: the instance's trace; capdir: where the pcaps are."""
    offset = meta["clock"]["wall_minus_mono"]
    evs = parse_trace(raw_lines, offset)
    end = meta["capture_end"]
    evs = [e for e in evs if e["t"] <= end]
    pcaps = {pt: read_pcap(os.path.join(capdir, f)) for pt, f in meta["captures"].items()}
    near = {"client": "client" if "client" in pcaps else "loopback",
            "server": "server" if "server" in pcaps else "loopback"}
    sport = meta["server_port"]
    # only the scenario's own sockets: its addresses (a namespace deleted
    # earlier can still be tearing its sockets down, on the same ports)
    addrs = meta["path"].get("addresses") or {"client": "127.0.0.1", "server": "::1"}
    meta["path"]["addresses"] = addrs
    mine = {addrs["client"], addrs["server"]}
    evs = [e for e in evs if "saddr" not in e or e["saddr"] in mine]
    states = [e for e in evs if e["event"] == "inet_sock_set_state"]
    resets = [e for e in evs if e["event"] == "tcp_receive_reset"]

    # split into sockets: (laddr, lport, raddr, rport) + incarnation
    socks = []
    open_by_key = {}
    for e in states:
        if e["dport"] == 0:
            continue  # the listener
        key = (e["saddr"], e["sport"], e["daddr"], e["dport"])
        cur = open_by_key.get(key)
        # a client socket starts CLOSE -> SYN_SENT; a child socket is a
        # clone of the listener and starts LISTEN -> SYN_RECV
        starts = e["old"] in ("TCP_CLOSE", "TCP_LISTEN") and e["new"] in ("TCP_SYN_SENT", "TCP_SYN_RECV")
        if cur is None and not starts:
            continue  # the end of a socket that started before the trace
        if cur is None or (starts and cur["closed"]):
            cur = {"key": key, "events": [], "closed": False}
            socks.append(cur)
            open_by_key[key] = cur
        cur["events"].append(e)
        if e["new"] == "TCP_CLOSE":
            cur["closed"] = True
    listener = [e for e in states if e["dport"] == 0 and e["new"] == "TCP_LISTEN"]

    clients = [s for s in socks if s["key"][1] != sport]
    servers = {}
    for s in socks:
        if s["key"][1] == sport:
            servers.setdefault(s["key"], []).append(s)

    endpoints = []
    for inc_key in incarnations(clients):
        c, inc = inc_key
        la, lp, ra, rp = c["key"]
        ep = endpoint_from_events(c, "client", inc, resets, pcaps[near["client"]])
        endpoints.append(ep)
        # the server side of this client socket
        skey = (ra, rp, la, lp)
        children = servers.get(skey, [])
        child = children[inc] if inc < len(children) else None
        endpoints.append(server_endpoint(skey, inc, child, listener, resets,
                                         pcaps[near["server"]], ep))
    for ep in endpoints:
        ep.setdefault("wire_visible", True)
    # scenario-declared facts the recorder knows but the trace cannot say
    # (e.g. "wire_visible": {"server": false} when nothing reaches a link)
    for fix in meta.get("overrides", []):
        for ep in endpoints:
            if fix.get("role", ep["role"]) != ep["role"]:
                continue
            if "client_port" in fix and not (ep["local"] if ep["role"] == "client" else ep["remote"]).endswith(":%d" % fix["client_port"]):
                continue
            ep.update(fix["set"])
    clock = dict(meta["clock"])
    clock["check"] = clock_check(endpoints, pcaps[near["client"]])
    return {
        "scenario": meta["scenario"],
        "kernel": meta["kernel"],
        "what": meta["what"],
        "captures": meta["captures"],
        "path": meta["path"],
        "sysctl": meta.get("sysctl", {}),
        "rules": meta.get("rules", {}),
        "capture_start": meta["capture_start"],
        "capture_end": end,
        "clock": clock,
        "endpoints": endpoints,
        "notes": meta.get("notes", []),
        "ss": meta.get("ss", {}),
        "raw": [e["line"] for e in evs],
    }


def clock_check(endpoints, client_pkts):
    """The trace clock -> capture clock conversion, checked: the first
    client's SYN must be captured near the client a few microseconds after
    its SYN-SENT tracepoint."""
    for ep in endpoints:
        if ep["role"] != "client":
            continue
        ch = [c for c in ep["changes"] if c.get("to") == "SYN-SENT"]
        port = int(ep["local"].rsplit(":", 1)[1])
        syn = [p for p in client_pkts if p["proto"] == "tcp" and p["sport"] == port and p["flags"] & SYN]
        if ch and syn:
            dt = syn[0]["t"] - ch[0]["time"]
            return {"syn_captured_after_syn_sent_us": round(dt * 1e6, 1), "ok": 0 <= dt < 0.002}
    return None


def incarnations(clients):
    seen = {}
    for c in clients:
        n = seen.get(c["key"], 0)
        seen[c["key"]] = n + 1
        yield c, n


def change(frm, to, t, linux, basis):
    return {"from": frm, "to": to, "time": round(t, 6), "linux": linux, "basis": basis}


def peer_packets(pkts, local, lport, remote, rport):
    return [p for p in pkts if p["proto"] == "tcp" and p["src"] == remote and p["sport"] == rport
            and p["dst"] == local and p["dport"] == lport]


def endpoint_from_events(sock, role, inc, resets, near_pkts, first=None):
    la, lp, ra, rp = sock["key"]
    from_peer = peer_packets(near_pkts, la, lp, ra, rp)
    cur = first or ("CLOSED" if role == "client" else "LISTEN")
    changes = []
    mini = None
    for e in sock["events"]:
        linux = f'{e["old"]}->{e["new"]}'
        rx_rst = any(r for r in resets if r["sport"] == lp and r["dport"] == rp
                     and r["saddr"] == la and 0 <= e["t"] - r["t"] < 0.001)
        fin = any(p for p in from_peer if p["flags"] & FIN and 0 <= e["t"] - p["t"] < 0.002)
        new, note = rfc_state(e["old"], e["new"], rx_rst, fin)
        if role == "server" and e["new"] == "TCP_SYN_RECV" and cur == "SYN-RECEIVED":
            changes[-1]["linux"] += f"; child socket {linux} at {e['t']:.6f}"
            continue
        if new is None:
            if note and note.startswith("mini-socket"):
                mini = e["t"]
                changes.append({"note": note, "time": round(e["t"], 6), "linux": linux})
            continue
        if new == cur:
            continue
        changes.append(change(cur, new, e["t"], linux,
                              "tracepoint" + (f" ({note})" if note else "")))
        cur = new
    if mini is not None and cur == "FIN-WAIT-2":
        cur = derive_mini_socket(changes, cur, mini, from_peer)
    if cur == "TIME-WAIT":
        derive_time_wait_end(changes, from_peer)
    ep = {"local": addr_port(la, lp), "remote": addr_port(ra, rp), "role": role,
          "incarnation": inc}
    finish(ep, changes, "CLOSED" if role == "client" else "LISTEN", first)
    return ep


def derive_mini_socket(changes, cur, t_mini, from_peer):
    """An orphaned FIN-WAIT-2 mini-socket enters TIME-WAIT when the peer's
    FIN arrives (tcp_timewait_state_process), which no tracepoint shows:
    take the first FIN from the peer in the capture nearest this endpoint
    (its own interface, so the capture time is the arrival time)."""
    for p in from_peer:
        if p["flags"] & FIN and p["t"] >= t_mini - 0.0005:
            changes.append(change("FIN-WAIT-2", "TIME-WAIT", p["t"], "(timewait mini-socket: no tracepoint)",
                                  "derived: the peer's FIN arrived at the mini-socket, seen in the capture nearest this endpoint (frame %d)" % p["frame"]))
            return "TIME-WAIT"
    return cur


def derive_time_wait_end(changes, from_peer):
    """A TIME-WAIT mini-socket killed by an in-window RST (seq = rcv_nxt,
    tcp_rfc1337 = 0: "TIME-WAIT assassination"), or removed because it
    accepted a new SYN (TCP_TW_SYN: a new incarnation on the 4-tuple),
    emits no tracepoint: take the arrival of that RST or SYN in the capture
    nearest the endpoint; the endpoint is CLOSED from then on."""
    tw = changes[-1]["time"]
    fins = [p for p in from_peer if p["flags"] & FIN and p["t"] <= tw + 0.0005]
    if not fins:
        return
    rcv_nxt = (fins[-1]["seq"] + fins[-1]["len"] + 1) & 0xFFFFFFFF
    for p in from_peer:
        if p["t"] > tw and p["flags"] & RST and p["seq"] == rcv_nxt:
            changes.append(change("TIME-WAIT", "CLOSED", p["t"], "(timewait mini-socket: no tracepoint)",
                                  "derived: an RST with seq = rcv_nxt arrived in TIME-WAIT (tcp_rfc1337 = 0 kills the mini-socket), frame %d of the capture nearest this endpoint" % p["frame"]))
            return
        if p["t"] > tw and p["flags"] & SYN and not p["flags"] & ACK \
                and ((p["seq"] - rcv_nxt) & 0xFFFFFFFF) < 0x80000000:
            changes.append(change("TIME-WAIT", "CLOSED", p["t"], "(timewait mini-socket: no tracepoint)",
                                  "derived: a new SYN (seq after rcv_nxt) arrived in TIME-WAIT, frame %d of the capture nearest this endpoint; Linux accepts it (TCP_TW_SYN), removes the mini-socket and hands the SYN to the listener, a new incarnation" % p["frame"]))
            return


def finish(ep, changes, initial, first=None):
    path = [first or initial]
    for c in changes:
        if "to" in c:
            path.append(c["to"])
    ep["path"] = path
    ep["changes"] = changes
    tw = [c["time"] for c in changes if c.get("to") == "TIME-WAIT"]
    ep["time_wait_entered"] = tw[0] if tw else None


def server_endpoint(skey, inc, child, listener, resets, near_pkts, client_ep):
    la, lp, ra, rp = skey
    initial = "LISTEN" if listener else "CLOSED"
    from_client = peer_packets(near_pkts, la, lp, ra, rp)
    to_client = peer_packets(near_pkts, ra, rp, la, lp)
    # the incarnation's SYNs: distinct client ISNs in order
    isns = []
    for p in from_client:
        if p["flags"] & SYN and not p["flags"] & ACK and p["seq"] not in isns:
            isns.append(p["seq"])
    syn = None
    if inc < len(isns):
        syn = next(p for p in from_client if p["flags"] & SYN and not p["flags"] & ACK and p["seq"] == isns[inc])
    changes = []
    lst = listener[0]["t"] if listener else None
    if child is not None:
        first_ev = child["events"][0]
        t_syn = syn["t"] if syn else first_ev["t"]
        if syn and first_ev["t"] - syn["t"] < 0.001:
            basis = "tracepoint (child socket created at the SYN: TCP Fast Open)"
            t_syn = first_ev["t"]
        else:
            basis = ("derived: the SYN's arrival in the capture nearest the server (frame %d); "
                     "the request socket (TCP_NEW_SYN_RECV) emits no tracepoint" % syn["frame"]) if syn else \
                "derived: no SYN captured near the server; the child's creation time"
        changes.append(change("LISTEN", "SYN-RECEIVED", t_syn, "request socket TCP_NEW_SYN_RECV", basis))
        ep = endpoint_from_events(child, "server", inc, resets, near_pkts, first=None)
        # endpoint_from_events starts at LISTEN; splice our SYN-RECEIVED in
        rest = [c for c in ep["changes"]]
        if rest and rest[0].get("from") == "LISTEN" and rest[0].get("to") == "SYN-RECEIVED":
            changes[0]["linux"] += "; child socket " + rest[0]["linux"] + " at %.6f" % rest[0]["time"]
            rest = rest[1:]
        changes.extend(rest)
        out = {"local": ep["local"], "remote": ep["remote"], "role": "server", "incarnation": inc}
        finish(out, changes, "LISTEN")
    else:
        out = {"local": addr_port(la, lp), "remote": addr_port(ra, rp), "role": "server", "incarnation": inc}
        if not listener:
            out["basis"] = "nothing listened on the port: no socket was created (the SYN was answered with RST by the kernel)"
        elif syn is None:
            out["basis"] = "no SYN of this connection reached the server; the listener stayed in LISTEN and no socket was created"
        else:
            synacks = [p for p in to_client if p["flags"] & SYN and p["flags"] & ACK and p["t"] >= syn["t"]]
            if not synacks:
                out["basis"] = "the SYN arrived but the listener dropped it (no SYN,ACK: accept queue full); no request socket was created"
            else:
                changes.append(change("LISTEN", "SYN-RECEIVED", syn["t"], "request socket TCP_NEW_SYN_RECV (no tracepoint)",
                                      "derived: the SYN's arrival (frame %d) answered by a SYN,ACK; request sockets emit no tracepoint" % syn["frame"]))
                rst = [p for p in to_client if p["flags"] & RST and p["t"] > syn["t"]]
                if rst:
                    changes.append(change("SYN-RECEIVED", "CLOSED", rst[0]["t"], "request socket dropped (no tracepoint)",
                                          "derived: the server sent an RST (frame %d) from the request socket (accept queue overflow with tcp_abort_on_overflow, or the request expired)" % rst[0]["frame"]))
                out["basis"] = "request socket only: it never became a full socket (no child socket in the trace)"
        finish(out, changes, initial)
    if lst is not None:
        out["listener_since"] = round(lst, 6)
    return out


def rebuild(d):
    path = os.path.join(d, "truth.json")
    with open(os.path.join(d, "meta.json")) as f:
        meta = json.load(f)
    # the scenario's current description and overrides (kernel_record.py)
    import kernel_record
    sc = kernel_record.SCENARIOS.get(meta["scenario"])
    if sc:
        meta["what"] = sc["what"]
        meta["overrides"] = sc["overrides"]
        with open(os.path.join(d, "meta.json"), "w") as f:
            json.dump(meta, f, indent=1)
    truth = build(meta, meta["raw"], d)
    truth["router_actions"] = meta.get("router_actions", [])
    write(truth, d)


def write(truth, d):
    with open(os.path.join(d, "truth.json"), "w") as f:
        json.dump(truth, f, indent=1)
        f.write("\n")


if __name__ == "__main__":
    if len(sys.argv) >= 3 and sys.argv[1] == "rebuild":
        for d in sys.argv[2:]:
            rebuild(d)
    else:
        print(__doc__, file=sys.stderr)
        sys.exit(2)
