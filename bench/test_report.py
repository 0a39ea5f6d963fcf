#!/usr/bin/python3
"""Tests of bench/report.py's rows: the DUT's busy share, the notes on rounds the generator
paced and on runs whose rounds ran at different speeds (python3 bench/test_report.py)."""
import os
import sys
import unittest

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import report  # noqa: E402

HZ = 2_000_000_000


def run(dut, mpps, cycles, profile="dns"):
    """A round as bench/run writes it (the fields the report reads)."""
    return {"profile": profile, "dut": dut, "answered_mpps": mpps, "offered_mpps": mpps,
            "loss": 0.0, "p50_us": 1.0, "p99_us": 2.0, "sent": 1, "received": 1,
            "validated": 1, "errors": 0, "first_errors": [], "size": 64, "tsc_hz": HZ,
            "dut_cycles_per_packet": cycles}


class BusyShare(unittest.TestCase):
    def test_cycles_times_rate_over_the_clock(self):
        # 100 cycles a packet at 10 Mpps on a 2 GHz clock: half the core.
        self.assertEqual(report.busy_share(run("testpmd", 10.0, 100.0)), 0.5)
        self.assertEqual(report.busy_share(run("anycastd", 5.0, 390.0)), 0.975)

    def test_unknown_without_cycles_or_clock(self):
        self.assertIsNone(report.busy_share(run("testpmd", 10.0, None)))
        r = run("testpmd", 10.0, 100.0)
        del r["tsc_hz"]
        self.assertIsNone(report.busy_share(r))


class PaceNotes(unittest.TestCase):
    def rows(self, testpmd_rounds):
        runs = [run("testpmd", m, c) for m, c in testpmd_rounds]
        runs.append(run("anycastd", 8.0, 240.0))
        return report.aggregate(runs)

    def test_a_waiting_testpmd_best_round_is_noted(self):
        # The best round (10 Mpps) kept testpmd half busy; the slow one saturated it.
        rows = self.rows([(10.0, 100.0), (4.0, 480.0)])
        testpmd = next(r for r in rows if r["dut"] == "testpmd")
        self.assertEqual(testpmd["best_round_dut_busy"], 0.5)
        self.assertEqual(testpmd["dut_busy"], 0.73)
        notes = report.pace_notes(rows)
        self.assertEqual(len(notes), 1)
        self.assertIn("dns: testpmd's best round kept its core 50% busy", notes[0])

    def test_a_saturated_testpmd_best_round_is_not(self):
        rows = self.rows([(10.0, 190.0), (4.0, 480.0)])
        self.assertEqual(report.pace_notes(rows), [])

    def test_ratios_are_to_testpmd(self):
        rows = self.rows([(10.0, 190.0), (4.0, 480.0)])
        anycastd = next(r for r in rows if r["dut"] == "anycastd")
        self.assertEqual(anycastd["best_ratio_to_testpmd"], 0.8)
        self.assertEqual(anycastd["ratio_to_testpmd"], round(8.0 / 7.0, 3))


class SpeedNotes(unittest.TestCase):
    def test_rounds_at_two_speeds_are_noted(self):
        # testpmd's rounds 186 and 613 cycles a packet: the host changed speed.
        rows = report.aggregate([run("testpmd", 12.7, 186.0), run("testpmd", 4.1, 613.0),
                                 run("anycastd", 10.9, 229.0), run("anycastd", 7.4, 340.0)])
        notes = report.speed_notes(rows)
        self.assertEqual(len(notes), 1)
        self.assertIn("dns: rounds ran at 186–613 (testpmd) and 229–340 (anycastd) cycles a "
                      "packet", notes[0])
        self.assertIn(notes[0], report.profile_table(rows))

    def test_steady_rounds_are_not(self):
        rows = report.aggregate([run("testpmd", 12.7, 186.0), run("testpmd", 12.0, 197.0),
                                 run("anycastd", 10.9, 229.0), run("anycastd", 10.1, 247.0),
                                 run("anycastd", 5.0, None, profile="icmp"),
                                 run("anycastd", 2.0, 800.0, profile="icmp")])
        self.assertEqual(report.speed_notes(rows), [])


if __name__ == "__main__":
    unittest.main()
