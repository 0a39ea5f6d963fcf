#!/usr/bin/python3
"""bench/paths.py: the per-packet paths' criterion benchmarks, as rows of bench/run's report.

usage: paths.py [--warm-up S] [--measure S] [--rounds N] [--from FILE]... [--out ROWS.jsonl]
                [--svg FILE] [--quiet] [FILTER]
       paths.py --smoke

Runs the criterion benches `answer`, `forward` and `dns` (dataplane/benches/) with
`--output-format bencher` (or reads that output from --from FILE), and for every per-packet path
prints: ns per packet of the whole row, of the row's set-up (restoring the frame the path rewrote,
measured by the bench's own `reset_only` row), and of the path alone (the difference), against
the target of 50 ns. Every row times 32 packets. --out writes the rows as JSON lines for
report.py, --svg a bar chart. FILTER is criterion's (a regular expression over row names).

A forward row timed one packet at a time (`…_batch32`) whose path is also timed as a burst
(the same name with `_burst32`) is a reference row: the worker never forwards one packet at a
time (it classifies its whole rx burst, then reads the burst's flow-table lines, then forwards),
so the burst row is that path's figure and the batch row shows what the burst saves. Reference
rows are listed, marked `ref`, and left out of the count.

--rounds N runs the benches N times (each --from FILE is a round too): on a shared machine a
round is slowed by whatever else the host runs, never sped up, so each row's figures are its
fastest round's (the whole row's and the set-up row's, each its own best) and the table adds
the median of the rounds' path figures; the summary counts the paths within the target both
ways.

--smoke runs every bench once (criterion's --test: the benches' own checks, such as that no
forwarded packet met an unresolved next hop, no timing) and checks that every bench row is
known here: a path with its set-up row, a set-up row, or a row that is not a per-packet path.
Standard library only.
"""
import argparse
import json
import re
import subprocess
import sys
import time
from html import escape

BENCHES = ["answer", "forward", "dns", "pipeline"]
PACKETS_PER_ROW = 32
TARGET_NS = 50.0

# (row pattern, its set-up row): the first match wins.
SETUP_RULES = [
    (r"(answer|pipeline)/(.+)", r"\1/\2/reset_only"),
    (r"forward/(?:new_flow|stateless)_.*_(batch32|burst32)", r"forward/new_flow_reset_only_\1"),
    (r"forward/flow_hit_.*_table1m_(burst32)", r"forward/new_flow_reset_only_\1"),
    (r"forward/flow_hit_.*", "forward/reset_only_batch32"),
    (r"dns_query/random_nxdomain(?:/.*)?", "dns_query/random_nxdomain/reset_only"),
    (r"dns_query/.*", "dns_query/reset_only"),
]
# Rows that are not one packet's path: table builds and zone loads.
NOT_PATHS = [r"maglev/.*", r"dns_zone_load/.*"]
BENCH_LINE = re.compile(r"^test (\S+) \.\.\. bench:\s+([\d,]+(?:\.\d+)?) ns/iter")


def is_setup(name):
    """True for a row that times only a path's set-up."""
    return "reset_only" in name


def setup_of(name):
    """The set-up row of path row `name`; None when `name` is not a path row; KeyError when
    it is a row no rule knows."""
    if is_setup(name) or any(re.fullmatch(p, name) for p in NOT_PATHS):
        return None
    for pattern, setup in SETUP_RULES:
        if re.fullmatch(pattern, name):
            return re.sub(f"^{pattern}$", setup, name)
    raise KeyError(f"bench row '{name}' is unknown to bench/paths.py (add it to SETUP_RULES "
                   "or NOT_PATHS)")


def bench_line(line):
    """(row name, ns per iteration) of one criterion `--output-format bencher` line, or None."""
    m = BENCH_LINE.match(line.strip())
    return (m.group(1), float(m.group(2).replace(",", ""))) if m else None


def parse_bencher(text):
    """Row name -> ns per iteration, from criterion's `--output-format bencher` lines."""
    return dict(filter(None, map(bench_line, text.splitlines())))


def parse_rounds(texts):
    """Row name -> ns per iteration in each round that has it, from one bencher output a round."""
    out = {}
    for text in texts:
        for name, ns in parse_bencher(text).items():
            out.setdefault(name, []).append(ns)
    return out


def is_reference(name, names):
    """True for a forward row timed one packet at a time whose path `names` also times as a
    burst (see the module docs)."""
    return (name.startswith("forward/") and name.endswith("_batch32")
            and name[:-len("_batch32")] + "_burst32" in names)


def median(values):
    """The median of a non-empty list."""
    v = sorted(values)
    return (v[(len(v) - 1) // 2] + v[len(v) // 2]) / 2


def as_rounds(ns):
    """A row's figures as a list, one a round (`ns` is a number, a list, or None)."""
    return ns if ns is None or isinstance(ns, list) else [ns]


def path_rows(times):
    """The path rows of `times` (ns per iteration by row name: a number, or a list of one a
    round), in its order. With rounds, a row's figures are its best round's and
    `path_ns_median` the median of the rounds' path figures."""
    rows = []
    for name, ns in times.items():
        setup = setup_of(name)
        if setup is None:
            continue
        rounds = as_rounds(ns)
        setups = as_rounds(times.get(setup))
        whole = min(rounds) / PACKETS_PER_ROW
        setup_ns = None if setups is None else min(setups) / PACKETS_PER_ROW
        path = whole if setup_ns is None else whole - setup_ns
        per_round = [(w - s) / PACKETS_PER_ROW
                     for w, s in zip(rounds, setups or [0] * len(rounds))]
        rows.append({
            "path": name,
            "ns_per_packet": round(whole, 2),
            "setup_row": setup,
            "setup_ns_per_packet": None if setup_ns is None else round(setup_ns, 2),
            "path_ns": round(path, 2),
            "target_ns": TARGET_NS,
            "met": path <= TARGET_NS,
            "reference": is_reference(name, times),
            "rounds": len(rounds),
            "path_ns_median": round(median(per_round), 2),
        })
    return rows


def text_table(header, lines):
    """`lines` (tuples of strings) under `header`, in columns separated by " | "."""
    widths = [max(len(h), *(len(l[i]) for l in lines)) for i, h in enumerate(header)]
    out = [" | ".join(h.ljust(w) for h, w in zip(header, widths)),
           "-|-".join("-" * w for w in widths)]
    out += [" | ".join(c.ljust(w) for c, w in zip(l, widths)) for l in lines]
    return "\n".join(out)


def table(rows):
    """The rows as a text table."""
    header = ("path (criterion, 32 packets per row)", "ns/pkt", "set-up ns", "path ns",
              f"≤ {TARGET_NS:.0f} ns")
    lines = [(r["path"], f"{r['ns_per_packet']:.1f}",
              "-" if r["setup_ns_per_packet"] is None else f"{r['setup_ns_per_packet']:.1f}",
              f"{r['path_ns']:.1f}",
              ("ref " if r.get("reference") else "") + ("yes" if r["met"] else "NO"))
             for r in rows]
    counted = [r for r in rows if not r.get("reference")]
    met = sum(r["met"] for r in counted)
    refs = len(rows) - len(counted)
    note = (f"; {refs} reference rows (ref: one packet at a time, a path the worker runs as "
            "a burst) not counted" if refs else "")
    rounds = max((r.get("rounds", 1) for r in rows), default=1)
    if rounds == 1:
        return (text_table(header, lines) + f"\n\n{met} of {len(counted)} paths within "
                f"{TARGET_NS:.0f} ns (path = whole row − set-up row){note}")
    header = header[:4] + ("median path ns",) + header[4:]
    lines = [l[:4] + (f"{r['path_ns_median']:.1f}",) + l[4:] for l, r in zip(lines, rows)]
    met_median = sum(r["path_ns_median"] <= TARGET_NS for r in counted)
    return (text_table(header, lines) + f"\n\n{met} of {len(counted)} paths within "
            f"{TARGET_NS:.0f} ns in their best of {rounds} rounds, {met_median} in the median "
            f"(path = whole row − set-up row){note}")


def svg(rows, caption):
    """A horizontal bar chart of the path ns (set-up stacked after it) with the target line."""
    if not rows:
        return ""
    L, R, T, bar, gap = 290, 40, 40, 14, 6
    W = 900
    top = max([r["ns_per_packet"] for r in rows] + [TARGET_NS]) * 1.05
    H = T + len(rows) * (bar + gap) + 50
    x = lambda v: L + (W - L - R) * v / top
    out = [f'<svg xmlns="http://www.w3.org/2000/svg" width="{W}" height="{H}" '
           f'font-family="sans-serif" font-size="11">',
           f'<rect width="{W}" height="{H}" fill="white"/>',
           f'<text x="10" y="20" font-size="13">anycastd per-packet paths, criterion: ns per '
           f'packet (dark: the path, grey for a reference row; light: the bench\'s '
           f'set-up)</text>']
    for i, r in enumerate(rows):
        y = T + i * (bar + gap)
        path = max(r["path_ns"], 0.0)
        color = "#a0aec0" if r.get("reference") else "#2b6cb0" if r["met"] else "#c53030"
        out.append(f'<text x="{L - 6}" y="{y + bar - 3}" text-anchor="end">'
                   f'{escape(r["path"])}</text>')
        out.append(f'<rect x="{L}" y="{y}" width="{x(path) - L:.1f}" height="{bar}" '
                   f'fill="{color}"/>')
        if r["setup_ns_per_packet"]:
            out.append(f'<rect x="{x(path):.1f}" y="{y}" '
                       f'width="{x(r["ns_per_packet"]) - x(path):.1f}" height="{bar}" '
                       f'fill="#cbd5e0"/>')
        out.append(f'<text x="{x(r["ns_per_packet"]) + 4:.1f}" y="{y + bar - 3}">'
                   f'{r["path_ns"]:.1f}</text>')
    bottom = T + len(rows) * (bar + gap)
    out.append(f'<line x1="{x(TARGET_NS):.1f}" x2="{x(TARGET_NS):.1f}" y1="{T - 6}" '
               f'y2="{bottom}" stroke="#c53030" stroke-dasharray="4 3"/>')
    out.append(f'<text x="{x(TARGET_NS):.1f}" y="{bottom + 14}" text-anchor="middle" '
               f'fill="#c53030">{TARGET_NS:.0f} ns target</text>')
    out.append(f'<text x="10" y="{H - 10}" fill="#555">{escape(caption)}</text>')
    out.append("</svg>")
    return "\n".join(out) + "\n"


def cargo_bench(args, progress=False):
    """Runs the benches with criterion arguments `args`; their stdout. With `progress`, each
    row's figure goes to stderr as it comes (a full run takes minutes)."""
    cmd = ["cargo", "bench", "-p", "anycastd"]
    for b in BENCHES:
        cmd += ["--bench", b]
    cmd += ["--"] + args
    out = []
    with subprocess.Popen(cmd, stdout=subprocess.PIPE, text=True) as proc:
        for line in proc.stdout:
            out.append(line)
            row = bench_line(line) if progress else None
            if row:
                print(f"  {row[0]}: {row[1] / PACKETS_PER_ROW:.1f} ns/packet", file=sys.stderr,
                      flush=True)
    if proc.returncode != 0:
        sys.exit(f"bench/paths.py: {' '.join(cmd)} failed (exit {proc.returncode})")
    return "".join(out)


def smoke():
    """Every bench once (their own checks), and every row known to the rules above."""
    cargo_bench(["--test"])
    listed = [line.split(": ")[0] for line in cargo_bench(["--list"]).splitlines()
              if line.endswith(": benchmark")]
    unknown, paths = [], 0
    for name in listed:
        try:
            setup = setup_of(name)
        except KeyError as e:
            unknown.append(str(e))
            continue
        if setup is not None:
            paths += 1
            if setup not in listed:
                unknown.append(f"bench row '{name}': its set-up row '{setup}' does not exist")
    if unknown or paths == 0:
        sys.exit("bench/paths.py --smoke FAILED:\n  " + "\n  ".join(unknown or ["no path rows"]))
    print(f"bench/paths.py --smoke: every bench ran its checks; {paths} path rows of "
          f"{len(listed)} rows, each with its set-up row")


def seconds(v):
    """A positive number of seconds, for argparse."""
    if not re.fullmatch(r"\d+(\.\d+)?", v) or float(v) <= 0:
        raise argparse.ArgumentTypeError(f"must be a positive number of seconds, not '{v}'")
    return v


def round_progress(done, rounds, started, now=None):
    """", T elapsed, about U left" before round `done + 1` of `rounds` (the estimate from the
    rounds done since `started`, a time.monotonic() reading); "" before the first."""
    if done == 0:
        return ""
    spent = int((time.monotonic() if now is None else now) - started)
    left = -(-spent * (rounds - done) // done)
    return (f", {spent // 60}:{spent % 60:02d} elapsed, "
            f"about {left // 60}:{left % 60:02d} left")


def main(argv):
    ap = argparse.ArgumentParser(prog="bench/paths.py", description=__doc__.split("\n")[0])
    ap.add_argument("--warm-up", type=seconds, default="1", help="criterion warm-up, s")
    ap.add_argument("--measure", type=seconds, default="2", help="criterion measurement, s")
    ap.add_argument("--rounds", type=int, default=1, help="run the benches N times")
    ap.add_argument("--from", dest="sources", action="append",
                    help="read bencher output from FILE (a round each)")
    ap.add_argument("--out", help="write the rows as JSON lines")
    ap.add_argument("--svg", help="write a bar chart")
    ap.add_argument("--quiet", action="store_true", help="print no table")
    ap.add_argument("--smoke", action="store_true", help="run each bench once, check names")
    ap.add_argument("filter", nargs="*", help="criterion's row filter")
    a = ap.parse_args(argv)
    if a.smoke:
        return smoke()
    if a.rounds < 1:
        sys.exit(f"bench/paths.py: --rounds must be at least 1, not {a.rounds}")
    # The output files are opened before the rounds: one that cannot be written is found now,
    # not after minutes of benches.
    outputs = {}
    for name, path in (("out", a.out), ("svg", a.svg)):
        if path:
            try:
                outputs[name] = open(path, "w")
            except OSError as e:
                sys.exit(f"bench/paths.py: cannot write --{name} {path}: {e.strerror}")
    if a.sources:
        texts = [open(f).read() for f in a.sources]
    else:
        texts = []
        started = time.monotonic()
        for r in range(a.rounds):
            if a.rounds > 1:
                print(f"== round {r + 1} of {a.rounds}{round_progress(r, a.rounds, started)}",
                      file=sys.stderr, flush=True)
            texts.append(cargo_bench(["--warm-up-time", a.warm_up, "--measurement-time",
                                      a.measure, "--output-format", "bencher"] + a.filter,
                                     progress=True))
    rows = path_rows(parse_rounds(texts))
    if not rows:
        sys.exit("bench/paths.py: no path rows in the benches' output")
    if not a.quiet:
        print(table(rows))
    if "out" in outputs:
        with outputs["out"] as f:
            f.writelines(json.dumps(r) + "\n" for r in rows)
    if "svg" in outputs:
        with outputs["svg"] as f:
            rounds = len(texts)
            f.write(svg(rows, f"criterion --warm-up-time {a.warm_up} "
                              f"--measurement-time {a.measure}"
                              + (f", best of {rounds} rounds" if rounds > 1 else "")))


if __name__ == "__main__":
    main(sys.argv[1:])
