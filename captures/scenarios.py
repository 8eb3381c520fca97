#!/usr/bin/env python3
"""Client and server programs for tcpladder's sample captures.

record.sh runs this file *inside* a private network namespace, one
scenario per invocation:

    python3 scenarios.py NAME

Client and server are threads of this one process and talk over the
namespace's loopback only (127.0.0.1 or ::1).  Scenarios that need a
packet to vanish at a precise moment add and remove iptables rules
themselves (the process runs as root inside the namespace, so the rules
only exist there).

Exit status 75 means "the kernel did not produce the wanted interleaving
this time"; record.sh then records the scenario again in a fresh
namespace.
"""

import socket
import struct
import subprocess
import sys
import threading
import time

PORT = 9502
V4 = "127.0.0.1"
V6 = "::1"
RETRY = 75  # EX_TEMPFAIL

# linux/tcp.h: enum tcp_state
TCP_STATES = {
    1: "ESTABLISHED", 2: "SYN_SENT", 3: "SYN_RECV", 4: "FIN_WAIT1",
    5: "FIN_WAIT2", 6: "TIME_WAIT", 7: "CLOSE", 8: "CLOSE_WAIT",
    9: "LAST_ACK", 10: "LISTEN", 11: "CLOSING",
}

REQUEST = b"GET /hello\n"
REPLY = b"hello from the server\n"


# ---------------------------------------------------------------- helpers

def log(*parts):
    print("[scenarios]", *parts, file=sys.stderr, flush=True)


def iptables(*rule, v6=False):
    """Run one iptables (or ip6tables) command in the current namespace."""
    cmd = ["ip6tables" if v6 else "iptables", "-w"] + list(rule)
    subprocess.run(cmd, check=True)


def tcp_state(sock):
    """Kernel state of a TCP socket, read from TCP_INFO (first byte)."""
    info = sock.getsockopt(socket.IPPROTO_TCP, socket.TCP_INFO, 8)
    return TCP_STATES.get(info[0], str(info[0]))


def ss_states(port):
    """Count socket states involving `port`, using ss (sees orphans too)."""
    out = subprocess.run(
        ["ss", "-Htan", f"( sport = :{port} or dport = :{port} )"],
        check=True, capture_output=True, text=True).stdout
    states = {}
    for line in out.splitlines():
        name = line.split()[0]
        states[name] = states.get(name, 0) + 1
    return states


def family_of(host):
    return socket.AF_INET6 if ":" in host else socket.AF_INET


def listener(host=V4, port=PORT, backlog=16):
    s = socket.socket(family_of(host), socket.SOCK_STREAM)
    s.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    s.bind((host, port))
    s.listen(backlog)
    return s


def bound_socket(host, cport):
    """A TCP socket bound to a fixed local port (reproducible 4-tuples)."""
    s = socket.socket(family_of(host), socket.SOCK_STREAM)
    s.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    s.bind((host, cport))
    return s


def connect(host, cport, port=PORT):
    s = bound_socket(host, cport)
    s.connect((host, port))
    return s


def read_line(sock):
    data = b""
    while not data.endswith(b"\n"):
        chunk = sock.recv(4096)
        if not chunk:
            break
        data += chunk
    return data


def read_to_eof(sock):
    total = 0
    while True:
        chunk = sock.recv(65536)
        if not chunk:
            return total
        total += len(chunk)


def run_thread(target, *args):
    errors = []

    def wrapper():
        try:
            target(*args)
        except BaseException as exc:  # report failures to the main thread
            errors.append(exc)

    t = threading.Thread(target=wrapper, daemon=True)
    t.start()
    return t, errors


def join(thread_and_errors, timeout=30):
    t, errors = thread_and_errors
    t.join(timeout)
    if t.is_alive():
        raise RuntimeError("server thread did not finish")
    if errors:
        raise errors[0]


def settle(seconds=0.05):
    """Let delayed ACKs go out so the next step starts from a quiet link."""
    time.sleep(seconds)


# ---------------------------------------------- a plain request/reply session

def session(host, cport, closer="client", gap=0.1, port=PORT):
    """Handshake, one request, one reply, then a four-way close.

    `closer` closes first; the other side closes `gap` seconds after it
    has read the end of stream, so FIN, ACK, FIN, ACK are four segments.
    """
    srv = listener(host, port)

    def server():
        conn, _ = srv.accept()
        read_line(conn)
        conn.sendall(REPLY)
        if closer == "server":
            conn.close()
        else:
            read_to_eof(conn)
            time.sleep(gap)
            conn.close()

    th = run_thread(server)
    c = connect(host, cport, port)
    c.sendall(REQUEST)
    read_line(c)
    if closer == "client":
        settle()
        c.close()
    else:
        read_to_eof(c)
        time.sleep(gap)
        c.close()
    join(th)
    srv.close()


# --------------------------------------------------------------- scenarios

def sc_client_close():
    session(V4, 40001, closer="client")


def sc_server_close():
    srv = listener(V4)

    def server():
        conn, _ = srv.accept()
        read_line(conn)
        conn.sendall(REPLY)
        settle()
        conn.close()

    th = run_thread(server)
    c = connect(V4, 40002)
    c.sendall(REQUEST)
    read_line(c)
    read_to_eof(c)
    time.sleep(0.1)
    c.close()
    join(th)
    srv.close()


def sc_refused():
    # Nothing listens on PORT in this namespace.
    c = bound_socket(V4, 40003)
    try:
        c.connect((V4, PORT))
    except ConnectionRefusedError:
        log("connect refused, as expected")
    else:
        raise RuntimeError("connect unexpectedly succeeded")
    finally:
        c.close()


def sc_syn_timeout():
    # record.sh drops every SYN to PORT and sets tcp_syn_retries=3.  A
    # listener exists, so only the firewall keeps the handshake from
    # completing.
    srv = listener(V4)
    c = bound_socket(V4, 40004)
    start = time.monotonic()
    try:
        c.connect((V4, PORT))
    except TimeoutError:
        log(f"connect timed out after {time.monotonic() - start:.1f} s")
    else:
        raise RuntimeError("connect unexpectedly succeeded")
    finally:
        c.close()
        srv.close()


def sc_simultaneous_open():
    """Two sockets connect() to each other; the SYNs cross.

    The first SYNs are dropped in OUTPUT (so they never reach lo and are
    not captured) while both connect() calls start within microseconds
    of each other.  Both retransmission timers then expire in the same
    timer-wheel slot, so both retransmitted SYNs are on the wire before
    either is received: SYN, SYN, SYN-ACK, SYN-ACK.
    """
    a = bound_socket(V4, PORT)
    b = bound_socket(V4, 40005)
    a.setblocking(False)
    b.setblocking(False)
    syn_rule = ["OUTPUT", "-p", "tcp", "--syn", "-j", "DROP"]
    iptables("-A", *syn_rule)
    ea = a.connect_ex((V4, 40005))
    eb = b.connect_ex((V4, PORT))
    iptables("-D", *syn_rule)
    log("connect_ex:", ea, eb, tcp_state(a), tcp_state(b))
    deadline = time.monotonic() + 5
    while time.monotonic() < deadline:
        if tcp_state(a) == "ESTABLISHED" and tcp_state(b) == "ESTABLISHED":
            break
        time.sleep(0.01)
    for s in (a, b):
        err = s.getsockopt(socket.SOL_SOCKET, socket.SO_ERROR)
        if err:
            raise OSError(err, "simultaneous open failed")
        s.setblocking(True)
    log("states after open:", tcp_state(a), tcp_state(b))
    settle(0.3)
    # A little data each way, then a normal close (b first).
    a.sendall(b"hello from 9502\n")
    read_line(b)
    b.sendall(b"hello from 40005\n")
    read_line(a)
    settle()
    b.close()
    read_to_eof(a)
    time.sleep(0.1)
    a.close()


def sc_simultaneous_close():
    """Both sides send FIN before either FIN has arrived.

    The first FINs are dropped in OUTPUT (never captured).  The kernel
    keeps each FIN queued and re-sends it from a timer about 200 ms later;
    both timers were armed microseconds apart, so they fire together and
    the two FINs cross: FIN, FIN, ACK, ACK, both sides end in TIME-WAIT.
    """
    srv = listener(V4)
    c = connect(V4, 40006)
    s, _ = srv.accept()
    srv.close()
    c.sendall(REQUEST)
    read_line(s)
    s.sendall(REPLY)
    read_line(c)
    settle(0.3)  # all delayed ACKs are out
    fin_rule = ["OUTPUT", "-p", "tcp", "--tcp-flags", "FIN", "FIN",
                "-j", "DROP"]
    iptables("-A", *fin_rule)
    c.shutdown(socket.SHUT_WR)
    s.shutdown(socket.SHUT_WR)
    iptables("-D", *fin_rule)
    log("after shutdown:", tcp_state(c), tcp_state(s))
    read_to_eof(c)
    read_to_eof(s)
    states = (tcp_state(c), tcp_state(s))
    log("after both FINs:", *states)
    c.close()
    s.close()
    time.sleep(0.05)
    seen = ss_states(PORT)
    log("ss:", seen)
    if seen.get("TIME-WAIT", 0) != 2:
        log("FINs did not cross this time")
        sys.exit(RETRY)


def sc_half_close():
    srv = listener(V4)
    chunks, size = 6, 512

    def server():
        conn, _ = srv.accept()
        conn.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
        read_line(conn)
        if conn.recv(1):
            raise RuntimeError("expected end of stream from the client")
        # The client can no longer send, but it still reads.
        for i in range(chunks):
            conn.sendall(bytes([0x61 + i]) * (size - 1) + b"\n")
            time.sleep(0.05)
        conn.close()

    th = run_thread(server)
    c = connect(V4, 40007)
    c.sendall(REQUEST)
    c.shutdown(socket.SHUT_WR)
    got = read_to_eof(c)
    log(f"client read {got} bytes after its own FIN")
    c.close()
    join(th)
    srv.close()


def sc_abort_rst():
    srv = listener(V4)
    result = []

    def server():
        conn, _ = srv.accept()
        read_line(conn)
        conn.sendall(REPLY)
        try:
            conn.recv(4096)
        except ConnectionResetError:
            result.append("reset")
        conn.close()

    th = run_thread(server)
    c = connect(V4, 40008)
    c.sendall(REQUEST)
    read_line(c)
    settle()
    # SO_LINGER {l_onoff=1, l_linger=0}: close() aborts with a RST.
    c.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))
    c.close()
    join(th)
    srv.close()
    log("server saw:", result)


def sc_rst_unread():
    srv = listener(V4)

    def server():
        conn, _ = srv.accept()
        time.sleep(0.1)  # never reads the request
        conn.close()     # unread data -> RST instead of FIN

    th = run_thread(server)
    c = connect(V4, 40009)
    c.sendall(b"data the server never reads\n" * 4)
    join(th)
    try:
        c.recv(4096)
        log("client: no reset seen")
    except ConnectionResetError:
        log("client: connection reset by peer")
    c.close()
    srv.close()


def sc_ipv6():
    session(V6, 40010, closer="client")


def sc_reuse_time_wait():
    """Two connections on one 4-tuple.

    The first is closed by the server, so the server side sits in
    TIME-WAIT; the client then connects again from the same port and
    the TIME-WAIT socket accepts the new SYN (higher ISN and timestamp).
    """
    srv = listener(V4)
    cport = 40011

    def server():
        for closer in ("server", "client"):
            conn, _ = srv.accept()
            read_line(conn)
            conn.sendall(REPLY)
            if closer == "server":
                settle()
                conn.close()
            else:
                read_to_eof(conn)
                time.sleep(0.1)
                conn.close()

    th = run_thread(server)
    # Round 1: the server closes first.
    c = connect(V4, cport)
    c.sendall(REQUEST)
    read_line(c)
    read_to_eof(c)
    time.sleep(0.1)
    c.close()
    time.sleep(0.3)
    seen = ss_states(PORT)
    log("between rounds:", seen)
    if seen.get("TIME-WAIT", 0) != 1:
        raise RuntimeError("expected the server side in TIME-WAIT")
    # Round 2: same client port, same server port.
    c = connect(V4, cport)
    c.sendall(REQUEST)
    read_line(c)
    settle()
    c.close()
    join(th)
    srv.close()


def sc_retransmission():
    # record.sh drops the second data segment from the server and the
    # first FIN, each exactly once, in INPUT: the capture shows both the
    # lost segments and the kernel's retransmissions.
    srv = listener(V4)
    chunks, size = 4, 400

    def server():
        conn, _ = srv.accept()
        conn.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
        read_line(conn)
        for i in range(chunks):
            conn.sendall(bytes([0x41 + i]) * (size - 1) + b"\n")
            time.sleep(0.05)
        read_to_eof(conn)
        time.sleep(0.1)
        conn.close()

    th = run_thread(server)
    c = connect(V4, 40012)
    c.sendall(REQUEST)
    got = 0
    while got < chunks * size:
        chunk = c.recv(65536)
        if not chunk:
            break
        got += len(chunk)
    log(f"client received {got} bytes")
    settle()
    c.close()  # this FIN is dropped once and retransmitted
    join(th)
    srv.close()


def sc_many_connections(count=128):
    srv = listener(V4, backlog=256)
    start = threading.Barrier(count)

    def handle(conn):
        with conn:
            line = read_line(conn)
            time.sleep(0.002)
            conn.sendall(b"re: " + line)
            read_to_eof(conn)
            time.sleep(0.01)

    def server():
        workers = []
        for _ in range(count):
            conn, _ = srv.accept()
            t = threading.Thread(target=handle, args=(conn,), daemon=True)
            t.start()
            workers.append(t)
        for t in workers:
            t.join(30)

    def client(i):
        start.wait()
        time.sleep((i % 10) * 0.003)
        c = connect(V4, 41000 + i)
        c.sendall(f"request {i}\n".encode())
        read_line(c)
        time.sleep((i % 7) * 0.004)
        c.close()

    th = run_thread(server)
    clients = [run_thread(client, i) for i in range(count)]
    for t in clients:
        join(t)
    join(th)
    srv.close()


def sc_nanosecond():
    session(V4, 40013, closer="client")


def sc_multi_interface():
    # record.sh captures port 9502 on lo (Ethernet) and port 9503 on any
    # (Linux cooked): one session on each interface, each seen once.
    session(V4, 40014, closer="client")
    session(V4, 40016, closer="server", port=PORT + 1)


def sc_syn_retransmit():
    # record.sh drops the first SYN to PORT once; the retransmission
    # one second later gets through.
    session(V4, 40015, closer="client")


SCENARIOS = {name[3:].replace("_", "-"): fn
             for name, fn in globals().items() if name.startswith("sc_")}


# ------------------------------------------------------- capture checking
#
# A small reader for the files written above (pcap in micro- or
# nanoseconds, pcapng; Ethernet, Linux cooked v1/v2; IPv4/IPv6; TCP) and
# one check per scenario, so that record.sh only keeps captures that
# really show what their names say.

FIN, SYN, RST, PSH, ACK = 0x01, 0x02, 0x04, 0x08, 0x10


class Seg:
    """One captured TCP segment."""

    def __init__(self, ts, ifid, linktype, ipver, src, dst, sport, dport,
                 seq, ack, flags, length):
        self.ts, self.ifid, self.linktype = ts, ifid, linktype
        self.ipver, self.src, self.dst = ipver, src, dst
        self.sport, self.dport = sport, dport
        self.seq, self.ack, self.flags, self.len = seq, ack, flags, length

    def has(self, *bits):
        return all(self.flags & b for b in bits)

    def only(self, *bits):
        """Exactly these of SYN/FIN/RST/ACK are set (PSH ignored)."""
        want = 0
        for b in bits:
            want |= b
        return self.flags & (FIN | SYN | RST | ACK) == want

    def __repr__(self):
        names = "".join(c for c, b in zip("FSRPA", (FIN, SYN, RST, PSH, ACK))
                        if self.flags & b)
        return (f"{self.ts:.6f} {self.sport}>{self.dport} [{names}] "
                f"seq={self.seq} ack={self.ack} len={self.len}")


def parse_frame(data, linktype):
    """-> (ipver, src, dst, tcp_bytes, ip_payload_len) or None."""
    if linktype == 1:            # Ethernet
        ethertype, off = struct.unpack_from("!H", data, 12)[0], 14
    elif linktype == 113:        # Linux cooked capture v1
        ethertype, off = struct.unpack_from("!H", data, 14)[0], 16
    elif linktype == 276:        # Linux cooked capture v2
        ethertype, off = struct.unpack_from("!H", data, 0)[0], 20
    else:
        raise ValueError(f"link type {linktype} not handled")
    if ethertype == 0x0800:
        ihl = (data[off] & 0x0F) * 4
        total, proto = struct.unpack_from("!H", data, off + 2)[0], data[off + 9]
        if proto != 6:
            return None
        src = socket.inet_ntop(socket.AF_INET, data[off + 12:off + 16])
        dst = socket.inet_ntop(socket.AF_INET, data[off + 16:off + 20])
        return 4, src, dst, data[off + ihl:off + total], total - ihl
    if ethertype == 0x86DD:
        plen, nxt = struct.unpack_from("!HB", data, off + 4)
        if nxt != 6:
            return None
        src = socket.inet_ntop(socket.AF_INET6, data[off + 8:off + 24])
        dst = socket.inet_ntop(socket.AF_INET6, data[off + 24:off + 40])
        return 6, src, dst, data[off + 40:off + 40 + plen], plen
    return None


def read_frames(path):
    """Yield (ts, interface id, linktype, bytes); also returns file info."""
    with open(path, "rb") as f:
        blob = f.read()
    magic = blob[:4]
    frames, info = [], {}
    if magic in (b"\xd4\xc3\xb2\xa1", b"\x4d\x3c\xb2\xa1"):
        nano = magic == b"\x4d\x3c\xb2\xa1"
        info["format"] = "pcap-ns" if nano else "pcap-us"
        linktype = struct.unpack_from("<I", blob, 20)[0]
        info["linktypes"] = [linktype]
        off = 24
        while off + 16 <= len(blob):
            sec, frac, caplen, _ = struct.unpack_from("<IIII", blob, off)
            ts = sec + frac / (1e9 if nano else 1e6)
            frames.append((ts, 0, linktype, blob[off + 16:off + 16 + caplen]))
            off += 16 + caplen
    elif magic == b"\x0a\x0d\x0d\x0a":
        info["format"] = "pcapng"
        info["linktypes"] = []
        tsres = []
        off = 0
        while off + 12 <= len(blob):
            btype, blen = struct.unpack_from("<II", blob, off)
            body = blob[off + 8:off + blen - 4]
            if btype == 1:       # Interface Description Block
                info["linktypes"].append(struct.unpack_from("<H", body, 0)[0])
                res = 1e-6
                opt = 8
                while opt + 4 <= len(body):
                    code, olen = struct.unpack_from("<HH", body, opt)
                    if code == 0:
                        break
                    if code == 9:  # if_tsresol
                        v = body[opt + 4]
                        res = 2.0 ** -(v & 0x7F) if v & 0x80 else 10.0 ** -v
                    opt += 4 + (olen + 3) // 4 * 4
                tsres.append(res)
            elif btype == 6:     # Enhanced Packet Block
                ifid, hi, lo, caplen = struct.unpack_from("<IIII", body, 0)
                ts = ((hi << 32) | lo) * tsres[ifid]
                frames.append((ts, ifid, info["linktypes"][ifid],
                               body[20:20 + caplen]))
            off += blen
    else:
        raise ValueError(f"{path}: not a pcap or pcapng file")
    return frames, info


def read_segments(path):
    frames, info = read_frames(path)
    segs = []
    for ts, ifid, linktype, data in frames:
        parsed = parse_frame(data, linktype)
        if parsed is None:
            continue
        ipver, src, dst, tcp, plen = parsed
        sport, dport, seq, ack, doff_flags = struct.unpack_from("!HHIIH", tcp, 0)
        hdr = (doff_flags >> 12) * 4
        segs.append(Seg(ts, ifid, linktype, ipver, src, dst, sport, dport,
                        seq, ack, doff_flags & 0x3F, plen - hdr))
    return segs, info


class Mismatch(Exception):
    pass


def expect(cond, what):
    if not cond:
        raise Mismatch(what)


def handshake_ok(segs, client_port):
    expect(len(segs) >= 3, "too few packets")
    a, b, c = segs[:3]
    expect(a.only(SYN) and a.sport == client_port, "first packet is not the client's SYN")
    expect(b.only(SYN, ACK) and b.ack == a.seq + 1, "second packet is not a SYN-ACK")
    expect(c.only(ACK) and c.ack == b.seq + 1, "third packet is not the handshake ACK")


def four_way_close(segs, first_port):
    """The last four packets: FIN, ACK, FIN, ACK, the first from first_port."""
    f1, a1, f2, a2 = segs[-4:]
    expect(f1.has(FIN) and f1.sport == first_port, "close does not start with the right FIN")
    expect(a1.only(ACK) and a1.dport == first_port and a1.ack == f1.seq + 1,
           "FIN not acknowledged by a separate ACK")
    expect(f2.has(FIN) and f2.dport == first_port and f2.ack == f1.seq + 1,
           "second FIN missing")
    expect(a2.only(ACK) and a2.sport == first_port and a2.ack == f2.seq + 1,
           "last ACK missing")


def check(name, path):
    segs, info = read_segments(path)
    on_lo = [s for s in segs if s.ifid == 0]
    fins = [s for s in on_lo if s.has(FIN)]
    syns = [s for s in on_lo if s.only(SYN)]
    synacks = [s for s in on_lo if s.only(SYN, ACK)]
    rsts = [s for s in on_lo if s.has(RST)]
    if name in ("client-close", "nanosecond", "multi-interface", "syn-retransmit"):
        cport = {"client-close": 40001, "nanosecond": 40013,
                 "multi-interface": 40014, "syn-retransmit": 40015}[name]
        if name == "syn-retransmit":
            expect(len(syns) == 2 and syns[0].seq == syns[1].seq,
                   "expected one SYN and its retransmission")
            expect(syns[1].ts - syns[0].ts > 0.9, "retransmission too early")
            handshake_ok(on_lo[1:], cport)
        else:
            handshake_ok(on_lo, cport)
        four_way_close(on_lo, cport)
        if name == "nanosecond":
            expect(info["format"] == "pcap-ns", "not a nanosecond pcap")
        if name == "multi-interface":
            expect(len(set(info["linktypes"])) == 2, "need two link types")
            per_if = [sum(1 for s in segs if s.ifid == i) for i in (0, 1)]
            expect(per_if[0] == per_if[1] > 0, f"packets per interface {per_if}")
            on_any = [s for s in segs if s.ifid == 1]
            expect(all(PORT + 1 in (s.sport, s.dport) for s in on_any),
                   "interface 1 should carry only the session on port 9503")
            handshake_ok(on_any, 40016)
            four_way_close(on_any, PORT + 1)
    elif name == "ipv6":
        expect(all(s.ipver == 6 for s in segs), "not all IPv6")
        handshake_ok(segs, 40010)
        four_way_close(segs, 40010)
    elif name == "server-close":
        handshake_ok(segs, 40002)
        four_way_close(segs, PORT)
    elif name == "refused":
        expect(len(segs) == 2 and segs[0].only(SYN) and segs[1].only(RST, ACK)
               and segs[1].ack == segs[0].seq + 1, "expected SYN then RST,ACK")
    elif name == "syn-timeout":
        expect(len(segs) == len(syns) == 4, "expected exactly 4 SYNs")
        expect(len({s.seq for s in syns}) == 1, "SYNs differ")
        gaps = [round(b.ts - a.ts) for a, b in zip(syns, syns[1:])]
        expect(gaps == [1, 2, 4], f"unexpected backoff {gaps}")
    elif name == "simultaneous-open":
        s1, s2, sa1, sa2 = segs[:4]
        expect(s1.only(SYN) and s2.only(SYN) and s1.sport == s2.dport,
               "the capture does not start with two crossing SYNs")
        expect(sa1.only(SYN, ACK) and sa2.only(SYN, ACK) and sa1.sport == sa2.dport,
               "the SYNs are not followed by a SYN-ACK from each side")
        expect(len(syns) == 2 and len(synacks) == 2, "extra SYNs")
        four_way_close(segs, 40005)
    elif name == "simultaneous-close":
        handshake_ok(segs, 40006)
        i = segs.index(fins[0])
        f1, f2 = segs[i], segs[i + 1]
        expect(len(fins) == 2 and f2 is fins[1], "the two FINs are not adjacent")
        expect(f1.sport == f2.dport, "both FINs from one side")
        expect(f1.ack == f2.seq and f2.ack == f1.seq,
               "the FINs do not cross (one acknowledges the other)")
        a1, a2 = segs[i + 2:i + 4]
        expect(a1.only(ACK) and a2.only(ACK) and a1.sport == a2.dport,
               "each FIN not acknowledged")
    elif name == "half-close":
        handshake_ok(segs, 40007)
        i = segs.index(fins[0])
        expect(fins[0].sport == 40007, "client did not send the first FIN")
        after = [s for s in segs[i:] if s.sport == PORT and s.len > 0]
        expect(len(after) >= 3, "server sent too little after the client's FIN")
        expect(len(fins) == 2 and fins[1].sport == PORT and segs[-1].only(ACK),
               "the server's FIN and the final ACK are missing")
    elif name == "abort-rst":
        handshake_ok(segs, 40008)
        expect(not fins and len(rsts) == 1 and rsts[0].sport == 40008
               and segs[-1] is rsts[0], "expected the client's RST and no FIN")
    elif name == "rst-unread":
        handshake_ok(segs, 40009)
        expect(any(s.sport == 40009 and s.len > 0 for s in segs), "no client data")
        expect(not any(s.sport == PORT and s.len > 0 for s in segs), "server sent data")
        expect(not fins and len(rsts) == 1 and rsts[0].sport == PORT,
               "expected the server's RST and no FIN")
    elif name == "reuse-time-wait":
        expect(len(syns) == 2 and len(synacks) == 2, "expected two handshakes")
        expect(len({(s.sport, s.dport) for s in syns}) == 1, "not one 4-tuple")
        expect(0 < (syns[1].seq - syns[0].seq) % 2**32 < 2**31,
               "second ISN is not higher")
        expect(fins[0].sport == PORT, "the server did not close first")
        first = segs[:segs.index(syns[1])]
        four_way_close(first, PORT)
        four_way_close(segs, 40011)
    elif name == "retransmission":
        handshake_ok(segs, 40012)
        data = [(s.sport, s.seq) for s in segs if s.len > 0]
        expect(len(data) > len(set(data)), "no data segment sent twice")
        fin_keys = [(s.sport, s.seq) for s in fins]
        expect(len(fin_keys) > len(set(fin_keys)), "no FIN sent twice")
    elif name == "many-connections":
        ports = {s.sport for s in syns}
        expect(len(ports) >= 120 and len(synacks) == len(ports), "too few connections")
        expect(len(fins) == 2 * len(ports) and not rsts, "not all closed normally")
        first_fin = min(s.ts for s in fins)
        expect(sum(1 for s in syns if s.ts < first_fin) > 10, "not interleaved")
    else:
        raise Mismatch(f"no check for {name}")
    return len(segs)


def main(argv):
    if len(argv) == 4 and argv[1] == "check":
        try:
            n = check(argv[2], argv[3])
        except (Mismatch, IndexError, ValueError) as exc:
            print(f"[check] {argv[2]}: {exc}", file=sys.stderr)
            return RETRY
        print(f"[check] {argv[2]}: ok ({n} TCP segments)", file=sys.stderr)
        return 0
    if len(argv) != 2 or argv[1] not in SCENARIOS:
        print(f"usage: {argv[0]} {{{','.join(SCENARIOS)}}}\n"
              f"       {argv[0]} check NAME FILE", file=sys.stderr)
        return 2
    SCENARIOS[argv[1]]()
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv))
