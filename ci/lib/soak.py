#!/usr/bin/env python3
"""Soak one QEMU with ESPT through many resets or snapshot loads.

    soak.py reset  QEMU CYCLES OUTDIR -- QEMU ARGS...
    soak.py loadvm QEMU CYCLES OUTDIR -- QEMU ARGS...

reset: the guest boots, runs its workload and powers off; QEMU pauses at
the power-off (-action shutdown=pause), is reset (system_reset) and
continued, CYCLES times.  loadvm: the guest is saved once after it has
started its workload (savevm, 10 s in) and loaded back CYCLES times
while it runs, 2 s apart.  After each cycle the script samples QEMU's own resident memory
(RssAnon: guest RAM is shared memory, which grows as the guest touches
more of it), its page tables, mappings and open files from /proc, and the book-keeping of "info
espt".  Those must stay flat: the last quarter of the cycles may not
exceed the first quarter's largest sample by more than 10% (and 4 MiB
of memory, 512 KiB of page tables, 64 mappings, 4 files of slack for
the allocator and the kernel).
Prints one line per cycle and a verdict; exits 1 when something grew.
"""
import os
import re
import subprocess
import sys
import time

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from hmp import Monitor  # noqa: E402

ESPT_FIELDS = {
    "pages": r"pages mapped: (\d+)",
    "revoked": r"revoked: (\d+)",
    "mappings": r"host mappings: (\d+) of",
    "mirror_kib": r"host memory for mirrors: (\d+) KiB",
    "slots": r"slots, (\d+) in use",
}
SLACK = {"anon_kib": 4096, "pte_kib": 512, "vmas": 64, "fds": 4}


def sample(pid, mon):
    s = {}
    with open(f"/proc/{pid}/status") as f:
        for line in f:
            # QEMU's own memory; guest RAM is shared memory and grows
            # as the guest touches more of it, whatever ESPT does.
            if line.startswith("RssAnon:"):
                s["anon_kib"] = int(line.split()[1])
            if line.startswith("VmPTE:"):
                s["pte_kib"] = int(line.split()[1])
    with open(f"/proc/{pid}/maps") as f:
        s["vmas"] = sum(1 for _ in f)
    s["fds"] = len(os.listdir(f"/proc/{pid}/fd"))
    text = mon.command("info espt")
    for key, rx in ESPT_FIELDS.items():
        m = re.search(rx, text)
        s[key] = int(m.group(1)) if m else -1
    if "ESPT: active" not in text:
        sys.exit(f"ESPT is not active:\n{text}")
    return s


def wait_status(mon, want, timeout):
    deadline = time.monotonic() + timeout
    while want not in mon.command("info status"):
        if time.monotonic() > deadline:
            sys.exit(f"timed out waiting for status '{want}'")
        time.sleep(0.5)


def main():
    mode, qemu, cycles, out = sys.argv[1], sys.argv[2], int(sys.argv[3]), sys.argv[4]
    assert sys.argv[5] == "--"
    args = sys.argv[6:]
    os.makedirs(out, exist_ok=True)
    sock = os.path.join(out, "mon.sock")
    console = os.path.join(out, "console.log")
    extra = ["-monitor", f"unix:{sock},server=on,wait=off", "-serial", f"file:{console}",
             "-display", "none", "-nic", "none", "-accel", "tcg,espt=on"]
    # A guest that powers off stays for the monitor.
    extra += ["-action", "shutdown=pause"]
    if mode == "loadvm":
        disk = os.path.join(out, "snap.qcow2")
        subprocess.run(["qemu-img", "create", "-q", "-f", "qcow2", disk, "64M"], check=True)
        extra += ["-drive", f"if=none,id=snap,format=qcow2,file={disk}"]
    proc = subprocess.Popen([qemu] + args + extra, stdin=subprocess.DEVNULL,
                            stdout=open(os.path.join(out, "qemu.out"), "w"),
                            stderr=subprocess.STDOUT)
    mon = Monitor(sock, timeout=30)
    samples = []
    start = time.monotonic()
    try:
        if mode == "loadvm":
            # Once the guest runs its workload, which each load then
            # takes back to this point.
            time.sleep(10)
            print(mon.command("savevm s1"), flush=True)
        for i in range(cycles):
            if mode == "reset":
                wait_status(mon, "shutdown", 900)
                s = sample(proc.pid, mon)
                mon.command("system_reset")
                mon.command("cont")
            else:
                mon.command("loadvm s1")
                mon.command("cont")
                # Sampled after a while of running, with mirrors made.
                time.sleep(2)
                s = sample(proc.pid, mon)
            samples.append(s)
            print(f"cycle {i + 1:3d} {time.monotonic() - start:7.1f}s "
                  + " ".join(f"{k}={v}" for k, v in s.items()), flush=True)
        mon.command("quit")
    finally:
        if proc.poll() is None:
            proc.kill()
        proc.wait()
    q = max(1, len(samples) // 4)
    first, last = samples[:q], samples[-q:]
    grew = []
    for key in samples[0]:
        base = max(s[key] for s in first)
        top = max(s[key] for s in last)
        if top > base * 1.1 + SLACK.get(key, 0) and top - base > SLACK.get(key, 0):
            grew.append(f"{key} {base} -> {top}")
    if grew:
        print("GREW: " + "; ".join(grew))
        sys.exit(1)
    print(f"flat over {len(samples)} {mode} cycles")


if __name__ == "__main__":
    main()
