#!/usr/bin/env python3
"""Save and load a running loadvm_rekey.elf through QEMU's HMP monitor.

    loadvm_rekey.py SOCKET NCPUS [LOADS]

Waits a second, saves the VM as snapshot s1, then LOADS times (default 6)
waits 0.4 s and loads s1; the guest then runs to its end on its own.

Each vCPU of the guest names the address space it is in (its ASID) in a
word at STATE_PA, from its TTBR0 write until the end of its round, which
loads data and fetches code in that space; 0 in between.  The snapshot is
taken at a moment when every vCPU is in ASID 5 and each load at a moment
when every vCPU is in ASID 9 (the VM is stopped, the words read with xp,
and it goes on if they do not fit).  So every loadvm changes the address
space under the guest, which then uses ASID 5's pages before it switches
to ASID 9: a fault that depends on that shows at every load, not at some.

Prints what it did; exits 1 if a command failed or the guest ended first.
"""
import os
import sys
import time

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "..", "ci", "lib"))
from hmp import Monitor  # noqa: E402

STATE_PA = 0x41F00000
SAVE_ASID, LOAD_ASID = 5, 9
PATIENCE = 20.0  # seconds to find the wanted ASID on every vCPU


def command(mon, cmd):
    out = mon.command(cmd)
    if "rror" in out or "failed" in out:
        raise RuntimeError(f"{cmd}: {out.strip()}")
    return out


def asids(mon, ncpus):
    # "0000000041f00000: 0x00000005 0x00000009"
    out = command(mon, f"xp /{ncpus}wx {STATE_PA:#x}")
    _, _, words = out.partition(":")
    return [int(w, 16) for w in words.split()]


def stop_in(mon, ncpus, asid):
    """Stop the VM at a moment when every vCPU runs asid; returns the tries."""
    deadline = time.monotonic() + PATIENCE
    tries = 0
    while True:
        tries += 1
        command(mon, "stop")
        if asids(mon, ncpus) == [asid] * ncpus:
            return tries
        command(mon, "cont")
        if time.monotonic() > deadline:
            raise RuntimeError(f"no moment with ASID {asid} on every vCPU in {PATIENCE:.0f} s")
        time.sleep(0.003 * (tries % 4))


def main():
    path, ncpus = sys.argv[1], int(sys.argv[2])
    loads = int(sys.argv[3]) if len(sys.argv) > 3 else 6
    mon = None
    try:
        mon = Monitor(path)
        time.sleep(1.0)
        tries = stop_in(mon, ncpus, SAVE_ASID)
        command(mon, "savevm s1")
        command(mon, "cont")
        print(f"savevm s1 with ASID {SAVE_ASID} on every vCPU ({tries} tries)")
        for i in range(loads):
            time.sleep(0.4)
            tries = stop_in(mon, ncpus, LOAD_ASID)
            command(mon, "loadvm s1")
            command(mon, "cont")
            print(f"loadvm s1 #{i + 1} with ASID {LOAD_ASID} on every vCPU ({tries} tries)")
        print(command(mon, "info status").strip())
    except (OSError, RuntimeError, ValueError) as e:
        # Leave no VM stopped until the runner's timeout.
        try:
            if mon:
                mon.command("quit")
        except OSError:
            pass
        sys.exit(f"loadvm_rekey.py: {e}")


if __name__ == "__main__":
    main()
