#!/usr/bin/env python3
"""The socket tutorial's server, for tcpladder's trace tests.

tcp_server.py PORT [READY_FILE]: socket, SO_REUSEADDR, bind 127.0.0.1:PORT,
listen(5), then (after writing READY_FILE, if given) one accept(): read the
request, write a reply, read until the client's FIN (recv() = 0), close.
"""
import socket
import sys

port = int(sys.argv[1])
ls = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
ls.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
ls.bind(("127.0.0.1", port))
ls.listen(5)
if len(sys.argv) > 2:
    with open(sys.argv[2], "w") as f:
        f.write("listening\n")
conn, _ = ls.accept()
request = conn.recv(100)
conn.sendall(b"reply to " + request)
while conn.recv(100):
    pass
conn.close()
ls.close()
