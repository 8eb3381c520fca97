#!/usr/bin/env python3
"""Record the kernel-truth captures (captures/kernel/NAME/).  Root only;
run through record-kernel.sh, which also cleans up after an interruption.

    python3 kernel_record.py [NAME...]     # default: every scenario
    python3 kernel_record.py --list

For each scenario:

1. build the path: namespaces tlk-c (client) - tlk-r1 - tlk-r2 - tlk-s
   (server) joined by veth pairs c0-r1a, r1b-r2a, r2b-s0, or for a
   loopback scenario one namespace tlk-lo;
2. start kernel_fwd.py in tlk-r1 and tlk-r2 (half the one-way delay each,
   and the scenario's rules);
3. make a private tracing instance, trace_clock mono, enable
   sock/inet_sock_set_state and tcp/tcp_receive_reset filtered on the
   scenario's server port (every socket of a scenario has it as its local
   or remote port);
4. start tcpdump near the client (c0), half way (r1b) and near the server
   (s0), or on lo;
5. note CLOCK_REALTIME - CLOCK_MONOTONIC, run the scenario's client and
   server (threads that enter their namespace with setns), take `ss`
   snapshots, note the clock offset again;
6. stop the captures, read the trace, remove instance, processes and
   namespaces (also on any error or signal);
7. write meta.json (everything recorded, including the raw trace) and
   truth.json (kernel_truth.build).
"""

import ctypes
import json
import os
import shutil
import signal
import socket
import struct
import subprocess
import sys
import threading
import time

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, HERE)
import kernel_truth  # noqa: E402

OUT = os.environ.get("OUT", os.path.join(HERE, "kernel"))
TRACEFS = "/sys/kernel/tracing"
PORT = 9711
DELAY_MS = 20.0  # one way, client to server, split over r1 and r2
C4, S4 = "198.18.1.2", "198.18.2.2"
C6, S6 = "2001:db8::1:2", "2001:db8::2:2"
R1_4, R2_4, R1_6, R2_6 = "198.18.0.1", "198.18.0.2", "2001:db8::1", "2001:db8::2"
MAC = {"c0": "02:00:00:00:01:02", "r1a": "02:00:00:00:01:01", "r1b": "02:00:00:00:0a:01",
       "r2a": "02:00:00:00:0a:02", "r2b": "02:00:00:00:02:01", "s0": "02:00:00:00:02:02"}
NS_PATH = ["tlk-c", "tlk-r1", "tlk-r2", "tlk-s"]
NS_LO = "tlk-lo"
REQUEST = b"GET /hello\n"
REPLY = b"hello from the server\n"
CLONE_NEWNET = 0x40000000
libc = ctypes.CDLL("libc.so.6", use_errno=True)


def log(*a):
    print("[kernel_record]", *a, file=sys.stderr, flush=True)


def sh(*cmd, check=True, capture=False):
    r = subprocess.run(list(cmd), check=check, capture_output=capture, text=True)
    return r.stdout if capture else r.returncode


def nsx(ns, *cmd, **kw):
    return sh("ip", "netns", "exec", ns, *cmd, **kw)


# ------------------------------------------------------------ namespaces

class netns:
    """`with netns("tlk-s"): socket.socket(...)` creates the socket in that
    namespace (setns on this thread only, undone on exit)."""

    def __init__(self, name):
        self.name = name

    def __enter__(self):
        self.back = os.open("/proc/thread-self/ns/net", os.O_RDONLY)
        fd = os.open(f"/run/netns/{self.name}", os.O_RDONLY)
        try:
            if libc.setns(fd, CLONE_NEWNET) != 0:
                raise OSError(ctypes.get_errno(), "setns " + self.name)
        finally:
            os.close(fd)

    def __exit__(self, *exc):
        libc.setns(self.back, CLONE_NEWNET)
        os.close(self.back)


def offloads_off(ns, ifname):
    """ethtool -K IF tx off sg off tso off gso off gro off, without ethtool
    (not installed): the legacy SIOCETHTOOL set commands.  Without it
    veth frames leave with partial checksums and as GSO super-frames, which
    a user-space forwarder can neither send on nor make sense of."""
    SIOCETHTOOL = 0x8946
    # ETHTOOL_STXCSUM, ETHTOOL_SSG, ETHTOOL_STSO, ETHTOOL_SGSO, ETHTOOL_SGRO
    cmds = [0x17, 0x19, 0x1f, 0x24, 0x2c]
    import fcntl
    with netns(ns):
        s = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
    try:
        for cmd in cmds:
            buf = ctypes.create_string_buffer(struct.pack("II", cmd, 0))
            ifr = struct.pack("16sP", ifname.encode(), ctypes.addressof(buf)) + b"\0" * 16
            try:
                fcntl.ioctl(s.fileno(), SIOCETHTOOL, ifr)
            except OSError as e:
                log(f"{ns} {ifname}: ethtool cmd {cmd:#x}: {e}")
    finally:
        s.close()


def del_all_ns():
    for ns in NS_PATH + [NS_LO]:
        if os.path.exists(f"/run/netns/{ns}"):
            sh("ip", "netns", "del", ns, check=False)


def make_path():
    del_all_ns()
    for ns in NS_PATH:
        sh("ip", "netns", "add", ns)
        nsx(ns, "ip", "link", "set", "lo", "up")
    for ns in ("tlk-r1", "tlk-r2"):
        nsx(ns, "sysctl", "-qw", "net.ipv6.conf.all.disable_ipv6=1")
        nsx(ns, "sysctl", "-qw", "net.ipv6.conf.default.disable_ipv6=1")
    for ns in ("tlk-c", "tlk-s"):
        nsx(ns, "sysctl", "-qw", "net.ipv6.conf.all.accept_dad=0")
        nsx(ns, "sysctl", "-qw", "net.ipv6.conf.default.accept_dad=0")
        nsx(ns, "sysctl", "-qw", "net.ipv6.conf.default.router_solicitations=0")
    pairs = [("tlk-c", "c0", "tlk-r1", "r1a"), ("tlk-r1", "r1b", "tlk-r2", "r2a"),
             ("tlk-r2", "r2b", "tlk-s", "s0")]
    for ns1, i1, ns2, i2 in pairs:
        sh("ip", "link", "add", i1, "netns", ns1, "address", MAC[i1], "type", "veth",
           "peer", "name", i2, "netns", ns2, "address", MAC[i2])
    for ns, ifs in (("tlk-c", ["c0"]), ("tlk-r1", ["r1a", "r1b"]),
                    ("tlk-r2", ["r2a", "r2b"]), ("tlk-s", ["s0"])):
        for i in ifs:
            offloads_off(ns, i)
            nsx(ns, "ip", "link", "set", i, "up")
            if ns in ("tlk-r1", "tlk-r2"):
                nsx(ns, "ip", "link", "set", i, "promisc", "on")
    for ns, i, a4, a6, p4, p6, pmac in (("tlk-c", "c0", C4, C6, S4, S6, MAC["s0"]),
                                        ("tlk-s", "s0", S4, S6, C4, C6, MAC["c0"])):
        nsx(ns, "ip", "addr", "add", a4 + "/16", "dev", i)
        nsx(ns, "ip", "-6", "addr", "add", a6 + "/64", "dev", i, "nodad")
        nsx(ns, "ip", "neigh", "replace", p4, "lladdr", pmac, "dev", i, "nud", "permanent")
        nsx(ns, "ip", "-6", "neigh", "replace", p6, "lladdr", pmac, "dev", i, "nud", "permanent")


def make_lo():
    del_all_ns()
    sh("ip", "netns", "add", NS_LO)
    nsx(NS_LO, "ip", "link", "set", "lo", "up")


# ------------------------------------------------------------ tracing

class Trace:
    def __init__(self, port):
        if not os.path.isdir(TRACEFS + "/instances"):
            sh("mount", "-t", "tracefs", "nodev", TRACEFS)
        self.dir = f"{TRACEFS}/instances/tl-kernel-{os.getpid()}"
        os.mkdir(self.dir)
        self.w("trace_clock", "mono")
        self.w("buffer_size_kb", "2048")
        self.w("options/overwrite", "0")
        for ev in ("sock/inet_sock_set_state", "tcp/tcp_receive_reset"):
            self.w(f"events/{ev}/filter", f"sport == {port} || dport == {port}")
            self.w(f"events/{ev}/enable", "1")
        self.w("tracing_on", "1")

    def w(self, f, v):
        with open(f"{self.dir}/{f}", "w") as fh:
            fh.write(v + "\n")

    def read(self):
        self.w("tracing_on", "0")
        with open(f"{self.dir}/trace") as fh:
            return [l.rstrip("\n") for l in fh if not l.startswith("#")]

    def remove(self):
        if self.dir and os.path.isdir(self.dir):
            try:
                self.w("tracing_on", "0")
                for ev in ("sock/inet_sock_set_state", "tcp/tcp_receive_reset"):
                    self.w(f"events/{ev}/enable", "0")
            except OSError:
                pass
            os.rmdir(self.dir)
        self.dir = None


def clock_pair():
    """CLOCK_REALTIME - CLOCK_MONOTONIC, from the tightest of 20 samples."""
    best = None
    for _ in range(20):
        m1 = time.monotonic()
        r = time.time()
        m2 = time.monotonic()
        if best is None or m2 - m1 < best[0]:
            best = (m2 - m1, r - (m1 + m2) / 2)
    return best[1]


# ------------------------------------------------------------ capture

class Capture:
    FILTER = "tcp or icmp or (icmp6 and ip6[40] < 128)"

    def __init__(self, ns, ifname, path):
        self.path = path
        self.log = open(path + ".log", "w+")
        self.p = subprocess.Popen(
            ["ip", "netns", "exec", ns, "tcpdump", "-i", ifname, "-Z", "root", "-U", "-n",
             "--immediate-mode", "-B", "32768", "-w", path, self.FILTER],
            stderr=self.log, stdout=subprocess.DEVNULL)

    def wait_ready(self):
        for _ in range(200):
            self.log.seek(0)
            if "listening on" in self.log.read():
                return
            if self.p.poll() is not None:
                raise RuntimeError("tcpdump died: " + open(self.path + ".log").read())
            time.sleep(0.02)
        raise RuntimeError("tcpdump did not start")

    def stop(self):
        if self.p.poll() is None:
            self.p.send_signal(signal.SIGINT)
            self.p.wait(10)
        self.log.seek(0)
        text = self.log.read()
        self.log.close()
        os.unlink(self.path + ".log")
        for line in text.splitlines():
            if "dropped by kernel" in line and not line.startswith("0 "):
                raise RuntimeError(f"{self.path}: {line}")
        return text


# ------------------------------------------------------------ scenario env

class Env:
    def __init__(self, sc):
        self.sc = sc
        self.loop = sc["kind"] == "loopback"
        v6 = sc["family"] == 6
        self.v6 = v6
        self.fam = socket.AF_INET6 if v6 else socket.AF_INET
        if self.loop:
            self.cns = self.sns = NS_LO
            self.caddr = self.saddr = "::1" if v6 else "127.0.0.1"
        else:
            self.cns, self.sns = "tlk-c", "tlk-s"
            self.caddr, self.saddr = (C6, S6) if v6 else (C4, S4)
        self.port = PORT
        self.notes = []
        self.ss = {}
        self.errors = []
        self.keep = []  # sockets closed only after the capture has ended

    def note(self, s):
        log(s)
        self.notes.append(s)

    def sock(self, where):
        with netns(self.cns if where == "client" else self.sns):
            return socket.socket(self.fam, socket.SOCK_STREAM)

    def listen(self, backlog=16, opts=()):
        s = self.sock("server")
        s.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        for lvl, opt, val in opts:
            s.setsockopt(lvl, opt, val)
        s.bind((self.saddr, self.port))
        s.listen(backlog)
        return s

    def client(self, n=1, opts=(), connect=True):
        s = self.sock("client")
        s.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        for lvl, opt, val in opts:
            s.setsockopt(lvl, opt, val)
        s.bind((self.caddr, self.cport(n)))
        if connect:
            s.connect((self.saddr, self.port))
        return s

    def cport(self, n=1):
        return 47000 + n

    def snap(self, label):
        """ss -tanoi in both namespaces (cross-check of the kernel's view)."""
        out = {}
        for role, ns in (("client", self.cns), ("server", self.sns)):
            if role == "server" and ns == self.cns:
                continue
            out[role] = nsx(ns, "ss", "-tanoi", capture=True, check=False).splitlines()
        self.ss[label] = out

    def thread(self, fn, *a):
        def run():
            try:
                fn(*a)
            except Exception as e:  # reported, fails the recording
                import traceback
                traceback.print_exc()
                self.errors.append(f"{fn.__name__}: {e!r}")
        t = threading.Thread(target=run, daemon=True)
        t.start()
        return t


def recv_until_eof(s, limit=1 << 20):
    got = b""
    while True:
        b = s.recv(65536)
        if not b:
            return got
        got += b
        if len(got) > limit:
            return got


def recv_n(s, n):
    got = b""
    while len(got) < n:
        b = s.recv(n - len(got))
        if not b:
            break
        got += b
    return got


def graceful_close(s):
    """shutdown(SHUT_WR), read to EOF, close(): the full socket lives on to
    TIME-WAIT, so every change is seen by the tracepoint (a close() first
    would orphan it into a FIN-WAIT-2 mini-socket)."""
    s.shutdown(socket.SHUT_WR)
    recv_until_eof(s)
    s.close()


# ------------------------------------------------------------ scenarios

SCENARIOS = {}


def scenario(name, what, kind="path", family=4, r1=(), r2=(), client_sysctl=None,
             server_sysctl=None, tail=0.3, overrides=(), extra_ms=0):
    for r in list(r1) + list(r2):
        assert "action" in r and "dir" in r, (name, r)

    def deco(fn):
        SCENARIOS[name] = dict(name=name, what=what, kind=kind, family=family, fn=fn,
                               rules={"r1": list(r1), "r2": list(r2)},
                               client_sysctl=client_sysctl or {}, server_sysctl=server_sysctl or {},
                               tail=tail, overrides=list(overrides), extra_ms=extra_ms)
        return fn
    return deco


def serve(e, lst, close_delay=0.1, reply=REPLY, first="client", nodelay=False, wait_eof=True):
    """Accept one connection, read the request, reply, then close:
    first == "client": wait for EOF, then close after close_delay;
    first == "server": shutdown after close_delay, read to EOF, close."""
    c, _ = lst.accept()
    if nodelay:
        c.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
    recv_n(c, len(REQUEST))
    c.sendall(reply)
    if first == "client":
        if wait_eof:
            recv_until_eof(c)
        time.sleep(close_delay)
        c.close()
    else:
        time.sleep(close_delay)
        graceful_close(c)
    return c


def client_session(e, n=1, first="client", close_delay=0.1, orphan=False, pre=None):
    c = e.client(n)
    if pre:
        pre(c)
    c.sendall(REQUEST)
    recv_n(c, len(REPLY))
    if first == "client":
        time.sleep(close_delay)
        if orphan:
            c.close()
        else:
            graceful_close(c)
    else:
        recv_until_eof(c)
        time.sleep(close_delay)
        c.close()
    return c


def basic(first="client", orphan=False, server_close_delay=0.1, nodelay=False):
    def fn(e):
        lst = e.listen()
        t = e.thread(serve, e, lst, server_close_delay if first == "client" else 0.05,
                     REPLY, first, nodelay)
        client_session(e, 1, first, 0.05 if first == "client" else 0.1, orphan)
        t.join(5)
        time.sleep(0.1)
        e.snap("end")
        lst.close()
    return fn


for kind, sfx in (("path", ""), ("loopback", "-lo")):
    scenario("client-close" + sfx, "handshake, request, reply; the client closes first (shutdown, read EOF, close); four-way close", kind)(basic("client"))
    scenario("server-close" + sfx, "the server closes first (50 ms after its reply, shutdown then read EOF); the client closes 100 ms after EOF", kind)(basic("server"))
    scenario("three-segment-close" + sfx, "the client closes first; the server closes at once on EOF, so its FIN also acknowledges the client's FIN (FIN, FIN+ACK, ACK)", kind)(basic("client", server_close_delay=0, nodelay=True))
scenario("client-close-orphan", "the client calls close() at once (no shutdown): the orphaned socket becomes a FIN-WAIT-2 mini-socket when its FIN is acknowledged, and enters TIME-WAIT when the server's FIN arrives 100 ms later (no tracepoint; derived)")(basic("client", orphan=True))
scenario("ipv6-client-close", "client-close over IPv6 (2001:db8::1:2 -> 2001:db8::2:2)", family=6)(basic("client"))
scenario("ipv6-client-close-lo", "client-close over IPv6 loopback ([::1])", kind="loopback", family=6)(basic("client"))

PURE_ACK = {"flags": ["ACK"], "noflags": ["SYN", "FIN", "RST"], "payload": False}


@scenario("lost-handshake-ack", "r2 drops the client's handshake ACK; the server stays SYN-RECEIVED and resends its SYN,ACK after about 1 s; the client waits 1.5 s before its request, then closes first",
          r2=[dict(PURE_ACK, dir="c2s", nth=1, action="drop")])
def _(e):
    lst = e.listen()
    t = e.thread(serve, e, lst)
    client_session(e, 1, pre=lambda c: time.sleep(1.5))
    t.join(5)
    e.snap("end")


@scenario("handshake-ack-overtaken", "r1 holds the client's handshake ACK 30 ms more, so the request (which also acknowledges the SYN,ACK) overtakes it; the late ACK arrives as a duplicate",
          r1=[dict(PURE_ACK, dir="c2s", nth=1, action="delay", extra_ms=30)], extra_ms=30)
def _(e):
    basic("client")(e)


@scenario("handshake-ack-duplicated", "r1 duplicates the client's handshake ACK (the copy 5 ms later); client closes first",
          r1=[dict(PURE_ACK, dir="c2s", nth=1, action="dup", extra_ms=5)])
def _(e):
    basic("client")(e)


@scenario("lost-fin-ack", "client closes first; r1 drops the client's ACK of the server's FIN, so the server resends its FIN into the client's TIME-WAIT (which ACKs it again); the first FIN had arrived",
          r1=[dict(PURE_ACK, dir="c2s", acks_fin=True, nth=1, action="drop")], tail=1.0)
def _(e):
    basic("client")(e)
    time.sleep(0.8)


@scenario("lost-fin", "client closes first; r2 drops the client's first FIN (seen near the client and half way), the client resends it after its RTO",
          r2=[dict(dir="c2s", flags=["FIN"], nth=1, action="drop")], tail=0.5)
def _(e):
    basic("client")(e)
    time.sleep(0.4)


@scenario("fin-ack-out-of-order", "the client sends its request and FIN; the server answers with two data segments; r1 drops the server's pure ACKs of that FIN and holds the first data segment 30 ms, so the second one, out of order, is the first to acknowledge the client's FIN",
          r1=[dict(PURE_ACK, dir="s2c", acks_fin=True, count=0, action="drop"),
              dict(dir="s2c", payload=True, acks_fin=True, nth=1, action="delay", extra_ms=30)],
          extra_ms=30)
def _(e):
    lst = e.listen()

    def server():
        c, _ = lst.accept()
        c.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
        recv_until_eof(c)
        c.sendall(b"A" * 100)
        time.sleep(0.005)
        c.sendall(b"B" * 100)
        time.sleep(0.1)
        c.close()
    t = e.thread(server)
    c = e.client(1)
    c.sendall(REQUEST)
    c.shutdown(socket.SHUT_WR)
    recv_until_eof(c)
    c.close()
    t.join(5)
    time.sleep(0.1)
    e.snap("end")


@scenario("rst-out-of-window", "r1 answers the client's request with a crafted RST (from the server's address) whose seq is 2^30 past what the client expects: far outside its window, so Linux drops it and nothing changes; then a normal client close",
          r1=[dict(dir="c2s", payload=True, nth=1, action="rst", seq_offset=1 << 30, extra_ms=5)])
def _(e):
    basic("client")(e)


@scenario("rst-in-window-challenge", "r1 answers the client's request with a crafted RST (from the server's address) whose seq is 1000 past what the client expects: inside its window but not exact, so Linux sends a challenge ACK (RFC 5961) and nothing changes; then a normal client close",
          r1=[dict(dir="c2s", payload=True, nth=1, action="rst", seq_offset=1000, extra_ms=5)])
def _(e):
    basic("client")(e)


@scenario("fin-overtakes-data", "the client sends its request and at once shutdown(SHUT_WR); r1 holds the request 30 ms more, so the FIN arrives first, out of order: the server stays ESTABLISHED (it acknowledges only up to the hole) until the request fills it, then CLOSE-WAIT",
          r1=[dict(dir="c2s", payload=True, nth=1, action="delay", extra_ms=30)], extra_ms=30)
def _(e):
    lst = e.listen()

    def server():
        c, _ = lst.accept()
        recv_until_eof(c)
        c.sendall(REPLY)
        time.sleep(0.05)
        c.close()
    t = e.thread(server)
    c = e.client(1)
    c.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
    c.sendall(REQUEST)
    c.shutdown(socket.SHUT_WR)
    recv_until_eof(c)
    c.close()
    t.join(5)
    time.sleep(0.1)
    e.snap("end")


@scenario("fin-duplicated", "client closes first; r1 duplicates the client's FIN (the copy 5 ms later): the server, in CLOSE-WAIT, answers the duplicate with an ACK; nothing changes",
          r1=[dict(dir="c2s", flags=["FIN"], nth=1, action="dup", extra_ms=5)], extra_ms=5)
def _(e):
    basic("client")(e)


@scenario("rst-into-time-wait", "client closes first; when the client ACKs the server's FIN, r1 also sends the client a crafted RST from the server's address with seq = exactly what it expects, 50 ms later: it kills the client's TIME-WAIT (tcp_rfc1337 = 0); ss shows no TIME-WAIT afterwards",
          r1=[dict(PURE_ACK, dir="c2s", acks_fin=True, nth=1, action="rst", seq_offset=0, extra_ms=50)],
          tail=0.3, overrides=[{"role": "client", "set": {
              "wire_visible": {"mid": False, "server": False},
              "why": "the RST that ends the client's TIME-WAIT is injected by r1 toward the client: only the capture near the client holds it"}}])
def _(e):
    basic("client")(e)
    time.sleep(0.2)
    e.snap("after-rst")


@scenario("syn-into-time-wait", "two connections on one 4-tuple: the server closes first and is in TIME-WAIT; 300 ms later the client binds the same port again (SO_REUSEADDR) and connects: the server's TIME-WAIT socket accepts the new SYN; the second connection is closed by the client",
          tail=0.3)
def _(e):
    lst = e.listen()
    t = e.thread(lambda: (serve(e, lst, 0.05, REPLY, "server"), serve(e, lst, 0.1, REPLY, "client")))
    client_session(e, 1, "server", 0.1)
    time.sleep(0.3)
    e.snap("before-reuse")
    client_session(e, 1, "client", 0.05)
    t.join(5)
    time.sleep(0.1)
    e.snap("end")


@scenario("simultaneous-close", "request and reply, then client and server both call shutdown(SHUT_WR) at the same instant: the FINs cross on the 20 ms path, both go FIN-WAIT-1 -> CLOSING -> TIME-WAIT",
          tail=0.3)
def _(e):
    lst = e.listen()
    at = []

    def server():
        c, _ = lst.accept()
        recv_n(c, len(REQUEST))
        c.sendall(REPLY)
        while not at:
            time.sleep(0.001)
        time.sleep(max(0, at[0] - time.time()))
        graceful_close(c)
    t = e.thread(server)
    c = e.client(1)
    c.sendall(REQUEST)
    recv_n(c, len(REPLY))
    at.append(time.time() + 0.1)
    time.sleep(max(0, at[0] - time.time()))
    graceful_close(c)
    t.join(5)
    time.sleep(0.1)
    e.snap("end")


@scenario("late-duplicate-rst", "client closes first; r1 duplicates the client's FIN with the copy 400 ms late: it reaches the server after its socket is gone, the listener answers with an RST whose seq is one below what the client's TIME-WAIT expects, and Linux ignores it (the client stays in TIME-WAIT)",
          r1=[dict(dir="c2s", flags=["FIN"], nth=1, action="dup", extra_ms=400)], extra_ms=400, tail=0.3)
def _(e):
    basic("client")(e)
    time.sleep(0.5)
    e.snap("after-rst")


@scenario("lost-syn", "r2 drops the client's first SYN; the client resends it after 1 s; then a normal client close",
          r2=[dict(dir="c2s", flags=["SYN"], nth=1, action="drop")])
def _(e):
    basic("client")(e)


@scenario("lost-syn-ack", "r1 drops the server's first SYN,ACK; the server resends it after 1 s (the client's resent SYN may cross it); then a normal client close",
          r1=[dict(dir="s2c", flags=["SYN", "ACK"], nth=1, action="drop")])
def _(e):
    basic("client")(e)


@scenario("lost-data", "r2 drops the client's request once; the client retransmits it after its RTO (the server ACKs nothing in between); then a normal client close",
          r2=[dict(dir="c2s", payload=True, nth=1, action="drop")])
def _(e):
    basic("client")(e)


@scenario("lossy-transfer", "the server sends 24 x 1000 bytes (TCP_NODELAY, 2 ms apart); r1 drops the 3rd data segment, duplicates the 6th (copy 3 ms later) and holds the 9th 15 ms more (reordered); retransmissions, SACKs and D-SACKs but no state change until the client closes first",
          r1=[dict(dir="s2c", payload=True, nth=3, action="drop"),
              dict(dir="s2c", payload=True, nth=6, action="dup", extra_ms=3),
              dict(dir="s2c", payload=True, nth=9, action="delay", extra_ms=15)],
          extra_ms=15, tail=0.3)
def _(e):
    lst = e.listen()

    def server():
        c, _ = lst.accept()
        c.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
        recv_n(c, len(REQUEST))
        for _ in range(24):
            c.sendall(b"d" * 1000)
            time.sleep(0.002)
        recv_until_eof(c)
        time.sleep(0.05)
        c.close()
    t = e.thread(server)
    c = e.client(1)
    c.sendall(REQUEST)
    recv_n(c, 24000)
    time.sleep(0.05)
    graceful_close(c)
    t.join(5)
    time.sleep(0.1)
    e.snap("end")


@scenario("half-close", "the client sends its request and at once shutdown(SHUT_WR); the server reads request and EOF, then keeps sending 5 x 200 bytes 30 ms apart (the client in FIN-WAIT-2 ACKs each), then closes")
def _(e):
    lst = e.listen()

    def server():
        c, _ = lst.accept()
        c.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
        recv_until_eof(c)
        for _ in range(5):
            c.sendall(b"h" * 200)
            time.sleep(0.03)
        c.close()
    t = e.thread(server)
    c = e.client(1)
    c.sendall(REQUEST)
    c.shutdown(socket.SHUT_WR)
    recv_until_eof(c)
    c.close()
    t.join(5)
    time.sleep(0.1)
    e.snap("end")


@scenario("server-close-orphan", "the server calls close() 50 ms after its reply (no shutdown): its orphaned socket becomes a FIN-WAIT-2 mini-socket when its FIN is acknowledged and enters TIME-WAIT when the client's FIN arrives 100 ms later (no tracepoint; derived)")
def _(e):
    lst = e.listen()

    def server():
        c, _ = lst.accept()
        recv_n(c, len(REQUEST))
        c.sendall(REPLY)
        time.sleep(0.05)
        c.close()
    t = e.thread(server)
    client_session(e, 1, "server", 0.1)
    t.join(5)
    time.sleep(0.1)
    e.snap("end")


@scenario("abort-linger0", "request and reply, then the client sets SO_LINGER {on, 0} and calls close(): it sends an RST instead of a FIN; the server's socket is reset")
def _(e):
    lst = e.listen()
    held = []

    def server():
        c, _ = lst.accept()
        held.append(c)
        recv_n(c, len(REQUEST))
        c.sendall(REPLY)
        try:
            c.recv(100)
        except OSError as err:
            e.note(f"server recv: {err}")
    t = e.thread(server)
    c = e.client(1)
    c.sendall(REQUEST)
    recv_n(c, len(REPLY))
    time.sleep(0.05)
    c.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))
    c.close()
    t.join(5)
    time.sleep(0.1)
    e.snap("end")
    e.keep += held


def backlog(e):
    lst = e.listen(backlog=1)
    e.note("listen(fd, 1), accept() never called; 4 clients: #1, then #2 and #3 5 ms apart 100 ms later, then #4 300 ms later")
    cs = []

    def conn(n):
        c = e.client(n, connect=False)
        c.settimeout(3.6)  # long enough for the 2nd SYN,ACK resend (+3 s); done before the capture ends
        cs.append(c)
        try:
            c.connect((e.saddr, e.port))
        except OSError as err:
            e.note(f"client {n}: connect: {err}")
    ts = [e.thread(conn, 1)]
    time.sleep(0.1)
    ts.append(e.thread(conn, 2))
    time.sleep(0.005)
    ts.append(e.thread(conn, 3))
    time.sleep(0.3)
    ts.append(e.thread(conn, 4))
    for t in ts:
        t.join()
    e.snap("end")
    e.keep += [lst] + cs  # the capture ends with them open


scenario("backlog-overflow", "listen(fd, 1) and no accept(): #1 and #2 complete; #3's SYN arrived while the queue had room but its final ACK finds it full and is dropped, so the server resends its SYN,ACK after 1 s and 3 s, and drops the client's ACK of each again (request socket stays SYN-RECEIVED); #4's SYN is dropped (queue full), the client resends it",
         tail=0.2)(lambda e: backlog(e))
scenario("backlog-overflow-abort", "as backlog-overflow with net.ipv4.tcp_abort_on_overflow=1: the final ACK that finds the queue full is answered with a bare RST",
         server_sysctl={"net.ipv4.tcp_abort_on_overflow": 1}, tail=0.2)(lambda e: backlog(e))
scenario("backlog-overflow-lo", "backlog-overflow on loopback: #2's final ACK arrives at once, so the queue is already full when #3's and #4's SYNs arrive: both are dropped and resent (connect() times out at 3.6 s)", kind="loopback", tail=0.2)(lambda e: backlog(e))


@scenario("refused", "connect() with nothing listening: SYN, RST,ACK; connect() fails with ECONNREFUSED")
def _(e):
    c = e.client(1, connect=False)
    try:
        c.connect((e.saddr, e.port))
    except OSError as err:
        e.note(f"connect: {err}")
    time.sleep(0.1)


scenario("refused-lo", "refused on loopback", kind="loopback")(SCENARIOS["refused"]["fn"])

NO_SERVER = [{"set": {"wire_visible": {"server": False},
                      "why": "r2 swallows the SYN before the server's link: server.pcap holds nothing of this connection"}}]


def connect_fails(e):
    lst = e.listen()
    c = e.client(1, connect=False)
    c.settimeout(30)
    t0 = time.time()
    try:
        c.connect((e.saddr, e.port))
        e.note("connect succeeded?!")
    except OSError as err:
        e.note(f"connect: {err} after {time.time() - t0:.3f} s")
    time.sleep(0.1)
    lst.close()


scenario("syn-timeout", "r2 drops every SYN; net.ipv4.tcp_syn_retries=2, tcp_syn_linear_timeouts=0: SYNs at 0, 1, 3 s, connect() fails with ETIMEDOUT at about 7 s",
         r2=[dict(dir="c2s", flags=["SYN"], count=0, action="drop")],
         client_sysctl={"net.ipv4.tcp_syn_retries": 2, "net.ipv4.tcp_syn_linear_timeouts": 0},
         overrides=NO_SERVER, tail=0.3)(connect_fails)

ICMP4 = [("icmp-net-unreachable", 3, 0, "ENETUNREACH"), ("icmp-host-unreachable", 3, 1, "EHOSTUNREACH"),
         ("icmp-port-unreachable", 3, 3, "ECONNREFUSED"), ("icmp-admin-prohibited", 3, 13, "EHOSTUNREACH"),
         ("icmp-time-exceeded", 11, 0, "EHOSTUNREACH")]
for name, typ, code, errno_ in ICMP4:
    scenario(name, f"r2 answers the SYN with ICMP type {typ} code {code} from 198.18.0.2 (as iptables REJECT would), and drops it: a hard error in SYN-SENT, connect() fails",
             r2=[dict(dir="c2s", flags=["SYN"], count=0, action="icmp", icmp={"type": typ, "code": code})],
             overrides=NO_SERVER)(connect_fails)
ICMP6 = [("icmp6-no-route", 1, 0), ("icmp6-adm-prohibited", 1, 1), ("icmp6-addr-unreachable", 1, 3),
         ("icmp6-port-unreachable", 1, 4), ("icmp6-time-exceeded", 3, 0)]
for name, typ, code in ICMP6:
    scenario(name, f"IPv6: r2 answers the SYN with ICMPv6 type {typ} code {code} from 2001:db8::2 (as ip6tables REJECT would), and drops it; connect() fails",
             family=6, r2=[dict(dir="c2s", flags=["SYN"], count=0, action="icmp", icmp={"type": typ, "code": code})],
             overrides=NO_SERVER)(connect_fails)


def big_request(e):
    lst = e.listen()

    def server():
        c, _ = lst.accept()
        recv_n(c, 1400)
        c.sendall(REPLY)
        recv_until_eof(c)
        time.sleep(0.05)
        c.close()
    t = e.thread(server)
    c = e.client(1)
    c.sendall(b"x" * 1400)
    recv_n(c, len(REPLY))
    time.sleep(0.05)
    graceful_close(c)
    t.join(5)
    time.sleep(0.1)
    e.snap("end")


scenario("icmp-frag-needed", "established; the client sends 1400 bytes; r2 drops that segment and answers ICMP fragmentation needed (MTU 1280): a soft error, the client resends in smaller segments; no state changes; client closes first",
         r2=[dict(dir="c2s", payload=True, min_len=1300, nth=1, action="icmp", icmp={"type": 3, "code": 4, "mtu": 1280})])(big_request)
scenario("icmp6-packet-too-big", "IPv6: as icmp-frag-needed with ICMPv6 packet too big (MTU 1280)", family=6,
         r2=[dict(dir="c2s", payload=True, min_len=1300, nth=1, action="icmp", icmp={"type": 2, "code": 0, "mtu": 1280})])(big_request)


@scenario("retries-giving-up", "established; request and reply pass; r2 then drops every further data segment from the client; with net.ipv4.tcp_retries2=3 the client gives up (ETIMEDOUT) after a few retransmissions and sends nothing more",
          r2=[dict(dir="c2s", payload=True, nth=2, count=0, action="drop")],
          client_sysctl={"net.ipv4.tcp_retries2": 3}, tail=0.3, overrides=[{"role": "client", "set": {
              "wire_visible": {"server": False},
              "why": "r2 drops the client's data after the reply and every retransmission of it: near the server nothing shows the client still trying, let alone giving up"}}])
def _(e):
    lst = e.listen()
    held = []

    def server():
        c, _ = lst.accept()
        e.keep.append(c)  # still ESTABLISHED when the capture ends
        recv_n(c, len(REQUEST))
        c.sendall(REPLY)
    t = e.thread(server)
    c = e.client(1)
    c.sendall(REQUEST)
    recv_n(c, len(REPLY))
    t.join(5)
    t0 = time.time()
    c.sendall(b"more\n")
    c.settimeout(30)
    try:
        c.recv(100)
    except OSError as err:
        e.note(f"client recv: {err} after {time.time() - t0:.3f} s")
    time.sleep(0.2)
    e.snap("end")


@scenario("last-ack-timeout", "the client closes first and then vanishes: r1 drops every ACK of the server's FIN, so the server (orphaned, net.ipv4.tcp_orphan_retries=2) resends its FIN and gives up in LAST-ACK",
          r1=[dict(PURE_ACK, dir="c2s", acks_fin=True, count=0, action="drop")],
          server_sysctl={"net.ipv4.tcp_orphan_retries": 2}, tail=0.3, overrides=[{"role": "client", "set": {
              "wire_visible": {"mid": False, "server": False},
              "why": "r1 drops every ACK of the server's FIN: beyond r1 nothing shows that the client received that FIN (and entered TIME-WAIT)"}}])
def _(e):
    basic("client", server_close_delay=0.05)(e)
    time.sleep(4)
    e.snap("end")


@scenario("keepalive", "SO_KEEPALIVE on the client with TCP_KEEPIDLE 1 s, TCP_KEEPINTVL 1 s: two keep-alive probes and their ACKs while idle for 2.5 s, then a normal client close; no state changes")
def _(e):
    lst = e.listen()
    t = e.thread(serve, e, lst)
    opts = [(socket.SOL_SOCKET, socket.SO_KEEPALIVE, 1), (socket.IPPROTO_TCP, socket.TCP_KEEPIDLE, 1),
            (socket.IPPROTO_TCP, socket.TCP_KEEPINTVL, 1), (socket.IPPROTO_TCP, socket.TCP_KEEPCNT, 3)]
    c = e.sock("client")
    c.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    for o in opts:
        c.setsockopt(*o)
    c.bind((e.caddr, e.cport(1)))
    c.connect((e.saddr, e.port))
    time.sleep(2.5)
    c.sendall(REQUEST)
    recv_n(c, len(REPLY))
    graceful_close(c)
    t.join(5)
    time.sleep(0.1)
    e.snap("end")


@scenario("keepalive-dead", "SO_KEEPALIVE on the client (TCP_KEEPIDLE 1 s, TCP_KEEPINTVL 1 s, TCP_KEEPCNT 2) after request and reply; r1 drops the server's pure ACKs from the 2nd on, so the keep-alive probes go unanswered (as from a vanished peer) and the client gives up (ETIMEDOUT): Linux then sends an RST (tcp_keepalive_timer), which resets the server's socket",
          r1=[dict(PURE_ACK, dir="s2c", nth=2, count=0, action="drop")], tail=0.3)
def _(e):
    lst = e.listen()

    def server():
        c, _ = lst.accept()
        e.keep.append(c)  # still ESTABLISHED when the capture ends
        recv_n(c, len(REQUEST))
        c.sendall(REPLY)
    t = e.thread(server)
    c = e.sock("client")
    c.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    for o in [(socket.SOL_SOCKET, socket.SO_KEEPALIVE, 1), (socket.IPPROTO_TCP, socket.TCP_KEEPIDLE, 1),
              (socket.IPPROTO_TCP, socket.TCP_KEEPINTVL, 1), (socket.IPPROTO_TCP, socket.TCP_KEEPCNT, 2)]:
        c.setsockopt(*o)
    c.bind((e.caddr, e.cport(1)))
    c.connect((e.saddr, e.port))
    c.sendall(REQUEST)
    recv_n(c, len(REPLY))
    t.join(5)
    t0 = time.time()
    try:
        c.recv(100)
    except OSError as err:
        e.note(f"client recv: {err} after {time.time() - t0:.3f} s")
    time.sleep(0.2)
    e.snap("end")


@scenario("zero-window", "the server (SO_RCVBUF 4096) does not read for 1.2 s while the client sends 16 KiB: the window closes, the client sends zero-window probes; then the server reads everything, replies, and the client closes first",
          tail=0.3)
def _(e):
    lst = e.listen(opts=[(socket.SOL_SOCKET, socket.SO_RCVBUF, 4096)])

    def server():
        c, _ = lst.accept()
        time.sleep(1.2)
        recv_n(c, 16384)
        c.sendall(REPLY)
        recv_until_eof(c)
        time.sleep(0.05)
        c.close()
    t = e.thread(server)
    c = e.client(1)
    c.sendall(b"z" * 16384)
    recv_n(c, len(REPLY))
    graceful_close(c)
    t.join(5)
    time.sleep(0.1)
    e.snap("end")


scenario("ecn", "net.ipv4.tcp_ecn=1 on both sides: ECN-setup SYN (ECE, CWR) and SYN,ACK (ECE); a normal client close",
         client_sysctl={"net.ipv4.tcp_ecn": 1}, server_sysctl={"net.ipv4.tcp_ecn": 1})(basic("client"))


@scenario("fastopen", "net.ipv4.tcp_fastopen=3 on both: the first connection (client port 47001) gets a cookie; the second (47002) sends its request on the SYN (sendto MSG_FASTOPEN) and the server replies before the handshake completes; both closed by the client",
          client_sysctl={"net.ipv4.tcp_fastopen": 3}, server_sysctl={"net.ipv4.tcp_fastopen": 3})
def _(e):
    lst = e.listen(opts=[(socket.IPPROTO_TCP, socket.TCP_FASTOPEN, 16)])
    t = e.thread(lambda: (serve(e, lst), serve(e, lst)))
    for n in (1, 2):
        c = e.client(n, connect=False)
        c.settimeout(None)  # a blocking sendto(MSG_FASTOPEN) does the connect
        c.sendto(REQUEST, socket.MSG_FASTOPEN, (e.saddr, e.port))
        c.settimeout(10)
        recv_n(c, len(REPLY))
        time.sleep(0.05)
        graceful_close(c)
        time.sleep(0.2)
    t.join(5)
    e.snap("end")


def killed(unread):
    def fn(e):
        lst = e.listen()
        held = []

        def server():
            c, _ = lst.accept()
            held.append(c)
            recv_n(c, len(REQUEST))
            if unread:
                c.sendall(REPLY)
            recv_until_eof(c) if not unread else None
            if not unread:
                time.sleep(0.1)
                c.close()
        t = e.thread(server)
        code = ("import socket,time,sys\n"
                f"s=socket.socket(socket.{'AF_INET6' if e.v6 else 'AF_INET'})\n"
                "s.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)\n"
                f"s.bind(({e.caddr!r},{e.cport(1)}))\ns.connect(({e.saddr!r},{e.port}))\n"
                f"s.sendall({REQUEST!r})\nprint('up',flush=True)\ntime.sleep(60)\n")
        p = subprocess.Popen(["ip", "netns", "exec", e.cns, sys.executable, "-c", code],
                             stdout=subprocess.PIPE, text=True)
        p.stdout.readline()
        time.sleep(0.3)
        p.kill()
        p.wait()
        e.note(f"client process killed with SIGKILL (unread reply: {unread})")
        t.join(5)
        time.sleep(0.3)
        e.snap("end")
        if unread:
            held[0].close()
    return fn


scenario("killed-client", "the client process is killed (SIGKILL) 300 ms after its request: the kernel closes the orphaned socket with a FIN; the server closes 100 ms after EOF; the client's mini-socket goes FIN-WAIT-2 -> TIME-WAIT (derived)")(killed(False))
scenario("killed-client-unread", "the client process is killed (SIGKILL) with the server's reply unread: the kernel sends an RST instead of a FIN; the server's socket is reset")(killed(True))


# ------------------------------------------------------------ recording

class Recording:
    def __init__(self, sc):
        self.sc = sc
        self.procs = []
        self.caps = []
        self.trace = None

    def cleanup(self):
        for c in self.caps:
            try:
                c.stop()
            except Exception:
                pass
        for p in self.procs:
            if p.poll() is None:
                p.terminate()
                try:
                    p.wait(5)
                except subprocess.TimeoutExpired:
                    p.kill()
        self.procs = []
        if self.trace:
            self.trace.remove()
            self.trace = None
        del_all_ns()

    def run(self):
        sc = self.sc
        name = sc["name"]
        loop = sc["kind"] == "loopback"
        work = os.path.join(OUT, ".tmp-" + name)
        shutil.rmtree(work, ignore_errors=True)
        os.makedirs(work)
        e = Env(sc)
        try:
            if loop:
                make_lo()
                caps = {"loopback": "lo.pcap"}
            else:
                make_path()
                caps = {"client": "client.pcap", "mid": "mid.pcap", "server": "server.pcap"}
            for k, v in sc["client_sysctl"].items():
                nsx(e.cns, "sysctl", "-qw", f"{k}={v}")
            for k, v in sc["server_sysctl"].items():
                nsx(e.sns, "sysctl", "-qw", f"{k}={v}")
            if not loop:
                half = DELAY_MS / 2
                for ns, a, b, src4, src6, rname in (("tlk-r1", "r1a", "r1b", R1_4, R1_6, "r1"),
                                                    ("tlk-r2", "r2a", "r2b", R2_4, R2_6, "r2")):
                    p = subprocess.Popen(["ip", "netns", "exec", ns, sys.executable, "-u",
                                          os.path.join(HERE, "kernel_fwd.py"), "--a", a, "--b", b,
                                          "--delay-ms", str(half), "--name", rname,
                                          "--src4", src4, "--src6", src6,
                                          "--rules", json.dumps(sc["rules"][rname])],
                                         stdout=subprocess.PIPE, text=True)
                    self.procs.append(p)
                    line = p.stdout.readline()
                    if "ready" not in line:
                        raise RuntimeError(f"forwarder {rname} did not start: {line!r}")
            self.trace = Trace(PORT)
            where = {"client": ("tlk-c", "c0"), "mid": ("tlk-r1", "r1b"),
                     "server": ("tlk-s", "s0"), "loopback": (NS_LO, "lo")}
            for pt, f in caps.items():
                ns, ifname = where[pt]
                self.caps.append(Capture(ns, ifname, os.path.join(work, f)))
            for c in self.caps:
                c.wait_ready()
            time.sleep(0.2)
            off0 = clock_pair()
            t_start = time.time()
            sc["fn"](e)
            time.sleep(sc["tail"])
            for p in self.procs:
                if p.poll() is not None:
                    raise RuntimeError("a forwarder died during the scenario")
            t_end = time.time()
            off1 = clock_pair()
            for c in self.caps:
                c.stop()
            self.caps = []
            for s in e.keep:
                s.close()
            raw = self.trace.read()
            self.trace.remove()
            self.trace = None
            actions = []
            late = {}
            for p in self.procs:
                p.terminate()
                out, _ = p.communicate(5)
                for l in out.splitlines():
                    if not l.strip() or "ready" in l:
                        continue
                    j = json.loads(l)
                    if "max_late_ms" in j:
                        late[j["router"]] = j["max_late_ms"]
                    else:
                        actions.append(j)
            self.procs = []
        finally:
            self.cleanup()
        if e.errors:
            raise RuntimeError(f"{name}: " + "; ".join(e.errors))
        if abs(off1 - off0) > 0.0005:
            e.note(f"clock offset drifted {1e6 * (off1 - off0):.0f} us during the recording")
        meta = {
            "scenario": name,
            "what": sc["what"],
            "kernel": os.uname().release,
            "captures": caps,
            "path": ({"kind": "loopback", "one_way_delay_ms": {"client": 0, "server": 0, "loopback": 0},
                      "addresses": {"client": e.caddr, "server": e.saddr}}
                     if loop else
                     {"kind": "client - r1 - r2 - server (veth, user-space forwarders kernel_fwd.py)",
                      "one_way_delay_ms": {"client": 0, "mid": DELAY_MS / 2, "server": DELAY_MS},
                      "rules_extra_delay_ms": sc["extra_ms"],
                      "forwarder_max_late_ms": late,
                      "addresses": {"client": e.caddr, "server": e.saddr,
                                    "r1": R1_6 if e.v6 else R1_4, "r2": R2_6 if e.v6 else R2_4}}),
            "server_port": PORT,
            "sysctl": {"client": sc["client_sysctl"], "server": sc["server_sysctl"]},
            "rules": sc["rules"],
            "router_actions": actions,
            "capture_start": t_start,
            "capture_end": t_end,
            "clock": {"trace_clock": "mono", "wall_minus_mono": off0, "wall_minus_mono_after": off1},
            "notes": e.notes,
            "ss": e.ss,
            "overrides": sc["overrides"],
            "raw": raw,
        }
        truth = kernel_truth.build(meta, raw, work)
        truth["router_actions"] = actions
        with open(os.path.join(work, "meta.json"), "w") as f:
            json.dump(meta, f, indent=1)
        kernel_truth.write(truth, work)
        dest = os.path.join(OUT, name)
        shutil.rmtree(dest, ignore_errors=True)
        os.rename(work, dest)
        for f in os.listdir(dest):
            os.chmod(os.path.join(dest, f), 0o644)
        chk = truth["clock"]["check"]
        if chk:
            log(f"  clock check: SYN captured {chk['syn_captured_after_syn_sent_us']:.0f} us after the SYN-SENT tracepoint")
            if not chk["ok"]:
                log("  WARNING: the trace clock conversion looks wrong")
        for ep in truth["endpoints"]:
            log(f"  {ep['role']:6} {ep['local']:>22} #{ep['incarnation']}: {' > '.join(ep['path'])}")
        return truth


def main(argv):
    if argv[:1] == ["--list"]:
        for n, s in SCENARIOS.items():
            print(f"{n:28} {s['kind']:8} {s['what']}")
        return 0
    if os.geteuid() != 0:
        print("kernel_record.py: must be run as root", file=sys.stderr)
        return 1
    names = argv or list(SCENARIOS)
    for n in names:
        if n not in SCENARIOS:
            print(f"unknown scenario {n}; --list shows them", file=sys.stderr)
            return 2
    os.makedirs(OUT, exist_ok=True)
    socket.setdefaulttimeout(30)  # a scenario that hangs fails instead

    def on_sig(signum, _):
        raise KeyboardInterrupt
    signal.signal(signal.SIGTERM, on_sig)
    failed = []
    for n in names:
        log(f"recording {n}")
        try:
            Recording(SCENARIOS[n]).run()
        except KeyboardInterrupt:
            del_all_ns()
            raise
        except Exception as err:
            log(f"{n} FAILED: {err!r}")
            failed.append(n)
    if failed:
        log("failed: " + " ".join(failed))
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
