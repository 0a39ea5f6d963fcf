#!/usr/bin/python3
"""Tests of bench/instructions.py's reading of callgrind output (python3 bench/test_instructions.py)."""
import os
import sys
import unittest

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import instructions  # noqa: E402

# A callgrind file as `--dump-instr=yes` writes it (positions `instr line`, relative
# addresses, names given once and then by number, a call's inclusive cost after `calls=`).
OUTPUT = """\
# callgrind format
version: 1
positions: instr line
events: Ir
summary: 1250000

ob=(1) /work/main/target/release/examples/path_instructions
fl=(1) dataplane/src/answer/dns/mod.rs
fn=(7) dataplane::answer::dns::DnsService::try_fast
0x14b4c0 153 100000
+1 * 100000
+2 * 200000
cfl=(2) dataplane/src/packet/checksum.rs
cfn=(8) dataplane::packet::checksum::add_long
calls=100000 0x998d0 71
+5 * 900000
+4 154 100000
fn=(8)
0x998d0 71 100000
+2 * 300000
fn=(7)
0x14b4d0 160 50000
cob=(2) /usr/lib/x86_64-linux-gnu/libc.so.6
cfn=(9) __memcpy_avx_unaligned_erms
calls=100000 0x1a0e00 0
+3 * 2100000
ob=(2)
fn=(9)
0x1a0e00 0 100000
+4 * 100000
ob=(1)
fn=(7)
0x14b4d8 161 100000
"""


class Callgrind(unittest.TestCase):
    def test_summary_is_the_total(self):
        self.assertEqual(instructions.summary(OUTPUT), 1250000)
        self.assertEqual(instructions.summary("events: Ir\ntotals: 42\n"), 42)
        with self.assertRaises(ValueError):
            instructions.summary("events: Ir\n")

    def test_self_counts_per_instruction_without_the_calls_cost(self):
        counts = instructions.per_instruction(OUTPUT)
        fast = "dataplane::answer::dns::DnsService::try_fast"
        add = "dataplane::packet::checksum::add_long"
        memcpy = "__memcpy_avx_unaligned_erms"
        example = "/work/main/target/release/examples/path_instructions"
        libc = "/usr/lib/x86_64-linux-gnu/libc.so.6"
        self.assertEqual(counts[(0x14b4c0, fast, example)], 100000)
        self.assertEqual(counts[(0x14b4c1, fast, example)], 100000)
        self.assertEqual(counts[(0x14b4c3, fast, example)], 200000)
        # The call at +5 is the callee's inclusive cost: not the caller's own.
        self.assertNotIn((0x14b4c8, fast, example), counts)
        self.assertEqual(counts[(0x14b4cc, fast, example)], 100000)
        # A function named by number only, after its name was given in a `cfn=` line.
        self.assertEqual(counts[(0x998d0, add, example)], 100000)
        self.assertEqual(counts[(0x998d2, add, example)], 300000)
        # Back in the first function: an absolute address again.
        self.assertEqual(counts[(0x14b4d0, fast, example)], 50000)
        # A call into another object (`cob=`) is skipped; its function's own lines are that
        # object's (`ob=` by number), and the example's again after `ob=(1)`.
        self.assertNotIn((0x14b4d3, fast, example), counts)
        self.assertEqual(counts[(0x1a0e00, memcpy, libc)], 100000)
        self.assertEqual(counts[(0x1a0e04, memcpy, libc)], 100000)
        self.assertEqual(counts[(0x14b4d8, fast, example)], 100000)
        self.assertEqual(sum(counts.values()), 1250000)

    def test_ranges_join_nearby_addresses(self):
        self.assertEqual(instructions.ranges([1, 5, 100, 9000, 9001]),
                         [(1, 100), (9000, 9001)])
        self.assertEqual(instructions.ranges([]), [])


if __name__ == "__main__":
    unittest.main()
