#!/usr/bin/env python3
"""The socket tutorial's server, for tcpladder's trace tests.

tcp_server.py PORT [READY_FILE [ACCEPT_DELAY]]: socket, SO_REUSEADDR, bind
127.0.0.1:PORT, listen(5), then (after writing READY_FILE, if given, and
sleeping ACCEPT_DELAY seconds, so a connection waits in the accept queue)
one accept(): read the request, write a reply, read until the client's FIN
(recv() = 0), close.
"""
import socket
import sys
import time

port = int(sys.argv[1])
ls = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
ls.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
ls.bind(("127.0.0.1", port))
ls.listen(5)
if len(sys.argv) > 2:
    with open(sys.argv[2], "w") as f:
        f.write("listening\n")
if len(sys.argv) > 3:
    time.sleep(float(sys.argv[3]))
conn, _ = ls.accept()
request = conn.recv(100)
conn.sendall(b"reply to " + request)
while conn.recv(100):
    pass
conn.close()
ls.close()
