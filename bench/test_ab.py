#!/usr/bin/python3
"""Tests of bench/ab's summary and arguments (python3 bench/test_ab.py); its rounds are
bench/run's, tested by ci/bench-smoke."""
import argparse
import contextlib
import importlib.machinery
import importlib.util
import os
import tempfile
import unittest

HERE = os.path.dirname(os.path.abspath(__file__))
loader = importlib.machinery.SourceFileLoader("ab", os.path.join(HERE, "ab"))
spec = importlib.util.spec_from_loader("ab", loader)
ab = importlib.util.module_from_spec(spec)
loader.exec_module(ab)


def doc(cycles, mpps, errors=0, validated=1000):
    """A one-round bench/run JSON (the fields bench/ab reads)."""
    return {"runs": [{"dut_cycles_per_packet": cycles, "answered_mpps": mpps,
                      "errors": errors, "validated": validated}]}


class RoundsAndSummary(unittest.TestCase):
    def test_a_round_is_its_first_run(self):
        self.assertEqual(ab.round_result(doc(240.5, 10.2, 1, 500)), (240.5, 10.2, 1, 500))

    def test_cycles_sorted_with_min_median_best_and_wrong(self):
        rounds = [ab.round_result(d) for d in (doc(500.0, 4.0), doc(240.0, 10.5, 2),
                                               doc(250.0, 10.1))]
        self.assertEqual(ab.summary("A", rounds),
                         "A: cycles a packet 240.0 250.0 500.0 (min 240.0, median 250.0); "
                         "best 10.50 Mpps; 2/3000 wrong")

    def test_the_order_alternates(self):
        self.assertEqual([ab.round_order(n) for n in (1, 2, 3, 4)],
                         [("A", "B"), ("B", "A"), ("A", "B"), ("B", "A")])

    def test_a_clean_round_has_no_trouble(self):
        self.assertIsNone(ab.round_trouble(doc(240.5, 10.2), "log"))
        clean = doc(240.5, 10.2)
        clean["runs"][0]["dut_exit"] = 0
        self.assertIsNone(ab.round_trouble(clean, "log"))

    def test_a_failed_exit_or_missing_cycles_shows_the_log(self):
        log = "".join(f"line {i}\n" for i in range(20))
        failed = doc(240.5, 10.2)
        failed["runs"][0]["dut_exit"] = 139
        text = ab.round_trouble(failed, log)
        self.assertIn("the DUT exited with 139", text)
        self.assertIn("line 19", text)
        self.assertNotIn("line 4\n", text)
        text = ab.round_trouble(doc(None, 9.1), log)
        self.assertIn("no exit summary", text)

    def test_rounds_without_cycles(self):
        self.assertEqual(ab.summary("B", [ab.round_result(doc(None, 3.0))]),
                         "B: no cycles reported; best 3.00 Mpps; 0/1000 wrong")


class Arguments(unittest.TestCase):
    def test_defaults_and_absolute_paths(self):
        args = ab.parse_args(["/bin/true", "/bin/sh"])
        self.assertEqual((args.profile, args.rounds, args.seconds), ("dns", 4, "3"))
        self.assertEqual((args.a, args.b), ("/bin/true", "/bin/sh"))

    def test_bad_values_are_refused(self):
        with tempfile.NamedTemporaryFile() as not_executable:
            for argv in (["/nonexistent", "/bin/true"], [not_executable.name, "/bin/true"],
                         ["--rounds", "0", "/bin/true", "/bin/true"],
                         ["--seconds", "x", "/bin/true", "/bin/true"],
                         ["--profile", "http", "/bin/true", "/bin/true"]):
                with self.subTest(argv=argv):
                    with self.assertRaises(SystemExit) as e:
                        with open(os.devnull, "w") as null, contextlib.redirect_stderr(null):
                            ab.parse_args(argv)
                    self.assertEqual(e.exception.code, 2)

    def test_rounds(self):
        self.assertEqual(ab.rounds("12"), 12)
        with self.assertRaises(argparse.ArgumentTypeError):
            ab.rounds("-1")


if __name__ == "__main__":
    unittest.main()
