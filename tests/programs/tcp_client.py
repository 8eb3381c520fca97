#!/usr/bin/env python3
"""The socket tutorial's client, for tcpladder's trace tests.

tcp_client.py PORT [--nonblock[=poll|select|epoll]]: socket, connect to
127.0.0.1:PORT, write a request, read the reply, close. With --nonblock the
connect() returns EINPROGRESS and poll() (or select(), or epoll_wait())
waits for the socket to be writable. A refused connect() prints "refused"
and exits 3.
"""
import errno
import select
import socket
import sys

port = int(sys.argv[1])
s = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
s.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
waits = [a.split("=")[1] if "=" in a else "poll" for a in sys.argv if a.startswith("--nonblock")]
if waits:
    s.setblocking(False)
    err = s.connect_ex(("127.0.0.1", port))
    assert err == errno.EINPROGRESS, err
    if waits[0] == "select":
        select.select([], [s], [], 5)
    elif waits[0] == "epoll":
        ep = select.epoll()
        ep.register(s.fileno(), select.EPOLLOUT)
        ep.poll(5)
        ep.close()
    else:
        p = select.poll()
        p.register(s.fileno(), select.POLLOUT)
        p.poll(5000)
    err = s.getsockopt(socket.SOL_SOCKET, socket.SO_ERROR)
    if err:
        print("refused")
        sys.exit(3)
    s.setblocking(True)
else:
    try:
        s.connect(("127.0.0.1", port))
    except ConnectionRefusedError:
        print("refused")
        sys.exit(3)
s.sendall(b"hello")
reply = s.recv(100)
assert reply == b"reply to hello", reply
s.close()
