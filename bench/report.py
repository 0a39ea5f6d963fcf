#!/usr/bin/python3
"""bench/run's report: table on stdout, <base>.json and <base>.svg, and the --check verdict.

usage: report.py ROWS.jsonl BASE NPROC CPU LOADAVG COMMAND CHECK(0|1) [PATHS.jsonl]
PATHS.jsonl: bench/paths.py's rows (criterion's per-packet paths), reported after the profiles
and drawn in <BASE>-paths.svg. Standard library only; tests in test_report.py.
"""
import json
import subprocess
import sys
from html import escape

import paths

# A DUT busier than this share of its core in a round set that round's pace; a less busy one
# waited for packets, so the generator (or the link) set it.
SATURATED = 0.9
# A DUT's slowest round of a profile at least this many times its fastest, in cycles a packet:
# the host's speed changed during the run (a shared host's rounds come in two speeds).
SPREAD = 1.5
# The benchmark issue's rate targets: anycastd's packet rate as a share of testpmd's on a
# profile, and the flows the profile must run with (None: any).
RATE_TARGETS = (("icmp", 0.85, None), ("dns", 0.85, None), ("forward-tcp", 0.75, 1_000_000))


def median(values):
    v = sorted(x for x in values if x is not None)
    if not v:
        return None
    m = len(v) // 2
    return v[m] if len(v) % 2 else (v[m - 1] + v[m]) / 2


def busy_share(run):
    """The share of its core the DUT spent on packets in a round: its busy TSC cycles per
    packet times the packets per second it answered, over the TSC rate. None without them."""
    cycles, mpps, hz = run.get("dut_cycles_per_packet"), run.get("answered_mpps"), run.get("tsc_hz")
    if not cycles or mpps is None or not hz:
        return None
    return round(cycles * mpps * 1e6 / hz, 3)


def aggregate(runs):
    """One row per (profile, size, dut): medians over the repeated runs, errors and
    validations summed, the best round, and the ratios to testpmd's row of the same profile
    and size."""
    rows = []
    for key in dict.fromkeys((r["profile"], r["size"], r["dut"]) for r in runs):
        group = [r for r in runs if (r["profile"], r["size"], r["dut"]) == key]
        rows.append(aggregate_group(key, group))
    # Ratios to testpmd's row of the same profile and size: of the medians, and of the bests.
    for field, ratio in (("answered_mpps", "ratio_to_testpmd"),
                         ("best_mpps", "best_ratio_to_testpmd")):
        baseline = {(r["profile"], r["size"]): r[field] for r in rows if r["dut"] == "testpmd"}
        for r in rows:
            b = baseline.get((r["profile"], r["size"]))
            r[ratio] = round(r[field] / b, 3) if b else None
    return rows


def several_sizes(rows):
    """True when the run had more than one frame size (the rows then name theirs)."""
    return len({r["size"] for r in rows}) > 1


def row_name(r, sized):
    """A row's profile, with its frame size when the run had several."""
    return f"{r['profile']} {r['size']} B" if sized else r["profile"]


def aggregate_group(key, group):
    """The row of one (profile, size, dut) from its rounds."""
    row = {"profile": key[0], "size": key[1], "dut": key[2], "runs": len(group)}
    for k in ("offered_mpps", "answered_mpps", "loss", "p50_us", "p99_us"):
        row[k] = median(r[k] for r in group)
    row["dut_cycles_per_packet"] = median(r.get("dut_cycles_per_packet") for r in group)
    row["dut_cycles_runs"] = [r.get("dut_cycles_per_packet") for r in group]
    row["dut_busy"] = median(busy_share(r) for r in group)
    for k in ("sent", "received", "validated", "errors"):
        row[k] = sum(r[k] for r in group)
    row["affinity_checks"] = sum(r.get("affinity_checks", 0) for r in group)
    row["answered_mpps_runs"] = [round(r["answered_mpps"], 4) for r in group]
    # The best round: interference on a shared host only ever slows a round down.
    best = max(group, key=lambda r: r["answered_mpps"])
    row["best_mpps"] = best["answered_mpps"]
    row["best_round_dut_busy"] = busy_share(best)
    row["first_errors"] = [e for r in group for e in r["first_errors"]][:8]
    row["dut_exits"] = [r.get("dut_exit", 0) for r in group]
    row["dut_counters"] = [r.get("dut_counters", "") for r in group]
    row["memory"] = group[0].get("memory")
    return row


def pace_notes(rows):
    """A line per profile whose testpmd best round left testpmd waiting for packets: its
    ratio of bests then compares anycastd with the generator's rate, not with testpmd's."""
    notes = []
    sized = several_sizes(rows)
    for r in rows:
        busy = r.get("best_round_dut_busy")
        if r["dut"] == "testpmd" and busy is not None and busy < SATURATED:
            notes.append(f"{row_name(r, sized)}: testpmd's best round kept its core "
                         f"{busy:.0%} busy: the generator set its pace, so the ratio compares "
                         "anycastd with the generator's rate there, not with testpmd's")
    return notes


def speed_notes(rows):
    """A line per profile where a DUT's rounds differ in their cost per packet by SPREAD or
    more: the host ran at more than one speed, so the ratio of medians mixes fast and slow
    rounds."""
    notes = []
    sized = several_sizes(rows)
    for name in dict.fromkeys(row_name(r, sized) for r in rows):
        spans = []
        spread = False
        for r in rows:
            cycles = [c for c in r.get("dut_cycles_runs", []) if c]
            if row_name(r, sized) != name or len(cycles) < 2:
                continue
            spans.append(f"{min(cycles):.0f}–{max(cycles):.0f} ({r['dut']})")
            spread |= max(cycles) >= SPREAD * min(cycles)
        if spread:
            notes.append(f"{name}: rounds ran at {' and '.join(spans)} cycles a packet: the "
                         "host's speed changed during the run, so the ratio of medians mixes "
                         "fast and slow rounds; the ratio of bests compares the fastest (more "
                         "--repeat makes it likelier that each DUT has one)")
    return notes


def fmt(v, spec):
    return "-" if v is None else format(v, spec)


def profile_table(rows):
    """The profiles' table as text, with the pace and speed notes under it (a size column
    when the run had several frame sizes)."""
    sized = several_sizes(rows)
    header = (("profile",) + (("size",) if sized else ())
              + ("dut", "runs", "offered Mpps", "answered Mpps", "loss", "p50 µs", "p99 µs",
                 "ratio", "best Mpps", "best ratio", "DUT cycles/pkt", "DUT busy",
                 "wrong/validated"))
    lines = []
    for r in rows:
        size = (str(r["size"]),) if sized else ()
        lines.append((r["profile"],) + size
                     + (r["dut"], str(r["runs"]), fmt(r["offered_mpps"], ".3f"),
                        fmt(r["answered_mpps"], ".3f"), fmt(r["loss"] * 100, ".2f") + "%",
                        fmt(r["p50_us"], ".1f"), fmt(r["p99_us"], ".1f"),
                        fmt(r["ratio_to_testpmd"], ".2f"), fmt(r["best_mpps"], ".3f"),
                        fmt(r["best_ratio_to_testpmd"], ".2f"),
                        fmt(r["dut_cycles_per_packet"], ".0f"), fmt(r["dut_busy"], ".0%"),
                        f"{r['errors']}/{r['validated']}"))
    notes = "".join(f"\nnote: {n}" for n in pace_notes(rows) + speed_notes(rows))
    return paths.text_table(header, lines) + notes


def verdict(median_ratio, best_ratio, bar):
    """Whether a profile's ratios reach `bar`: by both, by one (which), or by neither."""
    by_median = median_ratio is not None and median_ratio >= bar
    by_best = best_ratio is not None and best_ratio >= bar
    if by_median and by_best:
        return "met"
    if by_median or by_best:
        return "met by " + ("medians" if by_median else "bests") + " only"
    return "not met"


def targets(rows, runs, path_rows):
    """The targets this run measured, as {"target", "figure", "verdict"}: each rate target whose
    profile ran against both DUTs (forward-tcp only with the flows it asks for), at the
    profile's smallest frame size when it ran at several; zero answer errors in anycastd's
    sampled validation; and every counted path within 50 ns."""
    out = []
    sized = several_sizes(rows)
    for profile, bar, flows in RATE_TARGETS:
        sizes = [r["size"] for r in rows if r["profile"] == profile]
        size = min(sizes, default=None)
        by_dut = {r["dut"]: r for r in rows if (r["profile"], r["size"]) == (profile, size)}
        ours, base = by_dut.get("anycastd"), by_dut.get("testpmd")
        if ours is None or base is None:
            continue
        target = (f"{row_name(ours, sized)} ≥ {bar:.2f} of testpmd"
                  + (f" ({flows:,} flows)" if flows else ""))
        ran = {r.get("flows") for r in runs if r["profile"] == profile} - {None}
        if flows and ran and ran != {flows}:
            out.append({"target": target, "figure": f"ran with {sorted(ran)} flows",
                        "verdict": "not measured"})
            continue
        m, b = ours["ratio_to_testpmd"], ours["best_ratio_to_testpmd"]
        out.append({"target": target, "figure": f"medians {fmt(m, '.3f')}, bests {fmt(b, '.3f')}",
                    "verdict": verdict(m, b, bar)})
    ours = [r for r in rows if r["dut"] == "anycastd"]
    if ours:
        wrong, validated = sum(r["errors"] for r in ours), sum(r["validated"] for r in ours)
        out.append({"target": "zero answer errors",
                    "figure": f"{wrong} wrong of {validated:,} sampled",
                    "verdict": "met" if wrong == 0 and validated else "not met"})
    counted = [r for r in path_rows if not r.get("reference")]
    if counted:
        over = [f"{r['path']} {r['path_ns']:.1f}" for r in counted if not r["met"]]
        figure = f"{len(counted) - len(over)} of {len(counted)} within"
        out.append({"target": f"every path ≤ {paths.TARGET_NS:.0f} ns",
                    "figure": figure + (f"; over: {', '.join(over)}" if over else ""),
                    "verdict": "met" if not over else "not met"})
    return out


def targets_text(found):
    """The targets as lines under the tables."""
    if not found:
        return ""
    return "targets (this machine):\n" + "\n".join(
        f"  {t['target']}: {t['figure']}: {t['verdict']}" for t in found)


def git_rev():
    """`git describe` of the tree, or "unknown"."""
    try:
        return subprocess.run(["git", "describe", "--always", "--dirty"], capture_output=True,
                              text=True, check=True).stdout.strip()
    except (OSError, subprocess.CalledProcessError):
        return "unknown"


def profiles_svg(rows, footer):
    """Grouped bars (answered Mpps per profile, and size when several, testpmd vs anycastd),
    ratio labels."""
    sized = several_sizes(rows)
    profiles = list(dict.fromkeys(row_name(r, sized) for r in rows))
    duts = list(dict.fromkeys(r["dut"] for r in rows))
    colors = {"testpmd": "#9aa5b1", "anycastd": "#2b6cb0"}
    top = max([r["answered_mpps"] for r in rows] + [r["offered_mpps"] for r in rows] + [0.001])
    W, H, L, B, T = 120 + 110 * len(profiles), 360, 60, 60, 40
    ph = H - B - T
    bw = 90 / max(1, len(duts))
    svg = [f'<svg xmlns="http://www.w3.org/2000/svg" width="{W}" height="{H}" '
           f'font-family="sans-serif" font-size="11">',
           f'<rect width="{W}" height="{H}" fill="white"/>',
           f'<text x="{L}" y="20" font-size="13">anycastd vs dpdk-testpmd macswap over net_memif: '
           f'answered/forwarded Mpps (ratio to testpmd on top)</text>']
    for i in range(5):
        v = top * i / 4
        y = T + ph - ph * i / 4
        svg.append(f'<line x1="{L}" x2="{W - 20}" y1="{y:.1f}" y2="{y:.1f}" stroke="#ddd"/>')
        svg.append(f'<text x="{L - 5}" y="{y + 4:.1f}" text-anchor="end">{v:.2f}</text>')
    for pi, p in enumerate(profiles):
        x0 = L + 10 + pi * 110
        for di, d in enumerate(duts):
            r = next((r for r in rows if row_name(r, sized) == p and r["dut"] == d), None)
            if r is None:
                continue
            h = ph * r["answered_mpps"] / top
            x = x0 + di * bw
            svg.append(f'<rect x="{x:.1f}" y="{T + ph - h:.1f}" width="{bw - 4:.1f}" '
                       f'height="{h:.1f}" fill="{colors.get(d, "#888")}"/>')
            label = f'{r["answered_mpps"]:.2f}'
            if d != "testpmd" and r["ratio_to_testpmd"] is not None:
                label = f'{r["ratio_to_testpmd"] * 100:.0f}%'
            svg.append(f'<text x="{x + (bw - 4) / 2:.1f}" y="{T + ph - h - 4:.1f}" '
                       f'text-anchor="middle">{escape(label)}</text>')
        svg.append(f'<text x="{x0 + 45:.1f}" y="{T + ph + 16}" text-anchor="middle">'
                   f'{escape(p)}</text>')
    for di, d in enumerate(duts):
        x = L + di * 110
        svg.append(f'<rect x="{x}" y="{H - 24}" width="12" height="12" '
                   f'fill="{colors.get(d, "#888")}"/>')
        svg.append(f'<text x="{x + 16}" y="{H - 14}">{escape(d)}</text>')
    svg.append(f'<text x="{L + 110 * len(duts)}" y="{H - 14}" fill="#555">'
               f'{escape(footer)}</text>')
    svg.append("</svg>")
    return "\n".join(svg) + "\n"


def check_failures(rows):
    """--check: what failed (wrong answers, nothing back); DUT exit statuses are warned of."""
    bad = []
    sized = several_sizes(rows)
    for r in rows:
        name = f"{row_name(r, sized)}/{r['dut']}"
        if r["errors"]:
            bad.append(f"{name}: {r['errors']} wrong answers: "
                       + "; ".join(r["first_errors"][:3]))
        if r["validated"] == 0 or r["received"] == 0:
            bad.append(f"{name}: nothing came back")
        if any(r["dut_exits"]):
            # Reported, not failed: see bench/README.md (a memif teardown crash at exit).
            print(f"bench check: warning: {name}: DUT exit statuses "
                  f"{r['dut_exits']}", file=sys.stderr)
    return bad


def write_results(base, rows, details):
    """Writes `base`.json, the table's rows (a list: one per profile, DUT and size), and
    `base`-details.json, the rest (command, tree, machine, targets, each round, the paths);
    returns their paths."""
    written = []
    for path, doc in ((base + ".json", rows), (base + "-details.json", details)):
        with open(path, "w") as f:
            json.dump(doc, f, indent=1)
            f.write("\n")
        written.append(path)
    return written


def main():
    rows_path, base, nproc, cpu, load, command, check = sys.argv[1:8]
    paths_path = sys.argv[8] if len(sys.argv) > 8 else ""
    runs = [json.loads(line) for line in open(rows_path) if line.strip()]
    path_rows = ([json.loads(line) for line in open(paths_path) if line.strip()]
                 if paths_path else [])
    for r in runs:
        r["dut_busy"] = busy_share(r)
    rows = aggregate(runs)
    print(profile_table(rows))
    if path_rows:
        print()
        print(paths.table(path_rows))
    found = targets(rows, runs, path_rows)
    if found:
        print()
        print(targets_text(found))
    print(f"\n{nproc} cores, {cpu}; load average before the report: {load}")
    print(f"command: {command}")
    rev = git_rev()
    print(f"anycastd tree: {rev}")
    details = {
        "command": command,
        "git": rev,
        "machine": {"nproc": int(nproc), "cpu": cpu, "loadavg": load},
        "targets": found,
        "runs": runs,
        "paths": path_rows,
    }
    written = write_results(base, rows, details)
    with open(base + ".svg", "w") as f:
        f.write(profiles_svg(rows, f"{nproc} cores, {cpu}, load {load}"))
    written.append(base + ".svg")
    if path_rows:
        with open(base + "-paths.svg", "w") as f:
            f.write(paths.svg(path_rows, f"{nproc} cores, {cpu}, load {load}; anycastd tree {rev}"))
        written.append(base + "-paths.svg")
    print(f"wrote {', '.join(written[:-1])} and {written[-1]}")
    if check == "1":
        bad = check_failures(rows)
        if bad:
            print("bench check FAILED:\n  " + "\n  ".join(bad), file=sys.stderr)
            sys.exit(1)
        print("bench check: every sampled answer correct, every DUT answered/forwarded")


if __name__ == "__main__":
    main()
