#!/usr/bin/python3
"""Tests of bench/paths.py's parsing and set-up matching (python3 bench/test_paths.py)."""
import os
import sys
import unittest
import xml.etree.ElementTree as ET

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import paths  # noqa: E402

# Criterion's bencher lines as the benches print them, with the noise around them.
OUTPUT = """\
Gnuplot not found, using plotters backend
test answer/icmp_echo_64B_x32 ... bench:         640 ns/iter (+/- 6)
test answer/icmp_echo_64B_x32/reset_only ... bench:         96 ns/iter (+/- 2)
test forward/reset_only_batch32 ... bench:         160 ns/iter (+/- 3)
test forward/flow_hit_ipip_burst32 ... bench:       1,024 ns/iter (+/- 9)
test forward/new_flow_reset_only_batch32 ... bench:         448 ns/iter (+/- 4)
test forward/new_flow_reset_only_burst32 ... bench:         384 ns/iter (+/- 4)
test forward/stateless_maglev_ipip_batch32 ... bench:       1344 ns/iter (+/- 20)
test forward/new_flow_ipip_table64k_burst32 ... bench:       2400 ns/iter (+/- 50)
test maglev/build_m65537_n1000 ... bench:     2000000 ns/iter (+/- 900)
test dns_query/a_hit ... bench:        2304 ns/iter (+/- 12)
test dns_query/reset_only ... bench:        128 ns/iter (+/- 1)
test dns_query/random_nxdomain/cached ... bench:        4000 ns/iter (+/- 30)
test dns_query/random_nxdomain/reset_only ... bench:        352 ns/iter (+/- 3)
test dns_query/referral ... bench:        3200 ns/iter (+/- 20)
"""


class Paths(unittest.TestCase):
    def setUp(self):
        self.rows = {r["path"]: r for r in paths.path_rows(paths.parse_bencher(OUTPUT))}

    def test_round_progress_estimates_from_the_rounds_done(self):
        self.assertEqual(paths.round_progress(0, 3, 100.0, now=100.0), "")
        # One round of 250 s done, two to go.
        self.assertEqual(paths.round_progress(1, 3, 100.0, now=350.0),
                         ", 4:10 elapsed, about 8:20 left")
        self.assertEqual(paths.round_progress(2, 3, 100.0, now=601.0),
                         ", 8:21 elapsed, about 4:11 left")

    def test_an_output_that_cannot_be_written_is_refused_before_any_round(self):
        with self.assertRaises(SystemExit) as e:
            paths.main(["--rounds", "3", "--out", "/proc/no/such/dir/rows.jsonl"])
        self.assertIn("cannot write --out /proc/no/such/dir/rows.jsonl", str(e.exception))

    def test_parses_every_bencher_line_and_nothing_else(self):
        times = paths.parse_bencher(OUTPUT)
        self.assertEqual(len(times), 14)
        self.assertEqual(times["forward/flow_hit_ipip_burst32"], 1024.0)

    def test_setup_and_table_build_rows_are_not_paths(self):
        self.assertEqual(sorted(self.rows), [
            "answer/icmp_echo_64B_x32",
            "dns_query/a_hit",
            "dns_query/random_nxdomain/cached",
            "dns_query/referral",
            "forward/flow_hit_ipip_burst32",
            "forward/new_flow_ipip_table64k_burst32",
            "forward/stateless_maglev_ipip_batch32",
        ])

    def test_each_path_subtracts_its_own_setup_row(self):
        expect = {
            "answer/icmp_echo_64B_x32": ("answer/icmp_echo_64B_x32/reset_only", 20.0, 17.0),
            "forward/flow_hit_ipip_burst32": ("forward/reset_only_batch32", 32.0, 27.0),
            "forward/stateless_maglev_ipip_batch32": ("forward/new_flow_reset_only_batch32",
                                                      42.0, 28.0),
            "forward/new_flow_ipip_table64k_burst32": ("forward/new_flow_reset_only_burst32",
                                                       75.0, 63.0),
            "dns_query/a_hit": ("dns_query/reset_only", 72.0, 68.0),
            "dns_query/random_nxdomain/cached": ("dns_query/random_nxdomain/reset_only",
                                                 125.0, 114.0),
        }
        for name, (setup, whole, path) in expect.items():
            r = self.rows[name]
            self.assertEqual((r["setup_row"], r["ns_per_packet"], r["path_ns"]),
                             (setup, whole, path), name)

    def test_target_is_judged_on_the_path_alone(self):
        self.assertTrue(self.rows["forward/stateless_maglev_ipip_batch32"]["met"])
        self.assertFalse(self.rows["dns_query/a_hit"]["met"])
        self.assertFalse(self.rows["forward/new_flow_ipip_table64k_burst32"]["met"])

    def test_a_missing_setup_row_leaves_the_whole_row(self):
        self.assertEqual(self.rows["dns_query/referral"]["path_ns"], 96.0)
        only = paths.path_rows(paths.parse_bencher(
            "test dns_query/referral ... bench:        3200 ns/iter (+/- 20)"))
        self.assertEqual((only[0]["setup_ns_per_packet"], only[0]["path_ns"]), (None, 100.0))

    def test_rows_with_their_own_setup_rows(self):
        self.assertEqual(paths.setup_of("pipeline/l2dsr_hit_x32"),
                         "pipeline/l2dsr_hit_x32/reset_only")
        self.assertEqual(paths.setup_of("forward/flow_hit_ipip_table1m_burst32"),
                         "forward/new_flow_reset_only_burst32")
        self.assertEqual(paths.setup_of("forward/flow_hit_ipip_burst32"),
                         "forward/reset_only_batch32")
        self.assertEqual(paths.setup_of("dns_query/a_hit/pipeline_cached"),
                         "dns_query/reset_only")

    def test_an_unknown_row_is_an_error_naming_it(self):
        with self.assertRaisesRegex(KeyError, "forward/teleport_x32"):
            paths.setup_of("forward/teleport_x32")

    def test_table_and_svg(self):
        rows = list(self.rows.values())
        text = paths.table(rows)
        self.assertIn("3 of 7 paths within 50 ns", text)
        self.assertNotIn("reference", text)
        root = ET.fromstring(paths.svg(rows, "machine"))
        bars = [e for e in root.iter("{http://www.w3.org/2000/svg}rect")
                if e.get("fill") in ("#2b6cb0", "#c53030", "#a0aec0")]
        self.assertEqual(len(bars), len(rows))

    def test_rounds_take_each_rows_best_and_report_the_median(self):
        slow = OUTPUT.replace("2304 ns/iter", "4000 ns/iter").replace(
            "128 ns/iter", "160 ns/iter")
        fast = OUTPUT.replace("2304 ns/iter", "1504 ns/iter")
        rows = {r["path"]: r for r in paths.path_rows(paths.parse_rounds([slow, OUTPUT, fast]))}
        a = rows["dns_query/a_hit"]
        # Best whole row 1504 / 32 = 47, best set-up 128 / 32 = 4; per round 120, 68, 43.
        self.assertEqual((a["ns_per_packet"], a["setup_ns_per_packet"], a["path_ns"]),
                         (47.0, 4.0, 43.0))
        self.assertEqual((a["rounds"], a["path_ns_median"], a["met"]), (3, 68.0, True))
        text = paths.table(list(rows.values()))
        self.assertIn("4 of 7 paths within 50 ns in their best of 3 rounds, 3 in the median",
                      text)
        self.assertIn("median path ns", text)
        # One round: the figures as before, and no median column.
        one = paths.path_rows(paths.parse_rounds([OUTPUT]))
        self.assertEqual(one, paths.path_rows(paths.parse_bencher(OUTPUT)))
        self.assertNotIn("median", paths.table(one))

    def test_a_batch_row_with_a_burst_twin_is_a_reference_row_and_not_counted(self):
        both = OUTPUT + ("test forward/new_flow_ipip_table64k_batch32 ... bench:       3200 "
                         "ns/iter (+/- 50)\n")
        rows = {r["path"]: r for r in paths.path_rows(paths.parse_bencher(both))}
        ref = rows["forward/new_flow_ipip_table64k_batch32"]
        self.assertEqual((ref["reference"], ref["met"]), (True, False))
        # Its burst twin, and a batch row without one, are paths.
        self.assertFalse(rows["forward/new_flow_ipip_table64k_burst32"]["reference"])
        self.assertFalse(rows["forward/stateless_maglev_ipip_batch32"]["reference"])
        self.assertFalse(rows["dns_query/a_hit"]["reference"])
        text = paths.table(list(rows.values()))
        self.assertIn("3 of 7 paths within 50 ns", text)
        self.assertIn("1 reference rows", text)
        self.assertIn("ref NO", text)


if __name__ == "__main__":
    unittest.main()
