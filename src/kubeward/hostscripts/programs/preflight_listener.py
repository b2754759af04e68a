"""kubeward's preflight probe listener (runs on a host as `python3 -c`, stdlib only).

argv: ADDRESS SECONDS PEERS PORT. Binds ADDRESS:PORT (retrying while a previous run's probe lets
go), prints "PORT listening" (or "PORT in-use"), detaches, and answers up to PEERS connections
for SECONDS. Named kubeward-probe so `ss`, `ps` and the port checks recognise it.
"""

import ctypes
import os
import socket
import sys
import time


def main() -> None:
    address, seconds, peers, port = sys.argv[1], float(sys.argv[2]), int(sys.argv[3]), int(sys.argv[4])
    try:
        ctypes.CDLL(None).prctl(15, b"kubeward-probe", 0, 0, 0)  # PR_SET_NAME: recognisable in ss/ps
    except Exception:
        pass
    s = socket.socket()
    s.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    for _attempt in range(40):  # a previous run's probe, just killed, may still hold the port
        try:
            s.bind((address, port))
            s.listen(128)
            break
        except OSError:
            time.sleep(0.05)
    else:
        print(port, "in-use", flush=True)
        sys.exit(0)
    print(port, "listening", flush=True)
    if os.fork():
        os._exit(0)
    os.setsid()
    fd = os.open(os.devnull, os.O_RDWR)
    for i in (0, 1, 2):
        os.dup2(fd, i)
    s.settimeout(1.0)
    end = time.time() + seconds
    answered = 0
    while time.time() < end and answered < peers:
        try:
            c, _ = s.accept()
            c.sendall(b"kubeward-preflight\n")
            c.close()
            answered += 1
        except OSError:
            pass


if __name__ == "__main__":
    main()
