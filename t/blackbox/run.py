#!/usr/bin/env python3
"""Runs the black-box tests (t/blackbox/test_*.py) against a shoald binary.

    python3 t/blackbox/run.py --shoald build/shoald [--sanitized] [-k PATTERN]
    python3 t/blackbox/run.py --shoald build/vg/shoald --valgrind [DIR]

With --valgrind every shoald runs under valgrind memcheck (see memcheck.py)
and writes DIR/vg.PID.log (default build/vg/log); the run fails when any
log shows a memory error or a definite leak.
"""

import argparse
import os
import sys
import time
import unittest

# Tests that cannot mean anything under valgrind, with the reason.
VALGRIND_SKIPS = {
    "test_thousand_idle_and_slow_header_clients_do_not_delay_others":
        "it measures the worker's RSS per connection, which valgrind's "
        "shadow memory swamps",
    # Gossip among several nodes runs 50 ms rounds with 1 s timeouts, which
    # hold under the sanitizers (4 times slower) but not under valgrind's
    # twentyfold slowdown: every member would be suspected of everyone. The
    # gossip requests of test_cluster.GossipBadInputTest (one node) run.
    "test_sixteen_nodes_find_each_other_and_follow_every_change":
        "sixteen gossiping nodes under valgrind miss their own timeouts",
    "test_a_seed_down_at_start_is_joined_when_it_comes_up":
        "gossip timeouts (see above)",
    "test_a_restarted_node_rejoins_through_the_members_it_knew":
        "gossip timeouts (see above)",
    "test_members_are_asked_on_a_miss":
        "gossip timeouts (see above)",
    "test_a_split_cluster_merges_again_when_the_network_heals":
        "gossip timeouts (see above)",
    "test_files_in_root_are_catalogued_everywhere_and_follow_changes":
        "gossip timeouts (see above)",
    "test_replicas_are_pulled_and_come_back_after_the_origin_dies":
        "gossip timeouts (see above)",
    "test_two_nodes_with_different_bytes_for_one_name_keep_both":
        "gossip timeouts (see above)",
    "test_bytes_that_are_not_the_version_are_discarded":
        "gossip timeouts (see above)",
    "test_a_new_version_is_pulled_at_once_in_a_large_catalogue":
        "gossip timeouts (see above), and a timing",
    "test_the_page_shows_a_frozen_member_suspect_then_dead":
        "gossip timeouts (see above)",
    "test_descriptor_limit_is_raised_for_max_connections":
        "valgrind keeps RLIMIT_NOFILE to itself: the limits the test reads "
        "in /proc/PID/limits are valgrind's, not the ones shoald set",
}


class TimedResult(unittest.TextTestResult):
    """Keeps each test's wall time, so that the run can name its slowest:
    make check has a budget, and the slow tests are where it goes."""

    def __init__(self, *a, **kw):
        super().__init__(*a, **kw)
        self.times = []

    def startTest(self, test):
        self._started = time.time()
        super().startTest(test)

    def stopTest(self, test):
        self.times.append((time.time() - self._started, test.id()))
        super().stopTest(test)


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--shoald", default="build/shoald")
    ap.add_argument("--sanitized", action="store_true",
                    help="the binary has ASan/UBSan: allow for slowness")
    ap.add_argument("--valgrind", nargs="?", const="build/vg/log",
                    metavar="DIR", help="run shoald under valgrind memcheck, "
                    "logs in DIR (default build/vg/log)")
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
    if args.valgrind:
        import memcheck
        logdir = os.path.abspath(args.valgrind)
        os.environ["SHOALD"] = memcheck.write_wrapper(args.shoald, logdir)
        os.environ["SHOAL_VALGRIND"] = logdir
        memcheck.clear(logdir)
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
    if args.valgrind:
        skip_under_valgrind(suite)
    start = time.time()
    result = unittest.TextTestRunner(verbosity=2 if args.verbose else 1,
                                     stream=sys.stdout,
                                     resultclass=TimedResult).run(suite)
    print("black-box: %d tests in %.1fs (%s)" % (
        result.testsRun, time.time() - start, os.environ["SHOALD"]))
    print("slowest: " + ", ".join(
        "%s %.1fs" % (name.split(".", 1)[-1], t)
        for t, name in sorted(result.times, reverse=True)[:10]))
    ok = result.wasSuccessful()
    if args.valgrind:
        # Every log, those of processes that outlived their test included.
        bad = memcheck.scan(logdir)
        logs = [f for f in os.listdir(logdir) if memcheck.LOG_RE.match(f)]
        for path, text in bad:
            print("valgrind errors in %s:\n%s" % (path, text[-3000:]))
        print("valgrind: %d logs, %d with errors (%s)" % (
            len(logs), len(bad), logdir))
        ok = ok and not bad
    sys.exit(0 if ok else 1)


def skip_under_valgrind(suite):
    for t in suite:
        if isinstance(t, unittest.TestSuite):
            skip_under_valgrind(t)
            continue
        name = t.id().split(".")[-1]
        if name in VALGRIND_SKIPS:
            method = getattr(t, t._testMethodName)
            setattr(t, t._testMethodName, unittest.skip(
                "under valgrind: " + VALGRIND_SKIPS[name])(method))


if __name__ == "__main__":
    main()
