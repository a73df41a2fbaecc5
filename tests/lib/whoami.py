#!/usr/bin/python3
"""Tiny TCP test peer for namespace tests (stdlib only).

  whoami.py serve PORT [ADDR]   answer every connection with "<peer ip>\\n"
  whoami.py get HOST PORT       connect, print the answer (exit 1 on failure)
"""
import socket
import sys


def serve(port, addr):
    fam = socket.AF_INET6 if ":" in addr else socket.AF_INET
    s = socket.socket(fam, socket.SOCK_STREAM)
    s.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    s.bind((addr, port))
    s.listen(16)
    while True:
        c, peer = s.accept()
        try:
            c.sendall((peer[0] + "\n").encode())
        finally:
            c.close()


def get(host, port):
    fam = socket.AF_INET6 if ":" in host else socket.AF_INET
    c = socket.socket(fam, socket.SOCK_STREAM)
    c.settimeout(3)
    try:
        c.connect((host, port))
        data = c.recv(200)
    except OSError as e:
        print("connect %s:%d: %s" % (host, port, e), file=sys.stderr)
        return 1
    finally:
        c.close()
    sys.stdout.write(data.decode())
    return 0 if data else 1


if __name__ == "__main__":
    if len(sys.argv) >= 3 and sys.argv[1] == "serve":
        serve(int(sys.argv[2]), sys.argv[3] if len(sys.argv) > 3 else "0.0.0.0")
    elif len(sys.argv) == 4 and sys.argv[1] == "get":
        sys.exit(get(sys.argv[2], int(sys.argv[3])))
    else:
        print(__doc__, file=sys.stderr)
        sys.exit(64)
