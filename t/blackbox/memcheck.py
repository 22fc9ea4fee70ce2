"""Running the black-box suite with shoald under valgrind memcheck.

run.py --valgrind writes a wrapper script that execs valgrind on the real
binary and points SHOALD at it, so every shoald the tests start (nodes,
detached daemons, `shoald -t`) runs under memcheck, and every forked worker
too. Each process writes LOGDIR/vg.PID.log. A log fails the run when its
error summary is not zero (definite leaks count as errors), or, for a
process that was SIGKILLed and wrote no summary, when it holds an error
record.

Valgrind 3.19 (Debian 12) does not know openat2(2): it warns "unhandled
syscall: 437" once per process and returns ENOSYS, and file_openat_beneath()
falls back to openat with O_NOFOLLOW, so under valgrind that path is the
one checked. Workers are forked, not exec'd; --trace-children only matters
if that changes.
"""

import os
import re
import shlex
import time

HERE = os.path.dirname(os.path.abspath(__file__))
SUPP = os.path.join(HERE, "valgrind.supp")

# Status for an exit with errors: not one shoald uses (0, 1, 2), so a test
# that checks the status also notices.
ERROR_EXITCODE = 97

SUMMARY_RE = re.compile(rb"ERROR SUMMARY: (\d+) errors")
DEFINITE_RE = re.compile(rb"definitely lost: [1-9]")
# First lines of memcheck's error records, for logs without a summary.
RECORD_RE = re.compile(
    rb"^==\d+== (Invalid (read|write|free)|Mismatched free|"
    rb"Conditional jump or move depends|Use of uninitialised|Syscall param|"
    rb"Source and destination overlap|Argument '.*' of function|"
    rb"Process terminating with default action of signal (11|7|6|4|8)|"
    rb".* are definitely lost in loss record)", re.M)
LOG_RE = re.compile(r"^vg\.(\d+)\.log$")


def write_wrapper(shoald, logdir):
    """Creates LOGDIR/shoald, a script that runs SHOALD under memcheck;
    returns its path. Extra valgrind options may come from the
    environment variable SHOAL_VALGRIND_ARGS (e.g. --gen-suppressions=all)."""
    os.makedirs(logdir, exist_ok=True)
    args = ["valgrind", "--tool=memcheck", "--trace-children=yes",
            "--child-silent-after-fork=no",
            "--error-exitcode=%d" % ERROR_EXITCODE,
            "--leak-check=full", "--errors-for-leak-kinds=definite",
            "--show-leak-kinds=definite", "--track-fds=no",
            "--num-callers=30", "--suppressions=" + SUPP,
            "--log-file=" + os.path.join(logdir, "vg.%p.log")]
    path = os.path.join(logdir, "shoald")
    with open(path, "w") as f:
        f.write("#!/bin/sh\n# written by t/blackbox/memcheck.py\n")
        f.write("exec %s $SHOAL_VALGRIND_ARGS %s \"$@\"\n" % (
            " ".join(shlex.quote(a) for a in args),
            shlex.quote(os.path.abspath(shoald))))
    os.chmod(path, 0o755)
    return path


def clear(logdir):
    for f in os.listdir(logdir):
        if LOG_RE.match(f):
            os.unlink(os.path.join(logdir, f))


def log_errors(data):
    """True when one memcheck log shows an error or a definite leak."""
    m = SUMMARY_RE.findall(data)
    if m:
        return int(m[-1]) > 0 or bool(DEFINITE_RE.search(data))
    return bool(RECORD_RE.search(data))


def _running(pid):
    try:
        with open("/proc/%d/stat" % pid) as f:
            return f.read().split(")")[-1].split()[0] not in ("Z", "X")
    except OSError:
        return False


_seen = set()


def scan(logdir, new_only=False):
    """Returns [(path, text)] for the logs with errors. With new_only, only
    logs not returned or passed over before, and not of a process still
    running (its log is not finished): what the last test left."""
    bad = []
    for f in sorted(os.listdir(logdir)):
        m = LOG_RE.match(f)
        if not m:
            continue
        path = os.path.join(logdir, f)
        if new_only:
            if path in _seen or _running(int(m.group(1))):
                continue
            _seen.add(path)
        with open(path, "rb") as fh:
            data = fh.read()
        if log_errors(data):
            bad.append((path, data.decode("utf-8", "replace")))
    return bad


def new_reports(logdir):
    """Report strings for a failing test: the logs with errors that
    appeared since the last call."""
    return ["valgrind %s:\n%s" % (p, t[-6000:])
            for p, t in scan(logdir, new_only=True)]


def wait_workers(node, limit=30):
    """Waits (at most `limit` seconds, then carries on) until every worker
    of a foreground node has logged that it serves. Under valgrind a worker
    takes a while to start, and the health check answers as soon as one
    serves: a test that kills a worker that is still starting would stop
    the node's start-up (by design) instead of testing a restart."""
    cfg = node.config
    want = cfg.get("workers")
    if (node.proc is None or not isinstance(want, int) or
            cfg.get("error_log", "stderr") != "stderr" or
            cfg.get("log_level") != "debug"):
        return
    deadline = time.time() + limit
    while time.time() < deadline:
        pids = node.worker_pids()
        log = node.log()
        if len(pids) >= want and all(
                re.search(r"shoald\[%d\] .* serving " % p, log)
                for p in pids):
            return
        time.sleep(0.05)
