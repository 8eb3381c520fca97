#!/usr/bin/env python3
"""Server and client in one program, for tcpladder's trace tests: the
server listens on 127.0.0.1:PORT, then forks the client (tcp_client.py's
blocking path, run in the child) and serves it in a thread of its own, so
a trace must follow both a fork and a thread.
"""
import os
import socket
import sys
import threading

port = int(sys.argv[1])
ls = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
ls.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
ls.bind(("127.0.0.1", port))
ls.listen(5)


def serve():
    conn, _ = ls.accept()
    request = conn.recv(100)
    conn.sendall(b"reply to " + request)
    while conn.recv(100):
        pass
    conn.close()


t = threading.Thread(target=serve)
t.start()
child = os.fork()
if child == 0:
    ls.close()
    s = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    s.connect(("127.0.0.1", port))
    s.sendall(b"hello")
    assert s.recv(100) == b"reply to hello"
    s.close()
    os._exit(0)
t.join()
_, status = os.waitpid(child, 0)
ls.close()
sys.exit(os.waitstatus_to_exitcode(status))
