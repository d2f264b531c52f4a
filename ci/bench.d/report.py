#!/usr/bin/env python3
"""Summarise the runs of ci/bench into JSON, a markdown table and a chart.

    report.py --runs runs.tsv --workloads workloads.tsv --out PREFIX \
              [--meta key=value ...]

runs.tsv has one line per QEMU run: name, group, mode (off/on, or user
for the linux-user ceiling of ci/bench --ceiling), pair, host wall
seconds, guest seconds ("-" if none), exit status, output sha.
Writes PREFIX.json, PREFIX.md and PREFIX.png.

Per workload: the median of each setting, ratio = median(off) / median(on)
(> 1 means ESPT is faster), the spread of the per-pair ratios off_i / on_i
(min and max) and their median, the "paired" ratio.  The two runs of a
pair follow each other, so the paired ratio holds when the machine's
speed drifts between pairs (this VM's has changed by 30% within minutes),
while the ratio of the medians can then take its off time from one pair
and its on time from another.  Geometric means of both are given for
the Linux CPU-bound programs (the SPEC-like suite), for every Linux
workload (suite plus boot and fork/exec), for the microbenchmarks, and for
everything.

With user-mode runs, a second table puts each Linux program's guest-clock
time under plain TCG and ESPT beside its time under qemu-arm (linux-user:
no MMU emulation at all, the host kernel in place of the guest's), the
ceiling ratio off/user that no memory virtualization can exceed on that
program, the share of the achievable gain that ESPT takes,
(off - on) / (off - user), and the same ceiling in host wall time: plain
TCG's wall time less the guest-clock time that user mode saves (the boot
and everything outside the measured part stay), off / (off - saved).
"""
import argparse
import json
import math
import statistics

TARGET = 1.5
FLOOR = 0.95


def geomean(xs):
    xs = [x for x in xs if x and x > 0]
    return math.exp(sum(math.log(x) for x in xs) / len(xs)) if xs else None


def load_runs(path):
    runs = []
    with open(path) as f:
        for line in f:
            if not line.strip():
                continue
            name, group, mode, pair, wall, guest, rc, sha = line.rstrip("\n").split("\t")
            runs.append({
                "name": name, "group": group, "mode": mode, "pair": int(pair),
                "wall_s": float(wall),
                "guest_s": None if guest == "-" else float(guest),
                "rc": int(rc), "output_sha256": sha,
            })
    return runs


def summarise(runs, order, args_of):
    out = []
    for name in order:
        rs = [r for r in runs if r["name"] == name]
        if not rs:
            continue
        w = {"name": name, "group": rs[0]["group"], "args": args_of.get(name, "")}
        for key, label in (("wall_s", "wall"), ("guest_s", "guest")):
            off = {r["pair"]: r[key] for r in rs if r["mode"] == "off" and r[key] is not None}
            on = {r["pair"]: r[key] for r in rs if r["mode"] == "on" and r[key] is not None}
            if not off or not on:
                continue
            moff, mon = statistics.median(off.values()), statistics.median(on.values())
            pairs = [off[p] / on[p] for p in sorted(off) if p in on and on[p] > 0]
            w[label] = {
                "off_median_s": round(moff, 3), "on_median_s": round(mon, 3),
                "ratio": round(moff / mon, 4) if mon > 0 else None,
                "pair_ratios": [round(x, 4) for x in pairs],
                "spread": [round(min(pairs), 4), round(max(pairs), 4)] if pairs else None,
                "paired_ratio": round(statistics.median(pairs), 4) if pairs else None,
            }
        user = [r["guest_s"] for r in rs if r["mode"] == "user" and r["guest_s"] is not None]
        g = w.get("guest")
        if user and g:
            muser = statistics.median(user)
            off, on = g["off_median_s"], g["on_median_s"]
            h = w.get("wall")
            best = h["off_median_s"] - (off - muser) if h else None
            w["ceiling"] = {
                "user_median_s": round(muser, 3),
                "wall_ratio": round(h["off_median_s"] / best, 4) if best and best > 0 else None,
                "ratio": round(off / muser, 4) if muser > 0 else None,
                "share": round((off - on) / (off - muser), 4) if off > muser else None,
            }
        shas = {r["output_sha256"] for r in rs}
        w["outputs_identical"] = len(shas) == 1 and all(r["rc"] == 0 for r in rs)
        out.append(w)
    return out


def in_suite(w):
    """The Linux CPU-bound programs (the SPEC-like suite)."""
    return w["group"] == "linux" and w["name"] != "linux/forkexec"


def ceiling_geomeans(ws):
    """Suite geomeans of ESPT's and the ceiling's ratios, guest and wall."""
    suite = [w for w in ws if "ceiling" in w and in_suite(w)]
    if not suite:
        return None
    return {
        "espt_guest": geomean([w["guest"]["ratio"] for w in suite]),
        "guest": geomean([w["ceiling"]["ratio"] for w in suite]),
        "espt_wall": geomean([w["wall"]["ratio"] for w in suite]),
        "wall": geomean([w["ceiling"]["wall_ratio"] for w in suite]),
    }


def geomeans(ws, label, key="ratio"):
    sets = {
        "linux_cpu_suite": [w for w in ws if in_suite(w)],
        "linux_all": [w for w in ws if w["group"] in ("linux", "boot", "smp", "armmp")],
        "micro": [w for w in ws if w["group"] == "micro"],
        "all": ws,
    }
    res = {}
    for k, group in sets.items():
        g = geomean([w[label][key] for w in group if label in w])
        if g is not None:
            res[k] = round(g, 4)
    return res


def fmt(x, nd=2):
    return "-" if x is None else f"{x:.{nd}f}"


def markdown(ws, gm_wall, gm_guest, gm_paired, meta):
    lines = [
        "| workload | off s | on s | ratio off/on | spread | paired | guest off s | guest on s | guest ratio | output |",
        "| --- | ---: | ---: | ---: | --- | ---: | ---: | ---: | ---: | --- |",
    ]
    for w in ws:
        h, g = w.get("wall", {}), w.get("guest")
        sp = h.get("spread")
        row = [f"`{w['name']}`", fmt(h.get("off_median_s")), fmt(h.get("on_median_s")),
               f"**{fmt(h.get('ratio'))}**", f"{fmt(sp[0])}-{fmt(sp[1])}" if sp else "-",
               fmt(h.get("paired_ratio"))]
        if g:
            row += [fmt(g["off_median_s"]), fmt(g["on_median_s"]), fmt(g["ratio"])]
        else:
            row += ["", "", ""]
        row.append("identical" if w["outputs_identical"] else "**MISMATCH**")
        lines.append("| " + " | ".join(row) + " |")
    names = {"linux_cpu_suite": "Linux CPU-bound suite (SPEC-like programs)",
             "linux_all": "all Linux workloads (suite + boot + fork/exec + SMP + non-LPAE kernel)",
             "micro": "microbenchmarks", "all": "everything"}
    lines.append("")
    lines.append("| geometric mean of ratio off/on | host wall | guest clock | host wall, paired |")
    lines.append("| --- | ---: | ---: | ---: |")
    for k, n in names.items():
        if k in gm_wall:
            lines.append(f"| {n} | **{fmt(gm_wall[k])}** | {fmt(gm_guest.get(k))} "
                         f"| {fmt(gm_paired.get(k))} |")
    cws = [w for w in ws if "ceiling" in w]
    if cws:
        lines += [
            "",
            "| workload | guest off s | guest on s | user-mode s | ESPT off/on | ceiling off/user | share of the gain taken | wall: ESPT | wall: ceiling |",
            "| --- | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: |",
        ]
        for w in cws:
            g, c = w["guest"], w["ceiling"]
            share = "-" if c["share"] is None else f"{100 * c['share']:.0f}%"
            lines.append(
                f"| `{w['name']}` | {fmt(g['off_median_s'])} | {fmt(g['on_median_s'])} | "
                f"{fmt(c['user_median_s'])} | {fmt(g['ratio'])} | **{fmt(c['ratio'])}** | {share} | "
                f"{fmt(w['wall']['ratio'])} | **{fmt(c['wall_ratio'])}** |")
        gm = ceiling_geomeans(ws)
        if gm:
            lines.append(
                f"| geometric mean, suite | | | | {fmt(gm['espt_guest'])} | **{fmt(gm['guest'])}** "
                f"| | {fmt(gm['espt_wall'])} | **{fmt(gm['wall'])}** |")
    lowest = min((w for w in ws if "wall" in w), key=lambda w: w["wall"]["ratio"], default=None)
    lines.append("")
    lines.append(
        f"{meta.get('pairs', '?')} pair(s) of runs per workload (espt=off first in odd pairs, "
        f"espt=on first in even ones), `{meta.get('size', 'full')}` inputs, medians of host "
        f"wall time (QEMU start to exit) and of the guest's own clock for the measured part "
        f"of Linux workloads. Ratio > 1: ESPT is faster. "
        f"Spread: min-max of the per-pair ratios; paired: their median. "
        f"Target: geomean >= {TARGET} on the suite, "
        f"no workload below {FLOOR}"
        + (f" (lowest here: `{lowest['name']}` {fmt(lowest['wall']['ratio'])})." if lowest else ".")
    )
    lines.append(
        f"Emulator sha256 {meta.get('qemu_sha256', '?')}, tree {meta.get('git', '?')}, "
        f"{meta.get('host', '')}, {meta.get('cpus', '?')} CPUs, {meta.get('started', '')}."
    )
    return "\n".join(lines) + "\n"


def chart(ws, gm_wall, meta, path):
    import matplotlib
    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    ws = [w for w in ws if "wall" in w]
    colours = {"linux": "#3b75af", "boot": "#7f7f7f", "smp": "#2b9c8f", "armmp": "#9467bd",
               "micro": "#e08b2c"}
    names = [w["name"] for w in ws]
    ratios = [w["wall"]["ratio"] for w in ws]
    lo = [max(0.0, r - (w["wall"]["spread"] or [r, r])[0]) for r, w in zip(ratios, ws)]
    hi = [max(0.0, (w["wall"]["spread"] or [r, r])[1] - r) for r, w in zip(ratios, ws)]
    fig, ax = plt.subplots(figsize=(max(8, 0.55 * len(ws) + 2), 5.6))
    x = range(len(ws))
    # Log scale, bars drawn from 1.0: speed-ups go up, slow-downs go down.
    ax.set_yscale("log", base=2)
    ax.bar(x, [r - 1.0 for r in ratios], bottom=1.0,
           color=[colours.get(w["group"], "#555") for w in ws],
           yerr=[lo, hi], capsize=3, ecolor="#222")
    ax.axhline(1.0, color="black", linewidth=1)
    ax.axhline(TARGET, color="#2a9d3a", linestyle="--", linewidth=1.2)
    ax.text(len(ws) - 0.5, TARGET, f" target {TARGET}x", va="bottom", ha="right",
            color="#2a9d3a", fontsize=8)
    ax.axhline(FLOOR, color="#c0392b", linestyle=":", linewidth=1)
    ax.text(len(ws) - 0.5, FLOOR, f"floor {FLOOR}x", va="top", ha="right",
            color="#c0392b", fontsize=8)
    for i, r in enumerate(ratios):
        y = r + hi[i] if r >= 1 else r - lo[i]
        ax.text(i, y * (1.04 if r >= 1 else 0.96), f"{r:.2f}", ha="center",
                va="bottom" if r >= 1 else "top", fontsize=7)
    ceil = [(i, w["ceiling"]["wall_ratio"]) for i, w in enumerate(ws)
            if w.get("ceiling", {}).get("wall_ratio")]
    if ceil:
        ax.scatter([i for i, _ in ceil], [c for _, c in ceil], marker="_", s=420,
                   linewidths=2.2, color="#6a3d9a", zorder=3)
    ax.set_xticks(list(x))
    ax.set_xticklabels(names, rotation=55, ha="right", fontsize=8)
    ax.set_ylabel("speed-up: time espt=off / time espt=on (log scale)")
    top = max([TARGET * 1.2] + [r + h for r, h in zip(ratios, hi)]) * 1.3
    bottom = min([0.5] + [max(1e-3, r - l) for r, l in zip(ratios, lo)]) / 1.3
    ax.set_ylim(bottom, top)
    ticks = [t for t in (1 / 64, 1 / 32, 1 / 16, 1 / 8, 0.25, 0.5, 0.75, 1, 1.5, 2, 4, 8, 16, 32)
             if bottom <= t <= top]
    ax.set_yticks(ticks)
    ax.set_yticklabels([f"{t:g}" if t >= 0.25 else f"1/{round(1 / t)}" for t in ticks])
    ax.grid(axis="y", color="#ddd", linewidth=0.6)
    ax.set_axisbelow(True)
    gm = gm_wall.get("linux_cpu_suite")
    title = "ESPT vs plain TCG, host wall time (median of %s pair(s))" % meta.get("pairs", "?")
    if gm:
        title += f"\ngeomean: Linux suite {gm:.2f}x"
        if "micro" in gm_wall:
            title += f", micro {gm_wall['micro']:.2f}x"
        if "all" in gm_wall:
            title += f", all {gm_wall['all']:.2f}x"
    ax.set_title(title, fontsize=10)
    from matplotlib.patches import Patch
    from matplotlib.lines import Line2D
    handles = [Patch(color=c, label=g) for g, c in colours.items()
               if any(w["group"] == g for w in ws)]
    if ceil:
        handles.append(Line2D([], [], color="#6a3d9a", marker="_", markersize=14,
                              linestyle="none", markeredgewidth=2.2,
                              label="ceiling: qemu-arm (user mode) time"))
    ax.legend(handles=handles, fontsize=8, loc="upper left")
    fig.tight_layout()
    fig.savefig(path, dpi=110)


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--runs", required=True)
    ap.add_argument("--workloads", required=True)
    ap.add_argument("--out", required=True)
    ap.add_argument("--meta", nargs="*", default=[])
    a = ap.parse_args()
    meta = dict(kv.split("=", 1) for kv in a.meta)
    order, args_of = [], {}
    with open(a.workloads) as f:
        for line in f:
            if line.strip():
                n, args = line.rstrip("\n").split("\t", 1)
                order.append(n)
                args_of[n] = args
    runs = load_runs(a.runs)
    ws = summarise(runs, order, args_of)
    gm_wall, gm_guest = geomeans(ws, "wall"), geomeans(ws, "guest")
    gm_paired = geomeans(ws, "wall", "paired_ratio")
    # Only Linux workloads have a guest clock: "all" would repeat "linux_all".
    gm_guest.pop("all", None)
    gm_ceiling = ceiling_geomeans(ws)
    doc = {"meta": meta, "target": {"geomean": TARGET, "floor": FLOOR},
           "geomean_wall": gm_wall, "geomean_guest": gm_guest,
           "geomean_wall_paired": gm_paired,
           "geomean_ceiling_suite": {
               k: round(gm_ceiling[k], 4) for k in ("guest", "wall")
           } if gm_ceiling else None,
           "workloads": ws, "runs": runs}
    with open(a.out + ".json", "w") as f:
        json.dump(doc, f, indent=1)
    with open(a.out + ".md", "w") as f:
        f.write(markdown(ws, gm_wall, gm_guest, gm_paired, meta))
    chart(ws, gm_wall, meta, a.out + ".png")


if __name__ == "__main__":
    main()
