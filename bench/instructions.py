#!/usr/bin/python3
"""bench/instructions.py: instructions per packet of the per-packet paths, counted by callgrind.

usage: instructions.py [--no-build] [PATH...]
       instructions.py [--no-build] --listing PATH [--function TEXT] [--min N]

Runs `dataplane/examples/path_instructions` under `valgrind --tool=callgrind` (collection on
only while it handles its 100,000 measured packets) and prints, for each path (every path the
example lists without arguments), the instructions per packet of the whole loop, of the loop
that only restores the frame (`reset_only`, or `reset_only_too_big` for the 1514-byte frame),
and of the path alone (the difference). Unlike criterion's times these counts do not depend on
how busy the machine is; on the AMD EPYC VM here the uncached DNS paths took 0.070-0.076 ns per
instruction, so about 700 instructions is what the 50 ns target allows. The DNS name table's
hash seed is random per process, so counts of lookups vary by a few instructions between runs.

--listing PATH prints where the instructions of one path go: every executed machine
instruction with its count per packet, its source line, and the total per function
(callgrind's --dump-instr=yes joined to `objdump -d -l`). --function keeps the functions whose
name contains TEXT; --min hides instructions executed fewer than N times per packet.

Needs valgrind (apt install valgrind) and objdump (binutils). Standard library only.
"""
import argparse
import collections
import os
import re
import shutil
import signal
import subprocess
import sys
import tempfile

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
EXAMPLE = os.path.join(ROOT, "target", "release", "examples", "path_instructions")
PACKETS = 100_000
POSITION = re.compile(r"^(0x[0-9a-f]+|[+-]\d+|\*)\s+(\S+)\s+(\d+)$")
NAMED = re.compile(r"^c?fn=\((\d+)\)(?: (.*))?$")
OBJECT = re.compile(r"^c?ob=\((\d+)\)(?: (.*))?$")


def summary(text):
    """The total event count of a callgrind output file (its `summary:` or `totals:` line)."""
    for line in text.splitlines():
        if line.startswith(("summary:", "totals:")):
            return int(line.split()[1])
    raise ValueError("no summary line in the callgrind output")


def per_instruction(text):
    """(address, function, object) -> self count, from a callgrind file written with
    --dump-instr=yes (positions `instr line`). Costs of calls (the line after `calls=`) are
    the callee's, not the caller's own, and are skipped. Addresses are within their object
    (the example, or a shared library such as libc)."""
    # Functions and objects are named once, then by number; `cfn=`/`cob=` name a call's
    # callee, `fn=`/`ob=` what the following lines are in.
    names = {"fn=": {}, "ob=": {}}
    current = {"fn=": "?", "ob=": "?"}
    counts, address, after_call = collections.Counter(), 0, False
    for line in text.splitlines():
        named = NAMED.match(line) or OBJECT.match(line)
        if named:
            kind = line.lstrip("c")[:3]
            if named.group(2):
                names[kind][named.group(1)] = named.group(2)
            if not line.startswith("c"):
                current[kind] = names[kind].get(named.group(1), "?")
            continue
        if line.startswith(("cfi=", "cfl=")):
            continue
        if line.startswith("calls="):
            after_call = True
            continue
        position = POSITION.match(line)
        if not position:
            continue
        a = position.group(1)
        if a.startswith("0x"):
            address = int(a, 16)
        elif a != "*":
            address += int(a)
        if after_call:
            after_call = False
            continue
        counts[(address, current["fn="], current["ob="])] += int(position.group(3))
    return counts


def callgrind(path, dump_instr=False):
    """The callgrind output file's text for one run of the example on `path`."""
    with tempfile.TemporaryDirectory() as tmp:
        out = os.path.join(tmp, "callgrind.out")
        cmd = ["valgrind", "--tool=callgrind", f"--callgrind-out-file={out}",
               "--toggle-collect=path_instructions::measure*"]
        if dump_instr:
            cmd.append("--dump-instr=yes")
        run = subprocess.run(cmd + [EXAMPLE, path], capture_output=True, text=True)
        if run.returncode != 0:
            sys.exit(f"instructions.py: {path}: the example failed:\n{run.stderr[-2000:]}")
        with open(out) as f:
            return f.read()


def per_packet(path):
    """Instructions per measured packet of `path`."""
    return summary(callgrind(path)) / PACKETS


def listing(path, function, minimum):
    """Lines of the per-instruction profile of `path` (see the module's doc). Instructions of
    other objects than the example (libc's memcpy) count in their function's total but are not
    listed: their addresses are not the example's."""
    counts = per_instruction(callgrind(path, dump_instr=True))
    counts = {k: v / PACKETS for k, v in counts.items()
              if function in k[1] and v / PACKETS >= minimum}
    if not counts:
        sys.exit(f"instructions.py: no instructions of a function matching '{function}'"
                 + (f" executed at least {minimum:g} times a packet (most run once)"
                    if minimum > 0 else ""))
    by_function = collections.Counter()
    for (_, name, obj), n in counts.items():
        by_function[name if obj in ("?", EXAMPLE) else f"{name} ({os.path.basename(obj)})"] += n
    lines = [f"{n:9.1f}  {name}" for name, n in by_function.most_common()]
    lines.append("")
    own = {address: n for (address, _, obj), n in counts.items() if obj in ("?", EXAMPLE)}
    for lo, hi in ranges(sorted(own)):
        dis = subprocess.run(["objdump", "-d", "-l", "-C", "--no-show-raw-insn",
                              f"--start-address={lo}", f"--stop-address={hi + 1}", EXAMPLE],
                             capture_output=True, text=True).stdout
        source = ""
        for text in dis.splitlines():
            m = re.match(r"^\s*([0-9a-f]+):\s*(.*)", text)
            if m and int(m.group(1), 16) in own:
                lines.append(f"{own[int(m.group(1), 16)]:7.1f} {m.group(1)}  "
                             f"{m.group(2)[:64]:64s} {source}")
            elif text.startswith("/"):
                source = text.rsplit("/", 1)[-1]
    return lines


def ranges(addresses, gap=4096):
    """Runs of sorted `addresses` no more than `gap` bytes apart, as (first, last)."""
    out = []
    for a in addresses:
        if out and a - out[-1][1] <= gap:
            out[-1][1] = a
        else:
            out.append([a, a])
    return [tuple(r) for r in out]


def build():
    """Builds the example (release, as the benches)."""
    subprocess.run(["cargo", "build", "--quiet", "--release", "-p", "anycastd", "--example",
                    "path_instructions"], cwd=ROOT, check=True)


def main():
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("paths", nargs="*", metavar="PATH")
    ap.add_argument("--no-build", action="store_true", help="use the example as built")
    ap.add_argument("--listing", metavar="PATH", help="per-instruction profile of one path")
    ap.add_argument("--function", default="", metavar="TEXT")
    ap.add_argument("--min", type=float, default=0.0, metavar="N")
    args = ap.parse_args()
    signal.signal(signal.SIGPIPE, signal.SIG_DFL)  # `| head` ends the listing quietly
    for tool in ("valgrind", "objdump") if args.listing else ("valgrind",):
        if shutil.which(tool) is None:
            sys.exit(f"instructions.py: {tool} not found (apt install "
                     f"{'valgrind' if tool == 'valgrind' else 'binutils'})")
    if not args.no_build:
        build()
    if args.listing:
        print("\n".join(listing(args.listing, args.function, args.min)))
        return
    known = dict(line.split() for line in subprocess.run(
        [EXAMPLE, "--list"], capture_output=True, text=True, check=True).stdout.splitlines())
    unknown = [p for p in args.paths if p not in known]
    if unknown:
        sys.exit(f"instructions.py: unknown path(s) {' '.join(unknown)}; paths: "
                 f"{' '.join(known)}")
    resets = {}
    print(f"{'path':28s} {'instructions':>12s} {'restore':>8s} {'path alone':>10s}")
    for path in args.paths or list(known):
        reset = known[path]
        if reset not in resets:
            resets[reset] = per_packet(reset)
        whole = per_packet(path)
        print(f"{path:28s} {whole:12.1f} {resets[reset]:8.1f} {whole - resets[reset]:10.1f}",
              flush=True)


if __name__ == "__main__":
    main()
