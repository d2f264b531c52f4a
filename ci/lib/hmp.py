#!/usr/bin/env python3
"""Talk to a QEMU HMP monitor on a unix socket.

    hmp.py SOCKET wait-shutdown TIMEOUT   wait until the guest has shut down
    hmp.py SOCKET run CMD [CMD...]        run monitor commands, print output
"""
import socket
import sys
import time

PROMPT = b"(qemu) "


class Monitor:
    def __init__(self, path, timeout=10.0):
        deadline = time.monotonic() + timeout
        while True:
            try:
                self.sock = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
                self.sock.connect(path)
                break
            except OSError:
                if time.monotonic() > deadline:
                    raise
                time.sleep(0.2)
        self.sock.settimeout(30)
        self._read_until_prompt()  # banner

    def _read_until_prompt(self):
        buf = b""
        while not buf.endswith(PROMPT):
            chunk = self.sock.recv(4096)
            if not chunk:
                break
            buf += chunk
        return buf

    def command(self, cmd):
        self.sock.sendall(cmd.encode() + b"\n")
        out = self._read_until_prompt().decode(errors="replace")
        # Drop the echoed command line (readline redraws it with escapes)
        # and the final prompt.
        lines = out.replace("\r", "").split("\n")
        return "\n".join(lines[1:-1])


def main():
    path, what = sys.argv[1], sys.argv[2]
    mon = Monitor(path)
    if what == "wait-shutdown":
        deadline = time.monotonic() + float(sys.argv[3])
        while "shutdown" not in mon.command("info status"):
            if time.monotonic() > deadline:
                sys.exit("timed out waiting for the guest to power off")
            time.sleep(0.5)
    elif what == "run":
        for cmd in sys.argv[3:]:
            print(mon.command(cmd))
            if cmd == "quit":
                break
    else:
        sys.exit(f"unknown action {what}")


if __name__ == "__main__":
    main()
