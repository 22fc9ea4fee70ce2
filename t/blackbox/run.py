#!/usr/bin/env python3
"""Runs the black-box tests (t/blackbox/test_*.py) against a shoald binary.

    python3 t/blackbox/run.py --shoald build/shoald [--sanitized] [-k PATTERN]
"""

import argparse
import os
import sys
import time
import unittest


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--shoald", default="build/shoald")
    ap.add_argument("--sanitized", action="store_true",
                    help="the binary has ASan/UBSan: allow for slowness")
    ap.add_argument("-k", dest="pattern", action="append", default=[],
                    help="only tests whose name contains PATTERN")
    ap.add_argument("-v", dest="verbose", action="store_true")
    args = ap.parse_args()

    here = os.path.dirname(os.path.abspath(__file__))
    os.environ["SHOALD"] = os.path.abspath(args.shoald)
    if args.sanitized:
        os.environ["SHOAL_SANITIZED"] = "1"
    if not os.access(os.environ["SHOALD"], os.X_OK):
        sys.exit("run.py: %s is not an executable" % args.shoald)
    sys.path.insert(0, here)
    suite = unittest.defaultTestLoader.discover(here, pattern="test_*.py",
                                                top_level_dir=here)
    if args.pattern:
        def keep(s):
            out = unittest.TestSuite()
            for t in s:
                if isinstance(t, unittest.TestSuite):
                    out.addTests(keep(t))
                elif any(p in t.id() for p in args.pattern):
                    out.addTest(t)
            return out
        suite = keep(suite)
    start = time.time()
    result = unittest.TextTestRunner(verbosity=2 if args.verbose else 1,
                                     stream=sys.stdout).run(suite)
    print("black-box: %d tests in %.1fs (%s)" % (
        result.testsRun, time.time() - start, os.environ["SHOALD"]))
    sys.exit(0 if result.wasSuccessful() else 1)


if __name__ == "__main__":
    main()
