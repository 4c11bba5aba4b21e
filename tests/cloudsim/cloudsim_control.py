"""cloudsim's control socket (tests/cloudsim/README.md, "Faults and the control socket"): one command line, one answer line.
Shared by the cloudsim tests (simclient.py), the operations tests and the end-to-end benchmark."""

import socket


def command(path, line, timeout=10):
    """Sends `line` to the control socket at `path`; returns the answer without its newline ("ok ..." or
    "error ..."). timeout=None blocks."""
    with socket.socket(socket.AF_UNIX, socket.SOCK_STREAM) as s:
        s.settimeout(timeout)
        s.connect(path)
        s.sendall((line + "\n").encode())
        buf = b""
        while not buf.endswith(b"\n"):
            chunk = s.recv(65536)
            if not chunk:
                break
            buf += chunk
    return buf.decode().strip()
