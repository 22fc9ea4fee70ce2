#!/usr/bin/env python3
"""t/bench/bench.py - shoald against nginx on loopback (make bench).

Started by t/bench/run.sh, which has installed nginx-light and wrk. Python
standard library only. Everything happens on 127.0.0.1 in one temporary
directory; every load is bounded in time (wrk -d, and a timeout around wrk
itself); every process started here is stopped on the way out, whether the
run ends normally, fails, or is interrupted (SIGINT, SIGTERM, SIGHUP).

Method
  * shoald and nginx get the same number of workers (1) and keep-alive
    connections; nginx runs with its best settings for each case (see
    nginx_conf); shoald runs with access_log off and log_level warn.
  * Each case alternates A B A B ... over BENCH_ROUNDS rounds of
    BENCH_SECONDS each, after one warm-up run of each side, so that slow
    drift of a noisy machine hits both sides alike.
  * With two CPUs or more, the server under test is pinned to one CPU and
    wrk to another (taskset); the peers of the relay and fan-out cases share
    wrk's CPU, so the front server has a CPU to itself in both A and B.
  * Besides wrk's figures, the CPU time the front server's processes used
    during each run is read from /proc, so that its cost per request is
    known even when the client is the bottleneck; so is wrk's own CPU use,
    and the output says when wrk's CPU was the limit.
  * The machine may be shared: the user CPU time of everything that is not
    this bench is measured during each run, and a round during which others
    used 10% of a CPU or more is marked "!" (the server CPU per request is
    the figure that suffers least from that).

Cases
  local-4k   GET of a 4 KiB file, 64 connections: requests/s, p99
  local-64m  GET of a 64 MiB file, 4 connections: bytes/s
  relay-4k   a miss relayed from peer B (a shoald holding the file): shoald
             node A (save: false, peers: [B]) against nginx proxy_pass to
             the same B (upstream keepalive): requests/s, p99
  fanout     miss latency, 1 connection: A with 16 peers (15 empty shoald
             nodes answer 404, the holder is listed last) against A with
             the holder as its only peer; "fanout-16 / fanout-1"
  fanout-blackhole
             the same hit through 16 peers, one of them a black hole
             (asked first; "accept": accepts and never answers, "listen":
             never accepts) against 16 peers without it; target <= 1.1
  fanout-scale
             miss latency, 1 connection, with 1, 4, 16 and 64 peers (the
             holder last, the others empty shoald nodes), one front per
             count: mean, p50, p99, front and peers' CPU per request as
             ratios to 1 peer, and TCP connections opened per request
  catalogue-scale
             miss latency, 1 connection, of a catalogued name: a front in a
             cluster of 64 members (62 empty, the holder) against a front
             with the holder as its only (static) peer; target <= 1.25 in
             latency and front CPU
  spread     16 members, 100 uploads of 4 KiB at one node after another:
             the time from each 201 until every node serves the file, and
             until the catalogue shows cluster.replicas (2) holders; target
             p99 <= 1 s
  growth     local-4k with 100 files in ROOT against 1,000,000 (empty
             files or hard links, made once and removed at the end),
             shoald and nginx each on both: "1M / 100", target >= 0.9;
             not in the default set (over 3 minutes)
  upload-1g  PUT of a 1 GiB file (a Python sendfile client, or curl -T)
             to shoald against nginx's WebDAV PUT, alternating, a new name
             each round, the previous upload deleted first: MB/s until the
             201 and until the file is durable (nginx does not fsync;
             the bench does it after the 201, timed), server CPU/GiB, the
             workers' VmRSS growth (sampled every 50 ms) and VmHWM; a dd
             copy of the same file each round shows what the machine gave
  waiters    N concurrent clients of one 1 GiB miss (a sparse file with
             random edges) at node A (2 workers, save: true) from peer B
             (a shoald): each client's first byte after the first client's,
             and each client's time against one client alone; exactly one
             transfer from B (its metrics); targets: first bytes within
             50 ms, times within 1.2x, for N = 5 and 50 (BENCH_WAITERS)
  stripe     a front (store: false) and 6 stores: PUT and GET of a sparse
             1 GiB file (BENCH_STRIPE_SIZE) through the front, striped,
             against one node keeping it whole: MB/s, CPU per GiB, the
             worker's RSS growth (targets: put 0.5x, get 0.7x, RSS < 32
             MiB); then 100 uploads of 1 to 24 MiB (BENCH_STRIPE_UPLOADS)
             and the spread of the stores' fill ratios, each offering
             BENCH_STRIPE_CAPACITY (4 GiB) (target <= 5 points)
  stripe-parity
             eight stores, a front with stripe.parity 2 and one with 0:
             PUT of the same file through both (the encoding's CPU per
             GiB), GET with all stores up, then with two killed (target
             0.7x), then the time to heal the lost parts once two empty
             stores join
  relay-64m-rss
             a save: false miss of a sparse 4 GiB file relayed from a peer
             to a client that reads 20 MiB/s through a 64 KiB receive
             buffer: the front worker's VmRSS growth (target < 16 MiB),
             nginx proxy_pass to the same peer for reference
"""

import argparse
import datetime
import http.client
import json
import math
import os
import platform
import random
import resource
import re
import selectors
import shutil
import signal
import socket
import statistics
import subprocess
import sys
import tempfile
import threading
import time
import urllib.request

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, os.path.join(HERE, "..", "blackbox"))
import machine  # noqa: E402  (t/blackbox/machine.py)
import chart  # noqa: E402  (t/bench/chart.py, beside this file)
REPORT_LUA = os.path.join(HERE, "report.lua")
ALL_CASES = ["local-4k", "local-64m", "relay-4k", "fanout",
             "fanout-blackhole", "fanout-scale", "upload-1g",
             "relay-64m-rss", "gossip", "catalogue-scale", "spread",
             "waiters", "stripe", "stripe-parity", "growth"]
# Run when BENCH_CASES is not set: every case but growth (a million files
# made and removed: over 3 minutes, and heavy on the file system).
DEFAULT_CASES = [c for c in ALL_CASES if c != "growth"]

SMALL = 4096            # bytes of the small file
LARGE = 64 << 20        # bytes of the large file
FANOUT_EMPTY = 15       # peers without the file in the fan-out case
REST_SECONDS = 5      # a cluster front's CPU at rest, measured alone
NGINX_UPSTREAM_KEEPALIVE = 128  # >= the client connections of any case
FANOUT_SCALE = "1,4,16,64"  # peer counts of fanout-scale (holder included)
GROWTH_FILES = 1000000  # files in the large ROOT of the growth case
GROWTH_SMALL = 100      # files in its small ROOT (the 4 KiB one included)
GROWTH_INODES = 1.1     # free inodes needed, per file to make
SPREAD_PATH = "/spread"  # wrk path: report.lua picks a random filler name
LINKS_PER_SOURCE = 60000    # hard links per source file (ext4: 65000 max)
GIB = 1 << 30
MIB = 1 << 20
UPLOAD_MIN_FREE = 4 * GIB   # upload-1g is skipped with less free space
RELAY_EDGE = 1 << 20    # random bytes at each end of the sparse big file
RSS_PERIOD = 0.05       # seconds between two VmRSS samples
WAITERS_COUNTS = "5,50"  # concurrent clients of the waiters case


# The columns of a report, [(figure, heading, scale, format)]: a server's
# rate (local-4k, growth) and the latency of one connection (the fan-out
# cases).
RATE_COLUMNS = [("rps", "req/s", 1, "%.0f"),
                ("p99_ms", "p99 ms", 1, "%.2f"),
                ("cpu_us_req", "server cpu us/req", 1, "%.1f"),
                ("wrk_cpu_pct", "wrk cpu %", 1, "%.0f")]
LATENCY_COLUMNS = [("mean_ms", "mean ms", 1, "%.3f"),
                   ("p50_ms", "p50 ms", 1, "%.3f"),
                   ("p99_ms", "p99 ms", 1, "%.3f"),
                   ("cpu_us_req", "front cpu us/req", 1, "%.1f")]


class BenchError(Exception):
    """A failure that ends the run: printed, then everything is stopped."""


def env_int(name, default):
    v = os.environ.get(name, "")
    if v == "":
        return default
    try:
        return int(v)
    except ValueError:
        raise BenchError("%s must be an integer, not %r" % (name, v))


_PORTS_GIVEN = set()


def free_port():
    """A loopback port nobody listens on right now, below the kernel's
    ephemeral range (fanout-scale opens thousands of connections), and
    never one handed out before in this run (servers start at once)."""
    try:
        return machine.free_port(_PORTS_GIVEN, tries=500)
    except RuntimeError as e:
        raise BenchError(str(e))


# --------------------------------------------------------------------------
# Processes

class Server:
    """A server process (shoald or nginx master) in its own session, so that
    its whole process group can be killed as a last resort."""

    def __init__(self, name, kind, port, proc, log_path):
        self.name = name
        self.kind = kind            # "shoald" or "nginx"
        self.port = port
        self.proc = proc
        self.log_path = log_path

    def alive(self):
        return self.proc.poll() is None

    def log_tail(self, n=30):
        try:
            with open(self.log_path, "rb") as f:
                lines = f.read().decode("utf-8", "replace").splitlines()
        except OSError:
            return ""
        return "\n".join(lines[-n:])

    def pids(self):
        """The master and every process below it (workers)."""
        return [self.proc.pid] + descendants(self.proc.pid)

    def worker_pids(self):
        """The processes below the master but shoald's agent (which names
        itself "shoald-agent"): the ones that serve."""
        return [p for p in descendants(self.proc.pid)
                if machine.comm(p) != "shoald-agent"]

    def stop(self):
        """SIGTERM to the master (both shoald and nginx then stop their
        workers), then SIGKILL to the group if it lingers."""
        if self.proc.poll() is None:
            try:
                self.proc.send_signal(signal.SIGTERM)
                self.proc.wait(10)
            except subprocess.TimeoutExpired:
                pass
            except ProcessLookupError:
                pass
        try:
            os.killpg(self.proc.pid, signal.SIGKILL)
        except (ProcessLookupError, PermissionError):
            pass
        try:
            self.proc.wait(5)
        except subprocess.TimeoutExpired:
            pass


def proc_stats():
    """(pid, command name, the fields after the name) of every process,
    read from /proc/PID/stat; fields[1] is the ppid, [11] and [12] the
    user and system CPU ticks. Processes gone meanwhile are left out."""
    for d in os.listdir("/proc"):
        if not d.isdigit():
            continue
        try:
            with open("/proc/%s/stat" % d) as f:
                st = f.read()
        except OSError:
            continue
        # The command name may hold spaces and parentheses: split after
        # the last ')'.
        yield (int(d), st[st.index("(") + 1:st.rindex(")")],
               st.rsplit(")", 1)[1].split())


def proc_table():
    """{pid: ppid} of every process, read from /proc."""
    return {pid: int(fields[1]) for pid, _, fields in proc_stats()}


def descendants(pid):
    table = proc_table()
    out, todo = [], [pid]
    while todo:
        p = todo.pop()
        kids = [c for c, pp in table.items() if pp == p]
        out += kids
        todo += kids
    return sorted(out)


def kill_group(p):
    """SIGKILL to the process group of p (a child started in its own
    session), then reaps it."""
    if p.poll() is None:
        try:
            os.killpg(p.pid, signal.SIGKILL)
        except (ProcessLookupError, PermissionError):
            pass
    p.wait()


CLK_TCK = os.sysconf("SC_CLK_TCK")


def cpu_seconds(pids):
    """User + system CPU time of the given processes (all their threads)."""
    total = 0
    for p in pids:
        try:
            with open("/proc/%d/stat" % p) as f:
                fields = f.read().rsplit(")", 1)[1].split()
        except OSError:
            continue
        # After the name: state(0) ppid(1) ... utime(11) stime(12).
        total += int(fields[11]) + int(fields[12])
    return total / CLK_TCK


def user_ticks():
    """(user CPU ticks of the whole machine, user CPU ticks of this bench
    and everything below it, {pid: (name, ticks)} of the other user
    processes). Short-lived processes (a compiler, a test) show up only in
    the difference of the first two, long-lived ones also by name."""
    with open("/proc/stat") as f:
        v = f.readline().split()
    machine = int(v[1]) + int(v[2])         # user + nice
    table, info = {}, {}
    for pid, name, fields in proc_stats():
        table[pid] = int(fields[1])
        info[pid] = (name, int(fields[11]))
    me = os.getpid()
    ours, others = 0, {}
    for pid, (name, utime) in info.items():
        p = pid
        while p > 1 and p != me:
            p = table.get(p, 1)
        if p == me:
            ours += utime
        else:
            others[pid] = (name, utime)
    # Children already reaped (wrk, strace) count as ours too.
    ours += round(resource.getrusage(resource.RUSAGE_CHILDREN).ru_utime *
                  CLK_TCK)
    return machine, ours, others, steal_ticks()


def steal_ticks():
    """{cpu number: steal ticks}: the time the hypervisor ran something
    else while this virtual CPU wanted to run."""
    out = {}
    with open("/proc/stat") as f:
        for line in f:
            v = line.split()
            if v and v[0].startswith("cpu") and v[0] != "cpu" and \
                    len(v) > 8:
                out[int(v[0][3:])] = int(v[8])
    return out


def foreign_delta(before, after, seconds):
    """What other processes used between two user_ticks() samples:
    (percent of one CPU, who, the highest share of one CPU's time that
    the hypervisor stole, in percent)."""
    pct = 100.0 * ((after[0] - before[0]) - (after[1] - before[1])) / \
        CLK_TCK / seconds
    best = (0.0, "")
    for pid, (name, t) in after[2].items():
        if pid in before[2]:
            best = max(best, (100.0 * (t - before[2][pid][1]) / CLK_TCK /
                              seconds, "%s[%d]" % (name, pid)))
    who = best[1] if best[0] >= pct / 2 else "short-lived processes"
    steal = max([100.0 * (after[3][c] - before[3].get(c, 0)) / CLK_TCK /
                 seconds for c in after[3]] or [0.0])
    return pct, who, steal


def proc_status_kib(pid, key):
    """A "kB" field of /proc/<pid>/status (VmRSS, VmHWM...), or None."""
    try:
        with open("/proc/%d/status" % pid) as f:
            for line in f:
                if line.startswith(key + ":"):
                    return int(line.split()[1])
    except OSError:
        pass
    return None


class RssSampler:
    """Samples VmRSS of one process every RSS_PERIOD seconds in a thread,
    between start() and stop(): the growth during the run is the highest
    sample minus the one taken at start. (VmHWM is a high-water mark over
    the process's whole life, so it says nothing about one run of a
    long-lived worker; it is reported besides, at the end of a case.)"""

    def __init__(self, pid):
        self.pid = pid
        self.before = self.peak = None
        self.samples = 0
        self._stop = threading.Event()
        self._thread = None

    def _run(self):
        while not self._stop.wait(RSS_PERIOD):
            v = proc_status_kib(self.pid, "VmRSS")
            if v is not None:
                self.peak = max(self.peak or 0, v)
                self.samples += 1

    def start(self):
        self.before = proc_status_kib(self.pid, "VmRSS")
        self.peak = self.before
        self._thread = threading.Thread(target=self._run, daemon=True)
        self._thread.start()

    def stop(self):
        """Returns (VmRSS before in KiB, highest VmRSS in KiB, growth in
        KiB)."""
        self._stop.set()
        self._thread.join()
        v = proc_status_kib(self.pid, "VmRSS")
        if v is not None:
            self.peak = max(self.peak or 0, v)
        if self.before is None or self.peak is None:
            raise BenchError("cannot read VmRSS of process %d" % self.pid)
        return self.before, self.peak, self.peak - self.before


def tcp_active_opens():
    """TCP connections this machine has opened so far (ActiveOpens in
    /proc/net/snmp; the whole machine's), or None."""
    try:
        with open("/proc/net/snmp") as f:
            lines = [line.split() for line in f if line.startswith("Tcp:")]
        return int(lines[1][lines[0].index("ActiveOpens")])
    except (OSError, IndexError, ValueError):
        return None


def free_bytes(path):
    st = os.statvfs(path)
    return st.f_bavail * st.f_frsize


def page_reporting_note():
    """On a VM that hands freed memory back to its host (virtio-balloon
    free page reporting), a fresh page-cache page may have to be faulted
    in by the host again: writes of new files can then be slow and noisy.
    Returns a line saying so, or None."""
    path = "/sys/module/page_reporting/parameters/reported_kib"
    try:
        with open(path) as f:
            kib = int(f.read().strip())
    except (OSError, ValueError):
        return None
    return ("note: this machine is a VM that returns freed memory to its "
            "host (free page reporting, %d GiB so far): a write into a "
            "fresh page-cache page may cost a host page fault; with that "
            "and CPU time stolen by the host (rounds marked !), the speed "
            "of writing a new file varies widely from one run to the next "
            "for every writer alike (a plain dd of 1 GiB measured 230 to "
            "2400 MB/s on one such VM, fsync apart): the dd column is such "
            "a copy of the same file in the same round; take the median "
            "over many rounds (BENCH_UPLOAD_ROUNDS)" % (kib >> 20))


def parse_size(v):
    """"4g", "512m", "65536" -> bytes."""
    m = re.fullmatch(r"\s*(\d+)\s*([kmgKMG]?)i?[bB]?\s*", v)
    if not m:
        raise BenchError("not a size: %r" % v)
    return int(m.group(1)) << {"": 0, "k": 10, "m": 20,
                               "g": 30}[m.group(2).lower()]


def env_size(name, default):
    v = os.environ.get(name, "")
    return default if v == "" else parse_size(v)


# --------------------------------------------------------------------------
# Helper processes (bench.py runs itself with one of these options)

def big_expected(size, head, tail, off, n):
    """The bytes [off, off+n) of the sparse test file: `head` at the start,
    `tail` at the end, zeros between."""
    out = bytearray(n)
    end = off + n
    tail_at = size - len(tail)
    if off < len(head):
        a, b = off, min(end, len(head))
        out[a - off:b - off] = head[a:b]
    if end > tail_at:
        a, b = max(off, tail_at), end
        out[a - off:b - off] = tail[a - tail_at:b - tail_at]
    return bytes(out)


def slow_client_main(argv):
    """--slow-client PORT PATH SIZE RATE RCVBUF HEAD TAIL: one GET on a
    socket with a small receive buffer, read at RATE bytes/s at most, the
    body checked against the sparse file's layout. Prints one line:
    "SLOW status=N bytes=N seconds=F ok=0|1 why=..."."""
    port, path, size, rate, rcvbuf = (int(argv[0]), argv[1], int(argv[2]),
                                      int(argv[3]), int(argv[4]))
    with open(argv[5], "rb") as f:
        head = f.read()
    with open(argv[6], "rb") as f:
        tail = f.read()
    s = socket.socket()
    # Before connect, so that the window starts small (the kernel doubles
    # the value).
    s.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, rcvbuf)
    s.connect(("127.0.0.1", port))
    s.sendall(("GET %s HTTP/1.1\r\nHost: bench\r\nConnection: close\r\n"
               "\r\n" % path).encode())
    buf = bytearray(64 * 1024)
    mv = memoryview(buf)
    raw = b""
    while b"\r\n\r\n" not in raw:
        n = s.recv_into(mv)
        if n == 0:
            print("SLOW status=0 bytes=0 seconds=0 ok=0 why=no-head",
                  flush=True)
            return 1
        raw += bytes(mv[:n])
    head_end = raw.index(b"\r\n\r\n") + 4
    lines = raw[:head_end].decode("latin-1").split("\r\n")
    status = int(lines[0].split()[1])
    clen = None
    for line in lines[1:]:
        if line.lower().startswith("content-length:"):
            clen = int(line.split(":", 1)[1])
    got, ok, why = 0, 1, "-"
    if status != 200 or clen != size:
        print("SLOW status=%d bytes=0 seconds=0 ok=0 why=length-%s" % (
            status, clen), flush=True)
        return 1
    pending = raw[head_end:]
    t0 = time.monotonic()
    while got < size:
        if pending:
            chunk, pending = pending, b""
        else:
            n = s.recv_into(mv)
            if n == 0:
                ok, why = 0, "short-body"
                break
            chunk = bytes(mv[:n])
        if ok and chunk != big_expected(size, head, tail, got, len(chunk)):
            ok, why = 0, "bytes-differ-at-%d" % got
        got += len(chunk)
        # Pace: never ahead of RATE.
        ahead = got / rate - (time.monotonic() - t0)
        if ahead > 0:
            time.sleep(ahead)
    secs = time.monotonic() - t0
    if got != size and ok:
        ok, why = 0, "got-%d" % got
    print("SLOW status=%d bytes=%d seconds=%.3f ok=%d why=%s" % (
        status, got, secs, ok, why), flush=True)
    s.close()
    return 0 if ok else 1


def waiters_client_main(argv):
    """--waiters-client PORT PATH SIZE N HEAD TAIL: N connections, then one
    GET on each at once, read in one thread as fast as they come; the
    ends of every body checked against the sparse file's layout, the bytes
    between counted and dropped by the kernel (MSG_TRUNC: no copy, so that
    the client's CPU limits the figures as little as can be). Prints a
    line per client: "WAITER i sent=T first=T done=T bytes=N status=N ok=0|1
    why=..." (CLOCK_MONOTONIC seconds: the head's first byte, the body's
    last)."""
    port, path, size, n = int(argv[0]), argv[1], int(argv[2]), int(argv[3])
    with open(argv[4], "rb") as f:
        head = f.read()
    with open(argv[5], "rb") as f:
        tail = f.read()
    req = ("GET %s HTTP/1.1\r\nHost: bench\r\nConnection: close\r\n\r\n" %
           path).encode()
    socks = [socket.create_connection(("127.0.0.1", port))
             for _ in range(n)]
    sel = selectors.DefaultSelector()
    st = []
    for i, s in enumerate(socks):
        s.sendall(req)
        st.append({"sent": time.monotonic(), "first": None, "done": None,
                   "raw": b"", "body": False, "got": 0, "status": 0,
                   "ok": 1, "why": "-"})
        s.setblocking(False)
        sel.register(s, selectors.EVENT_READ, i)
    # Small reads: a pass over every ready connection is short, so that
    # a first byte is seen soon after it comes.
    buf = bytearray(256 << 10)
    mv = memoryview(buf)
    sink = bytearray(4 << 20)       # never written: MSG_TRUNC reads
    left = n
    deadline = time.monotonic() + 600

    def body(c, data):
        off, k = c["got"], len(data)
        if c["ok"] and (off < len(head) or off + k > size - len(tail)) and \
                bytes(data) != big_expected(size, head, tail, off, k):
            c["ok"], c["why"] = 0, "bytes-differ-at-%d" % off
        c["got"] += k

    while left and time.monotonic() < deadline:
        for key, _ in sel.select(timeout=1):
            c, s = st[key.data], key.fileobj
            drop = c["body"] and len(head) <= c["got"] < size - len(tail)
            try:
                if drop:
                    k = s.recv_into(sink, min(len(sink), size - len(tail) -
                                              c["got"]), socket.MSG_TRUNC)
                else:
                    k = s.recv_into(mv)
            except BlockingIOError:
                continue
            except OSError:
                k = 0
            now = time.monotonic()
            if k and c["first"] is None:
                c["first"] = now
            if k and drop:
                c["got"] += k
            elif k and not c["body"]:
                c["raw"] += bytes(mv[:k])
                if b"\r\n\r\n" in c["raw"]:
                    h, _, rest = c["raw"].partition(b"\r\n\r\n")
                    lines = h.decode("latin-1").split("\r\n")
                    c["status"] = int(lines[0].split()[1])
                    if c["status"] != 200:
                        c["ok"], c["why"] = 0, "status"
                    c["body"], c["raw"] = True, b""
                    body(c, rest)
            elif k:
                body(c, mv[:k])
            if k == 0 or c["got"] >= size:
                c["done"] = now
                if c["got"] != size and c["ok"]:
                    c["ok"], c["why"] = 0, "got-%d" % c["got"]
                sel.unregister(s)
                s.close()
                left -= 1
    for i, c in enumerate(st):
        if c["done"] is None:
            c["ok"], c["why"], c["done"] = 0, "timeout", time.monotonic()
        print("WAITER %d sent=%.6f first=%.6f done=%.6f bytes=%d status=%d "
              "ok=%d why=%s" % (i, c["sent"], c["first"] or 0, c["done"],
                                c["got"], c["status"], c["ok"], c["why"]),
              flush=True)
    return 0 if all(c["ok"] for c in st) else 1


def put_client_main(argv):
    """--put-client PORT NAME FILE: PUT FILE as /NAME with Content-Length,
    the body sent with sendfile(2) (no copy through this process, so the
    client costs little CPU: curl -T reads and sends, two copies). Prints
    "CURL status size_upload seconds" as curl -w would."""
    port, name, path = int(argv[0]), argv[1], argv[2]
    size = os.stat(path).st_size
    t0 = time.monotonic()
    s = socket.create_connection(("127.0.0.1", port))
    s.sendall(("PUT /%s HTTP/1.1\r\nHost: bench\r\nContent-Length: %d\r\n"
               "Content-Type: application/octet-stream\r\n\r\n" % (
                   name, size)).encode())
    sent = 0
    with open(path, "rb") as f:
        sent = s.sendfile(f)
    r = s.makefile("rb")
    status_line = r.readline()
    status = int(status_line.split()[1]) if status_line else 0
    clen = 0
    while True:
        line = r.readline()
        if line in (b"\r\n", b"\n", b""):
            break
        if line.lower().startswith(b"content-length:"):
            clen = int(line.split(b":", 1)[1])
    r.read(clen)
    secs = time.monotonic() - t0
    s.close()
    print("CURL %d %d %.6f" % (status, sent, secs), flush=True)
    return 0


def blackhole_main(argv):
    """--blackhole PORT MODE: a peer that never answers. MODE "accept":
    accepts every connection and reads (and drops) what comes, never
    writing a byte, closing only when the other side does; "listen":
    listens with a backlog of 8 and never accepts (once the backlog is
    full, new connections stay in SYN-SENT)."""
    import selectors
    port, mode = int(argv[0]), argv[1]
    ls = socket.socket()
    ls.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    ls.bind(("127.0.0.1", port))
    ls.listen(8 if mode == "listen" else 4096)
    print("READY", flush=True)
    if mode == "listen":
        while True:
            time.sleep(3600)
    sel = selectors.DefaultSelector()
    ls.setblocking(False)
    sel.register(ls, selectors.EVENT_READ)
    while True:
        for key, _ in sel.select():
            if key.fileobj is ls:
                for _ in range(64):
                    try:
                        c, _ = ls.accept()
                    except BlockingIOError:
                        break
                    c.setblocking(False)
                    sel.register(c, selectors.EVENT_READ)
                continue
            try:
                data = key.fileobj.recv(65536)
            except (BlockingIOError, InterruptedError):
                continue
            except OSError:
                data = b""
            if not data:
                sel.unregister(key.fileobj)
                key.fileobj.close()


# --------------------------------------------------------------------------
# HTTP checks

def http_get(port, path, timeout=30, headers=None):
    """One GET on a fresh connection; returns (status, headers, body)."""
    conn = http.client.HTTPConnection("127.0.0.1", port, timeout=timeout)
    try:
        conn.request("GET", path, headers=headers or {})
        r = conn.getresponse()
        body = r.read()
        return r.status, {k.lower(): v for k, v in r.getheaders()}, body
    finally:
        conn.close()


def http_put(port, path, body, timeout=30):
    """One PUT on a fresh connection; returns the status (0: no answer)."""
    conn = http.client.HTTPConnection("127.0.0.1", port, timeout=timeout)
    try:
        conn.request("PUT", path, body=body)
        r = conn.getresponse()
        r.read()
        return r.status
    except OSError:
        return 0
    finally:
        conn.close()


def metric_value(port, name):
    """The value of the series `name` (labels included, as printed) in a
    server's /_/metrics; None when absent or not answered."""
    try:
        _, _, body = http_get(port, "/_/metrics", timeout=5)
    except OSError:
        return None
    for line in body.decode().splitlines():
        if line.startswith(name + " "):
            return float(line.split()[-1])
    return None


def wait_port(server, path, timeout=20):
    """Waits until the server answers 200 on path."""
    deadline = time.time() + timeout
    last = "no answer"
    while time.time() < deadline:
        if not server.alive():
            raise BenchError("%s exited with %s before serving:\n%s" % (
                server.name, server.proc.returncode, server.log_tail()))
        try:
            status, _, _ = http_get(server.port, path, timeout=2)
            if status == 200:
                return
            last = "status %d" % status
        except OSError as e:
            last = str(e)
        time.sleep(0.05)
    raise BenchError("%s not ready on port %d after %ds (%s):\n%s" % (
        server.name, server.port, timeout, last, server.log_tail()))


def verify(server, path, data):
    """Fails loudly unless GET path answers 200 with exactly `data`."""
    try:
        status, headers, body = http_get(server.port, path)
    except OSError as e:
        raise BenchError("%s: GET %s failed: %s" % (server.name, path, e))
    if status != 200:
        raise BenchError("%s: GET %s answered %d, not 200:\n%r\n%s" % (
            server.name, path, status, body[:200], server.log_tail()))
    if headers.get("content-length") != str(len(data)):
        raise BenchError("%s: GET %s: Content-Length %s, expected %d" % (
            server.name, path, headers.get("content-length"), len(data)))
    if body != data:
        raise BenchError("%s: GET %s: %d body bytes differ from the file "
                         "(%d bytes)" % (server.name, path, len(body),
                                         len(data)))


# --------------------------------------------------------------------------
# The bench

class Bench:
    def __init__(self, shoald):
        self.shoald = os.path.abspath(shoald)
        # BENCH_REF_SHOALD: another shoald binary takes nginx's place in
        # local-4k, local-64m, relay-4k and upload-1g, so that two builds
        # are measured side by side in one run (before and after a change).
        ref = os.environ.get("BENCH_REF_SHOALD", "")
        self.ref_shoald = os.path.abspath(ref) if ref else None
        self.ref_label = "ref" if ref else "nginx"
        self.rounds = env_int("BENCH_ROUNDS", 5)
        self.seconds = env_int("BENCH_SECONDS", 5)
        self.warmup = env_int("BENCH_WARMUP", 1)
        self.io_threads = env_int("BENCH_IO_THREADS", 4)
        cases = os.environ.get("BENCH_CASES", "") or \
            ",".join(DEFAULT_CASES)
        self.cases = [c.strip() for c in cases.split(",") if c.strip()]
        for c in self.cases:
            if c not in ALL_CASES:
                raise BenchError("unknown case %r (known: %s)" % (
                    c, ", ".join(ALL_CASES)))
        if self.rounds < 1 or self.seconds < 1:
            raise BenchError("BENCH_ROUNDS and BENCH_SECONDS must be >= 1")
        self.strace = os.environ.get("BENCH_STRACE", "") == "1"
        self.upload_client = os.environ.get("BENCH_UPLOAD_CLIENT", "") or \
            "sendfile"
        if self.upload_client not in ("sendfile", "curl"):
            raise BenchError("BENCH_UPLOAD_CLIENT is sendfile or curl, not "
                             "%r" % self.upload_client)

        # CPU pinning: only with two CPUs or more to choose from.
        cpus = sorted(os.sched_getaffinity(0))
        self.pin = len(cpus) >= 2 and os.environ.get("BENCH_NOPIN") != "1"
        if self.pin:
            self.cpu_server = env_int("BENCH_CPU_SERVER", cpus[0])
            self.cpu_client = env_int("BENCH_CPU_CLIENT", cpus[1])
            self.cpu_peer = env_int("BENCH_CPU_PEER", cpus[1])
        self.tmp = tempfile.mkdtemp(prefix="shoal-bench-")
        # nginx workers run as "nobody" when started as root: they must be
        # able to read the served files.
        os.chmod(self.tmp, 0o755)
        self.servers = []           # every server started, for cleanup
        self.children = []          # wrk, strace: for cleanup
        self.out_lines = []         # the report, printed and saved
        self.results = []           # summary rows
        self.notes = []             # summary lines without a ratio
        self.disturbed = 0          # rounds during which others ran

    # -- output -----------------------------------------------------------
    def say(self, line=""):
        print(line, flush=True)
        self.out_lines.append(line)

    # -- cleanup ----------------------------------------------------------
    def cleanup(self):
        for p in self.children:
            kill_group(p)
        for s in reversed(self.servers):
            s.stop()
        self.servers = []
        shutil.rmtree(self.tmp, ignore_errors=True)

    def stop_servers(self, servers):
        # SIGTERM to all first: many stop at once, not one after the other.
        for s in servers:
            if s.alive():
                try:
                    s.proc.send_signal(signal.SIGTERM)
                except ProcessLookupError:
                    pass
        for s in servers:
            s.stop()
            self.servers.remove(s)

    def taskset(self, cpu):
        """The taskset prefix that pins a command to cpu (none unpinned)."""
        if not self.pin or cpu is None:
            return []
        return ["taskset", "-c", str(cpu)]

    def spawn(self, argv, log_path):
        with open(log_path, "ab") as log:
            return subprocess.Popen(argv, stdin=subprocess.DEVNULL,
                                    stdout=log, stderr=log,
                                    start_new_session=True)

    # -- files ------------------------------------------------------------
    def make_root(self, name, files):
        """A directory holding files {name: bytes}."""
        root = os.path.join(self.tmp, name)
        os.makedirs(root)
        os.chmod(root, 0o755)
        for fname, data in files.items():
            path = os.path.join(root, fname)
            with open(path, "wb") as f:
                f.write(data)
            os.chmod(path, 0o644)
        return root

    # -- shoald -----------------------------------------------------------
    def start_shoald(self, name, root, cpu, workers=1, io_threads=None,
                     peers=(), save=True, wait=True, binary=None,
                     extra=()):
        """A shoald serving root; ready (answering /_/health) on return
        unless wait is False: then wait_port(s, "/_/health") is the
        caller's, so that many can start at once."""
        d = os.path.join(self.tmp, "shoald-" + name)
        os.makedirs(d)
        port = free_port()
        conf = os.path.join(d, "shoal.yaml")
        lines = [
            'listen: "127.0.0.1:%d"' % port,
            'root: "%s"' % root,
            'state_dir: "%s"' % os.path.join(d, "state"),
            'node: "%s"' % name,
            "workers: %d" % workers,
            "io_threads: %d" % (io_threads or self.io_threads),
            'pid_file: "%s"' % os.path.join(d, "shoald.pid"),
            'error_log: "%s"' % os.path.join(d, "error.log"),
            "log_level: warn",
            'access_log: "off"',
            "shutdown_timeout: 2s",
            "save: %s" % ("true" if save else "false"),
            "peer_timeout: 2s",
        ]
        if peers:
            lines.append("peers:")
            for p in peers:
                lines += ["  - host: 127.0.0.1", "    port: %d" % p]
        else:
            lines.append("peers: []")
        lines += list(extra)
        with open(conf, "w") as f:
            f.write("\n".join(lines) + "\n")
        log = os.path.join(d, "stderr.log")
        proc = self.spawn(self.taskset(cpu) + [binary or self.shoald, "-f",
                                               "-c", conf], log)
        s = Server("shoald-" + name, "shoald", port, proc, log)
        s.error_log = os.path.join(d, "error.log")
        self.servers.append(s)
        if wait:
            wait_port(s, "/_/health")
        return s

    def start_ref(self, name, cpu, root=None, upstream=None, dav=False):
        """The reference of a case: nginx, or the BENCH_REF_SHOALD build
        configured as the shoald under test is."""
        if self.ref_shoald is None:
            return self.start_nginx(name, cpu, root=root, upstream=upstream,
                                    dav=dav)
        if root is None:
            root = self.make_root("root-ref-" + name, {})
        files = {"ready": b"ready\n"} if dav else {}
        for f, data in files.items():
            with open(os.path.join(root, f), "wb") as fh:
                fh.write(data)
        return self.start_shoald("ref-" + name, root, cpu,
                                 peers=[upstream] if upstream else (),
                                 save=upstream is None,
                                 binary=self.ref_shoald)

    # -- nginx ------------------------------------------------------------
    def start_nginx(self, name, cpu, root=None, upstream=None,
                    dav=False):
        """nginx, 1 worker, serving root, or proxying to upstream (a port)
        when given; with dav, taking PUTs into root too."""
        d = os.path.join(self.tmp, "nginx-" + name)
        os.makedirs(os.path.join(d, "tmp"))
        os.chmod(d, 0o755)
        port = free_port()
        conf = os.path.join(d, "nginx.conf")
        with open(conf, "w") as f:
            f.write(nginx_conf(d, port, root=root, upstream=upstream,
                               dav=dav))
        log = os.path.join(d, "stderr.log")
        # -e: the start-up error log (before the configuration is read)
        # goes to our file too, not to /var/log/nginx.
        proc = self.spawn(self.taskset(cpu) + [
            "nginx", "-p", d, "-e", os.path.join(d, "error.log"),
            "-c", conf], log)
        s = Server("nginx-" + name, "nginx", port, proc, log)
        s.error_log = os.path.join(d, "error.log")
        self.servers.append(s)
        return s

    # -- wrk --------------------------------------------------------------
    def wrk(self, server, path, conns, seconds, cpu_pids, peer_pids=(),
            body_len=None):
        """One wrk run against server; returns its figures, and the CPU
        time that the processes cpu_pids (the front server) and peer_pids
        (its peer, if any) used meanwhile, per request."""
        url = "http://127.0.0.1:%d%s" % (server.port, path)
        argv = self.taskset(self.cpu_client if self.pin else None) + [
            "wrk", "-t1", "-c%d" % conns, "-d%ds" % seconds,
            "--timeout", "10s", "--latency", "-s", REPORT_LUA, url]
        others = user_ticks()
        before = cpu_seconds(cpu_pids)
        peer_before = cpu_seconds(peer_pids)
        # wrk's own CPU time: the children's rusage grows by it once wrk
        # is reaped (servers are reaped only at the end).
        ru = resource.getrusage(resource.RUSAGE_CHILDREN)
        wrk_before = ru.ru_utime + ru.ru_stime
        opens_before = tcp_active_opens()
        env = None
        if path == SPREAD_PATH:
            # report.lua spreads the requests over server.spread names.
            env = dict(os.environ, BENCH_SPREAD=str(server.spread))
        p = subprocess.Popen(argv, stdin=subprocess.DEVNULL,
                             stdout=subprocess.PIPE, stderr=subprocess.STDOUT,
                             start_new_session=True, env=env)
        try:
            out, _ = p.communicate(timeout=seconds + 30)
        except subprocess.TimeoutExpired:
            kill_group(p)
            raise BenchError("wrk against %s did not finish" % server.name)
        except BaseException:
            kill_group(p)           # interrupted: wrk goes too
            raise
        cpu = cpu_seconds(cpu_pids) - before
        peer_cpu = cpu_seconds(peer_pids) - peer_before
        opens_after = tcp_active_opens()
        ru = resource.getrusage(resource.RUSAGE_CHILDREN)
        wrk_cpu = ru.ru_utime + ru.ru_stime - wrk_before
        foreign = foreign_delta(others, user_ticks(), seconds)
        out = out.decode("utf-8", "replace")
        m = re.search(r"^BENCH (.*)$", out, re.M)
        if p.returncode != 0 or not m:
            raise BenchError("wrk against %s failed (%s):\n%s" % (
                server.name, p.returncode, out))
        fig = {k: float(v) for k, v in
               (kv.split("=") for kv in m.group(1).split())}
        errors = {k: v for k, v in fig.items() if k.startswith("err_") and v}
        if errors or fig["requests"] == 0:
            raise BenchError("wrk against %s: %d requests, errors %s:\n%s\n"
                             "server log:\n%s" % (
                                 server.name, fig["requests"], errors, out,
                                 server.log_tail()))
        if not server.alive():
            raise BenchError("%s died under load:\n%s" % (
                server.name, server.log_tail()))
        # Every answer must have carried the whole body: at least body_len
        # bytes per completed request, and not much more than body and head
        # (plus the answers cut when wrk stopped at -d).
        if body_len is not None:
            per = fig["bytes"] / fig["requests"]
            most = body_len + 2048 + conns * body_len / fig["requests"]
            if not body_len <= per <= most:
                raise BenchError("%s: %.0f bytes per answer, expected %d "
                                 "and a head" % (server.name, per, body_len))
        secs = fig["duration_us"] / 1e6
        return {
            "rps": fig["requests"] / secs,
            "Bps": fig["bytes"] / secs,
            "mean_ms": fig["mean_us"] / 1000,
            "p50_ms": fig["p50_us"] / 1000,
            "p99_ms": fig["p99_us"] / 1000,
            "cpu_us_req": cpu * 1e6 / fig["requests"],
            "peer_cpu_us_req": peer_cpu * 1e6 / fig["requests"],
            "peer_cpu_pct": peer_cpu * 100 / secs,
            "cpu_ms_gib": cpu * 1e3 / (fig["bytes"] / (1 << 30)),
            "cpu_pct": cpu * 100 / secs,
            "wrk_cpu_pct": wrk_cpu * 100 / secs,
            "requests": fig["requests"],
            # TCP connections opened on the machine per request (wrk's
            # own included): the front's new connections to its peers.
            "opens_req": (opens_after - opens_before) / fig["requests"]
            if opens_before is not None and opens_after is not None
            else float("nan"),
            "foreign": foreign,
        }

    def strace_load(self, server, path, conns, seconds=3):
        """strace -c -f on the server's workers (every thread) while wrk
        loads it for `seconds`; returns the syscall counts per request, the
        highest first."""
        workers = server.worker_pids()
        if not workers or shutil.which("strace") is None:
            return None
        out = os.path.join(self.tmp, "strace-%s.txt" % server.name)
        argv = ["strace", "-c", "-f", "-o", out]
        for w in workers:
            argv += ["-p", str(w)]
        st = subprocess.Popen(argv, stdin=subprocess.DEVNULL,
                              stdout=subprocess.DEVNULL,
                              stderr=subprocess.DEVNULL,
                              start_new_session=True)
        self.children.append(st)
        time.sleep(0.5)             # let strace attach every thread
        fig = self.wrk(server, path, conns, seconds, [])
        st.send_signal(signal.SIGINT)   # strace detaches and writes -o
        try:
            st.wait(10)
        except subprocess.TimeoutExpired:
            kill_group(st)
        self.children.remove(st)
        counts = read_strace_counts(out)
        if counts is None:
            return None
        n = fig["requests"]
        return n, sorted(((c / n, name) for name, c in counts.items()),
                         reverse=True)

    # -- running a comparison ----------------------------------------------
    def compare(self, case, what, sides, path, conns, metrics, body_len):
        """Alternates the sides (label, server, cpu_pids[, peer_pids]) over
        the rounds and prints each round, then a summary row per metric.

        metrics: [(key, label, scale, fmt)]; the first side is "a" (shoald
        or fanout-16), the second "b"; ratios are a/b."""
        la, lb = sides[0][0], sides[1][0]
        self.say("== %s: %s" % (case, what))
        if self.warmup:
            for side in sides:
                self.wrk(side[1], path, conns, self.warmup, *side[2:],
                         body_len=body_len)
        rows = []
        # Two header lines: the metric over its three columns, then the
        # sides and the ratio.
        w = 10
        group = 2 * w + 9
        self.say("%-5s" % "" + "".join(
            " | %-*s" % (group, m[1]) for m in metrics))
        self.say("%-5s" % "round" + " | %*s %*s %7s" % (w, la, w, lb, "ratio")
                 * len(metrics))
        for r in range(1, self.rounds + 1):
            figs = []
            for side in sides:
                figs.append(self.wrk(side[1], path, conns, self.seconds,
                                     *side[2:], body_len=body_len))
            rows.append(figs)
            line = "%-5d" % r
            for key, _, scale, fmt in metrics:
                a, b = figs[0][key] * scale, figs[1][key] * scale
                line += " | %*s %*s %7.3f" % (
                    w, fmt % a, w, fmt % b, a / b if b else float("nan"))
            # Another process busy meanwhile: the round is disturbed.
            line += self.disturbance(figs)
            self.say(line)
        # A client that used (nearly) all of its CPU limited the run: the
        # req/s or MiB/s ratio then says little; the server's CPU per
        # request still does.
        busy = [f[i]["wrk_cpu_pct"] for f in rows for i in (0, 1)]
        if self.pin and self.cpu_peer == self.cpu_client and \
                any(len(side) > 3 for side in sides):
            # The peer shares wrk's CPU: together they may be the limit.
            busy = [f[i]["wrk_cpu_pct"] + f[i]["peer_cpu_pct"]
                    for f in rows for i in (0, 1)]
        if max(busy) >= 90 and conns > 1:
            self.say("note: wrk%s used up to %.0f%% of CPU %s: this case is "
                     "(partly) bound by that CPU, not by the server under "
                     "test; compare the server cpu columns" % (
                         " and the peer" if len(sides[0]) > 3 else "",
                         max(busy), self.cpu_client if self.pin else "1"))
        for key, mlabel, scale, fmt in metrics:
            a = [f[0][key] * scale for f in rows]
            b = [f[1][key] * scale for f in rows]
            ratios = [x / y for x, y in zip(a, b) if y]
            self.results.append((case, mlabel, "%s/%s" % (la, lb),
                                 fmt % statistics.median(a),
                                 fmt % statistics.median(b),
                                 min(ratios), statistics.median(ratios),
                                 max(ratios)))
        self.say()

    def compare_multi(self, case, what, sides, refs, path, conns, metrics,
                      body_len):
        """Like compare(), for more than two sides: in each round they run
        one after the other, in the order given (after one warm-up run
        each). refs: {i: j}: side i is shown as a ratio to side j (a side
        without a reference shows its figures, and "-"). metrics: [(key,
        label, scale, fmt[, ratio])]: ratio False shows figures only. Each
        round is a line per side; the summary gets a row per metric and
        reference.
        Returns the rows: [[figs of each side] per round]."""
        self.say("== %s: %s" % (case, what))
        if self.warmup:
            for side in sides:
                self.wrk(side[1], path, conns, self.warmup, *side[2:],
                         body_len=body_len)
        w = 10
        lw = max(len(side[0]) for side in sides)
        self.say("%-5s %-*s" % ("", lw, "") + "".join(
            " | %-*s" % (w + 8, m[1]) for m in metrics))
        self.say("%-5s %-*s" % ("round", lw, "side") +
                 " | %*s %7s" % (w, "value", "ratio") * len(metrics))
        rows = []
        for r in range(1, self.rounds + 1):
            figs = [self.wrk(side[1], path, conns, self.seconds, *side[2:],
                             body_len=body_len) for side in sides]
            rows.append(figs)
            for i, side in enumerate(sides):
                line = "%-5s %-*s" % (r if i == 0 else "", lw, side[0])
                for m in metrics:
                    key, scale, fmt = m[0], m[2], m[3]
                    v = figs[i][key] * scale
                    ref = figs[refs[i]][key] * scale \
                        if i in refs and (len(m) < 5 or m[4]) else None
                    line += " | %*s %7s" % (
                        w, fmt % v, "-" if ref is None else
                        "%.3f" % (v / ref) if ref else "nan")
                if i == len(sides) - 1:
                    line += self.disturbance(figs)
                self.say(line)
        busy = [f["wrk_cpu_pct"] for fr in rows for f in fr]
        if max(busy) >= 90 and conns > 1:
            self.say("note: wrk used up to %.0f%% of CPU %s: this case is "
                     "(partly) bound by that CPU, not by the server under "
                     "test; compare the server cpu columns" % (
                         max(busy), self.cpu_client if self.pin else "1"))
        for i, j in sorted(refs.items()):
            for m in metrics:
                key, mlabel, scale, fmt = m[:4]
                if len(m) > 4 and not m[4]:
                    continue
                a = [f[i][key] * scale for f in rows]
                b = [f[j][key] * scale for f in rows]
                ratios = [x / y for x, y in zip(a, b) if y]
                if not ratios:
                    continue
                self.results.append((case, mlabel, "%s/%s" % (
                    sides[i][0], sides[j][0]), fmt % statistics.median(a),
                    fmt % statistics.median(b), min(ratios),
                    statistics.median(ratios), max(ratios)))
        self.say()
        return rows

    def disturbance(self, figs):
        """The mark of a disturbed round ("" if none): other processes
        used 10% of a CPU or more, or the hypervisor stole 5% or more of
        a CPU's time (a shared host: the figures of that round are less
        worth)."""
        pct, who, _ = max(f["foreign"] for f in figs)
        steal = max(f["foreign"][2] for f in figs)
        marks = []
        if pct >= 10:
            marks.append("others (%s) used %.0f%% of a CPU" % (who, pct))
        if steal >= 5:
            marks.append("the host stole %.0f%% of a CPU" % steal)
        if not marks:
            return ""
        self.disturbed += 1
        return "  ! " + "; ".join(marks)

    def check_logs(self, servers):
        """Shows what the servers logged at warn and above (nothing is
        expected)."""
        for s in servers:
            try:
                with open(s.error_log, "rb") as f:
                    text = f.read().decode("utf-8", "replace").strip()
            except OSError:
                continue
            if text:
                lines = text.splitlines()
                self.say("note: %s logged %d line(s), the last:" % (
                    s.name, len(lines)))
                for line in lines[-3:]:
                    self.say("  " + line[:200])

    def strace_section(self, sides, path, conns):
        if not self.strace:
            return
        tables = []
        for side in sides:
            label, server = side[0], side[1]
            res = self.strace_load(server, path, conns)
            if res is None:
                self.say("strace: no result for %s" % label)
                return
            tables.append((label, res))
        self.say("syscalls per request (strace -c -f on the workers, "
                 "3 s of the same load; strace slows the server):")
        names = []
        for _, (_, rows) in tables:
            for per, name in rows:
                if per >= 0.01 and name not in names:
                    names.append(name)
        self.say("  %-20s" % "syscall" + "".join(
            "%12s" % label for label, _ in tables))
        for name in names:
            vals = []
            for _, (_, rows) in tables:
                d = {n: p for p, n in rows}
                vals.append("%12.2f" % d.get(name, 0.0))
            self.say("  %-20s" % name + "".join(vals))
        self.say("  %-20s" % "total" + "".join(
            "%12.2f" % sum(p for p, _ in rows) for _, (_, rows) in tables))
        self.say()

    # -- the cases --------------------------------------------------------
    def case_local(self, case, name, root, path, data, conns, what,
                   metrics, strace):
        """A GET of path (holding data) from shoald and the reference
        server, both on root: the comparison of local-4k and local-64m."""
        s = self.start_shoald(name, root, self.cpu_srv())
        n = self.start_ref(name, self.cpu_srv(), root=root)
        wait_port(n, path)
        for x in (s, n):
            verify(x, path, data)
        sides = [("shoald", s, s.pids()), (self.ref_label, n, n.pids())]
        self.compare(case, what, sides, path, conns, metrics, len(data))
        if strace:
            self.strace_section(sides, path, conns)
        self.check_logs([s, n])
        self.stop_servers([s, n])

    def case_local_4k(self, root):
        self.case_local("local-4k", "local", root, "/4k.bin", self.small, 64,
                        "GET /4k.bin (4 KiB), 64 connections, wrk -t1",
                        RATE_COLUMNS, True)

    def case_local_64m(self, root):
        self.case_local("local-64m", "local64", root, "/64m.bin", self.large,
                        4, "GET /64m.bin (64 MiB), 4 connections, wrk -t1", [
                            ("Bps", "MiB/s", 1 / (1 << 20), "%.0f"),
                            ("cpu_ms_gib", "server cpu ms/GiB", 1, "%.1f"),
                            ("wrk_cpu_pct", "wrk cpu %", 1, "%.0f")], False)

    def case_relay_4k(self, root):
        empty = self.make_root("root-relay-a", {})
        b = self.start_shoald("relay-b", root, self.cpu_peer_())
        a = self.start_shoald("relay-a", empty, self.cpu_srv(),
                              peers=[b.port], save=False)
        n = self.start_ref("relay", self.cpu_srv(), upstream=b.port)
        wait_port(n, "/4k.bin")
        for x in (b, a, n):
            verify(x, "/4k.bin", self.small)
        # A must not have kept a copy: every request has to be a miss.
        # (Hidden entries are the node's own, such as its temporary files.)
        kept = [f for f in os.listdir(empty) if not f.startswith(".")]
        if kept:
            raise BenchError("relay-a saved a copy despite save: false: %s"
                             % kept)
        sides = [("shoald", a, a.pids(), b.pids()),
                 (self.ref_label, n, n.pids(), b.pids())]
        self.compare("relay-4k", "miss relayed from peer B (shoald, 1 "
                     "worker, CPU %s), 64 connections, wrk -t1" %
                     (self.cpu_peer if self.pin else "any"), sides,
                     "/4k.bin", 64, [
                         ("rps", "req/s", 1, "%.0f"),
                         ("p99_ms", "p99 ms", 1, "%.2f"),
                         ("cpu_us_req", "front cpu us/req", 1, "%.1f"),
                         ("peer_cpu_us_req", "peer B cpu us/req", 1,
                          "%.1f"),
                         ("wrk_cpu_pct", "wrk cpu %", 1, "%.0f")], SMALL)
        self.strace_section(sides, "/4k.bin", 64)
        self.check_logs([a, b, n])
        self.stop_servers([n, a, b])

    def start_fanout_peers(self, prefix, root):
        """FANOUT_EMPTY small nodes without the file and one holder of
        root, named from prefix: ([empty nodes], holder)."""
        empty_root = self.make_root("root-%sempty" % (prefix or "fanout-"),
                                    {})
        empties = [self.start_shoald("%sempty%02d" % (prefix, i), empty_root,
                                     self.cpu_peer_(), io_threads=1)
                   for i in range(FANOUT_EMPTY)]
        holder = self.start_shoald(prefix + "holder", root, self.cpu_peer_(),
                                   io_threads=1)
        return empties, holder

    def case_fanout(self, root):
        # Fifteen small nodes without the file, one holder, and two fronts:
        # one asking all sixteen (holder last), one asking the holder only.
        empties, holder = self.start_fanout_peers("", root)
        roots = [self.make_root("root-fanout-a%d" % i, {}) for i in (16, 1)]
        a16 = self.start_shoald("fanout16", roots[0], self.cpu_srv(),
                                peers=[e.port for e in empties] +
                                [holder.port], save=False)
        a1 = self.start_shoald("fanout1", roots[1], self.cpu_srv(),
                               peers=[holder.port], save=False)
        for e in empties:
            st, _, _ = http_get(e.port, "/4k.bin",
                                headers={"X-Shoal-Lookup": "1"})
            if st != 404:
                raise BenchError("%s answered %d, not 404" % (e.name, st))
        for x in (holder, a16, a1):
            verify(x, "/4k.bin", self.small)
        sides = [("fanout-16", a16, a16.pids()), ("fanout-1", a1, a1.pids())]
        self.compare("fanout", "miss latency, 1 connection: A with 16 peers "
                     "(15 answer 404, the holder last) vs A with 1 peer; "
                     "no nginx", sides, "/4k.bin", 1, LATENCY_COLUMNS, SMALL)
        self.strace_section(sides, "/4k.bin", 1)
        self.check_logs([a16, a1, holder] + empties)
        self.stop_servers([a16, a1, holder] + empties)

    def case_fanout_scale(self, root):
        """Miss latency with 1, 4, 16 and 64 peers (BENCH_FANOUT_PEERS):
        n-1 empty nodes and the holder, listed last; one front per count,
        all sharing the same peers."""
        v = os.environ.get("BENCH_FANOUT_PEERS", "") or FANOUT_SCALE
        try:
            counts = sorted({int(x) for x in v.split(",") if x.strip()})
        except ValueError:
            raise BenchError("BENCH_FANOUT_PEERS: %r is not a list of "
                             "numbers" % v)
        if len(counts) < 2 or counts[0] < 1:
            raise BenchError("BENCH_FANOUT_PEERS needs two counts or more, "
                             "each 1 or more, not %r" % v)
        most = counts[-1]
        empty_root = self.make_root("root-scale-empty", {})
        t0 = time.monotonic()
        # Started at once, then waited for: 64 one after the other would
        # take a while.
        empties = [self.start_shoald("scale-empty%02d" % i, empty_root,
                                     self.cpu_peer_(), io_threads=1,
                                     wait=False)
                   for i in range(most - 1)]
        holder = self.start_shoald("scale-holder", root, self.cpu_peer_(),
                                   io_threads=1, wait=False)
        for x in empties + [holder]:
            wait_port(x, "/_/health", timeout=60)
        fronts = {}
        for n in counts:
            fronts[n] = self.start_shoald(
                "scale%d" % n, self.make_root("root-scale-a%d" % n, {}),
                self.cpu_srv(), peers=[e.port for e in empties[:n - 1]] +
                [holder.port], save=False, wait=False)
        for n in counts:
            wait_port(fronts[n], "/_/health", timeout=60)
        self.say("fanout-scale: %d peer nodes (%d empty, 1 holder) and %d "
                 "fronts ready in %.1f s" % (most, most - 1, len(counts),
                                             time.monotonic() - t0))
        for e in empties:
            st, _, _ = http_get(e.port, "/4k.bin",
                                headers={"X-Shoal-Lookup": "1"})
            if st != 404:
                raise BenchError("%s answered %d, not 404" % (e.name, st))
        for x in [holder] + [fronts[n] for n in counts]:
            verify(x, "/4k.bin", self.small)
        holder_pids = holder.pids()
        empty_pids = [e.pids() for e in empties]
        sides = []
        for n in counts:
            peer_pids = list(holder_pids)
            for p in empty_pids[:n - 1]:
                peer_pids += p
            sides.append(("fanout-%d" % n, fronts[n], fronts[n].pids(),
                          peer_pids))
        rows = self.compare_multi(
            "fanout-scale", "miss latency, 1 connection (wrk -c1): A with "
            "n peers (n-1 empty nodes answer 404, the holder last; workers "
            "1, io_threads 1, all on CPU %s with wrk) for n in %s; ratios "
            "to %d peer(s); no nginx" % (
                self.cpu_peer if self.pin else "any",
                ", ".join(str(n) for n in counts), counts[0]),
            sides, {i: 0 for i in range(1, len(sides))}, "/4k.bin", 1,
            LATENCY_COLUMNS + [
                ("peer_cpu_us_req", "peers cpu us/req", 1, "%.1f"),
                ("opens_req", "tcp connects/req", 1, "%.2f", False)],
            SMALL)
        for n in counts:
            kept = [f for f in os.listdir(os.path.join(
                self.tmp, "root-scale-a%d" % n)) if not f.startswith(".")]
            if kept:
                raise BenchError("scale%d saved a copy despite save: false: "
                                 "%s" % (n, kept))
        parts = []
        for i, n in enumerate(counts[1:], 1):
            mean = statistics.median(f[i]["mean_ms"] / f[0]["mean_ms"]
                                     for f in rows)
            cpu = statistics.median(f[i]["cpu_us_req"] / f[0]["cpu_us_req"]
                                    for f in rows)
            opens = statistics.median(f[i]["opens_req"] for f in rows)
            parts.append("%d: %.2fx latency, %.2fx front cpu, %.1f tcp "
                         "connects/req" % (n, mean, cpu, opens))
        self.notes.append("fanout-scale (median ratios to %d peer(s), mean "
                          "latency and front cpu/req): %s" % (
                              counts[0], "; ".join(parts)))
        self.strace_section(sides, "/4k.bin", 1)
        servers = [fronts[n] for n in counts] + [holder] + empties
        self.check_logs(servers)
        self.stop_servers(servers)

    # -- gossip ------------------------------------------------------------
    def cluster_members(self, s, state="alive"):
        """How many members s counts in `state` (itself included), from
        its /_/metrics; None when it does not answer."""
        try:
            _, _, body = http_get(s.port, "/_/metrics", timeout=5)
        except OSError:
            return None
        want = 'shoal_cluster_members{state="%s"} ' % state
        for line in body.decode().splitlines():
            if line.startswith(want):
                return int(line.split()[-1])
        return None

    def gossip_counter(self, s, name):
        _, _, body = http_get(s.port, "/_/metrics", timeout=5)
        for line in body.decode().splitlines():
            if line.startswith(name + " "):
                return float(line.split()[-1])
        raise BenchError("%s has no %s" % (s.name, name))

    def case_gossip(self, root):
        """BENCH_GOSSIP_NODES (64) real nodes on loopback (workers 1,
        io_threads 1, the default gossip_interval 200ms and fanout 3, auto
        timeouts), node i naming node (i-1)/2 as its seed: the time until
        they know each other, the time until one more node is known to all,
        and at rest the gossip bytes and the CPU of a node per second.
        Beside them, the simulator's rounds (t/unit/check_gossip_sim.c,
        when built) and Serf's convergence model. No reference: gossip
        has no nginx counterpart."""
        n = env_int("BENCH_GOSSIP_NODES", 64)
        rest = env_int("BENCH_GOSSIP_REST", 10)
        key = "bench-gossip-key-" + "0123456789" * 4
        empty = self.make_root("root-gossip", {})

        def cluster(seed):
            lines = ["cluster:", '  name: "bench"', '  key: "%s"' % key]
            if seed is not None:
                lines += ["  seeds:", '    - "127.0.0.1:%d"' % seed.port]
            return lines

        t0 = time.monotonic()
        nodes = []
        for i in range(n):
            seed = nodes[(i - 1) // 2] if i > 0 else None
            nodes.append(self.start_shoald(
                "g%03d" % i, empty, self.cpu_peer_(), io_threads=1,
                wait=False, extra=cluster(seed)))
        for x in nodes:
            wait_port(x, "/_/health", timeout=60)
        started = time.monotonic() - t0

        def all_know(group, count, limit):
            deadline = time.monotonic() + limit
            while time.monotonic() < deadline:
                if all(self.cluster_members(x) == count for x in group):
                    return True
                time.sleep(0.1)
            return False

        if not all_know(nodes, n, 120):
            raise BenchError("gossip: %d nodes did not find each other in "
                             "120 s" % n)
        formed = time.monotonic() - t0
        late = self.start_shoald("g-late", empty, self.cpu_peer_(),
                                 io_threads=1, wait=True,
                                 extra=cluster(nodes[n // 3]))
        t1 = time.monotonic()
        if not all_know(nodes + [late], n + 1, 60):
            raise BenchError("gossip: the late node was not known to all "
                             "in 60 s")
        join = time.monotonic() - t1
        everyone = nodes + [late]
        time.sleep(3)
        pids = [p for x in everyone for p in x.pids()]
        hz = os.sysconf("SC_CLK_TCK")

        def ticks():
            return sum(int(f[11]) + int(f[12]) for pid, _, f in proc_stats()
                       if pid in pids)

        def sent():
            return sum(self.gossip_counter(x, "shoal_gossip_sent_bytes_total")
                       for x in everyone)

        b0, c0, w0 = sent(), ticks(), time.monotonic()
        time.sleep(rest)
        b1, c1, w1 = sent(), ticks(), time.monotonic()
        secs = w1 - w0
        per_node_bytes = (b1 - b0) / secs / len(everyone)
        per_node_cpu = (c1 - c0) / hz / secs / len(everyone) * 1000
        dead = sum(self.cluster_members(x, "dead") or 0 for x in everyone)
        self.say()
        self.say("gossip: %d nodes started in %.1f s, knew each other %.1f s "
                 "after the first start" % (n, started, formed))
        self.say("gossip: one more node known to all %d in %.2f s (%.1f "
                 "rounds of 200 ms)" % (n + 1, join, join / 0.2))
        self.say("gossip: at rest over %.0f s: %.1f KB/s of gossip sent per "
                 "node (requests and answers), %.1f ms CPU per node per "
                 "second (all its processes; the metrics polls included), "
                 "%d dead in anyone's table" % (secs, per_node_bytes / 1000,
                                                 per_node_cpu, dead))
        self.notes.append("gossip (%d nodes): a new node known to all in "
                          "%.2f s; at rest %.1f KB/s and %.1f ms CPU/s per "
                          "node" % (n + 1, join, per_node_bytes / 1000,
                                    per_node_cpu))
        # Serf's model (its convergence simulator): the share informed
        # after r rounds is 1/(1 + (N+1) e^(-contact N r)), contact =
        # fanout / N * (1 - loss) / 2; rounds until 99.99 %.
        for size in (64, 1000):
            for loss in (0.0, 0.3):
                contact = 3.0 / size * (1 - loss) * 0.5
                r = 0
                while 1 / (1 + (size + 1) * math.exp(-contact * size * r)) \
                        < 0.9999:
                    r += 1
                self.say("gossip: Serf's model, %d members, %d%% loss: all "
                         "informed in %d rounds" % (size, loss * 100, r))
        sim = os.path.join(HERE, "..", "..", "build", "t",
                           "check_gossip_sim")
        if os.access(sim, os.X_OK):
            out = subprocess.run([sim], capture_output=True, timeout=600,
                                 env=dict(os.environ, CK_VERBOSITY="silent",
                                          SHOAL_SIM_NODES="1000",
                                          SHOAL_SIM_OBJECTS="10000"))
            for line in out.stdout.decode().splitlines():
                if line.startswith(("gossip sim:", "catalogue sim:")):
                    self.say(line)
        else:
            self.say("gossip: the simulator is not built (make "
                     "build/t/check_gossip_sim) : its figures are left out")
        self.check_logs(everyone)
        self.stop_servers(everyone)

    # -- the catalogue ----------------------------------------------------
    @staticmethod
    def cluster_head(name, seed):
        """The first lines of the cluster section of a member of the
        cluster `name` joining through seed (None: the first member)."""
        key = "bench-catalogue-key-" + "0123456789" * 4
        lines = ["cluster:", '  name: "%s"' % name, '  key: "%s"' % key]
        if seed is not None:
            lines += ["  seeds:", '    - "127.0.0.1:%d"' % seed.port]
        return lines

    def start_cluster(self, prefix, n, root_of, name="bench", extra=(),
                      save=True, front=None, extra_of=None):
        """n members on loopback (workers 1, io_threads 1), member i
        naming member (i-1)/2 as its seed; root_of(i) is member i's ROOT.
        Every member shares the peers' CPU but member `front`, which gets
        the server's CPU and io_threads, as the reference it is compared
        with does. extra: lines of the cluster section (and after it) of
        every member; extra_of: {i: lines} for member i, before them.
        front may be a list of members.
        Returns them once all n count n alive members."""
        def cluster(i, seed):
            return self.cluster_head(name, seed) + list(
                (extra_of or {}).get(i, ())) + list(extra)

        fronts = front if isinstance(front, (list, tuple)) else (front,)
        nodes = []
        for i in range(n):
            seed = nodes[(i - 1) // 2] if i > 0 else None
            nodes.append(self.start_shoald(
                "%s%02d" % (prefix, i), root_of(i),
                self.cpu_srv() if i in fronts else self.cpu_peer_(),
                io_threads=None if i in fronts else 1, wait=False, save=save,
                extra=cluster(i, seed)))
        for x in nodes:
            wait_port(x, "/_/health", timeout=60)
        deadline = time.monotonic() + 120
        while time.monotonic() < deadline:
            if all(self.cluster_members(x) == n for x in nodes):
                return nodes
            time.sleep(0.2)
        raise BenchError("%s: %d members did not find each other in 120 s"
                         % (prefix, n))

    def catalogued(self, s, name, holders=1):
        """Whether s's catalogue lists name with at least `holders`."""
        try:
            st, _, body = http_get(s.port, "/_/catalogue?prefix=" + name,
                                   timeout=5)
        except OSError:
            return False
        if st != 200:
            return False
        for e in json.loads(body)["names"]:
            if e["name"] == name and len(e["holders"]) >= holders:
                return True
        return False

    def case_catalogue_scale(self, root):
        """A miss of a catalogued name through a cluster of
        BENCH_CATALOGUE_MEMBERS (64) members against a miss through one
        static peer, the holder the front asks, which is the same process
        in both."""
        n = env_int("BENCH_CATALOGUE_MEMBERS", 64)
        t0 = time.monotonic()
        # Member 0 holds the file; the front is the last member. The
        # file's name is one the ranking does not give the front (it
        # would pull a replica, and its misses would be hits).
        members = ["cat%02d" % i for i in range(n)]
        name = next("4k-%d.bin" % k for k in range(1000)
                    if members[-1] not in machine.ranking(
                        "4k-%d.bin" % k, members)[:2])
        path = "/" + name
        front_root = self.make_root("root-cat-front", {})
        roots = {0: self.make_root("root-cat-holder", {name: self.small}),
                 n - 1: front_root}
        # Each member a ROOT of its own: the nodes the ranking chooses
        # pull a replica into it (a shared one would have every member
        # hold what one pulled, and remove it as too many).
        for i in range(1, n - 1):
            roots[i] = self.make_root("root-cat-%02d" % i, {})
        nodes = self.start_cluster("cat", n, lambda i: roots[i],
                                   save=False, front=n - 1)
        # The nodes the ranking chooses pull replicas: the front asks the
        # heaviest holder, and the reference asks that same process.
        held = {members[0]} | set(machine.ranking(name, members)[:2])
        asked = machine.ranking(name, sorted(held))[0]
        holder, front = nodes[members.index(asked)], nodes[-1]
        ref = self.start_shoald("cat-ref", self.make_root("root-cat-ref",
                                                          {}),
                                self.cpu_srv(), peers=[holder.port],
                                save=False)
        deadline = time.monotonic() + 60
        while not self.catalogued(front, name, holders=len(held)):
            if time.monotonic() > deadline:
                raise BenchError("catalogue-scale: the front's catalogue "
                                 "never listed %s" % name)
            time.sleep(0.2)
        self.say("catalogue-scale: %d members and the reference ready in "
                 "%.1f s" % (n, time.monotonic() - t0))
        for x in (ref, front):
            verify(x, path, self.small)
        if [f for f in os.listdir(front_root) if not f.startswith(".")]:
            raise BenchError("catalogue-scale: the front holds %s: its "
                             "misses would be hits" % name)
        others = [p for x in nodes[:-1] if x is not holder
                  for p in x.pids()]
        sides = [("static-1", ref, ref.pids(), holder.pids()),
                 ("members-%d" % n, front, front.pids(),
                  holder.pids() + others)]
        rows = self.compare_multi(
            "catalogue-scale", "miss latency of a catalogued name, 1 "
            "connection (wrk -c1): a front in a cluster of %d members (the "
            "holder and %d empty nodes, gossiping) against a front with "
            "the holder as its only static peer; save: false" % (n, n - 2),
            sides, {1: 0}, path, 1,
            LATENCY_COLUMNS + [
                ("peer_cpu_us_req", "peers cpu us/req", 1, "%.1f")],
            SMALL)
        mean = statistics.median(f[1]["mean_ms"] / f[0]["mean_ms"]
                                 for f in rows)
        cpu = statistics.median(f[1]["cpu_us_req"] / f[0]["cpu_us_req"]
                                for f in rows)
        # A front in a cluster spends CPU at rest too (its agent's gossip
        # rounds, the exchanges its worker answers), whether misses come
        # or not: per request it weighs the more the fewer requests a
        # round made. What a miss itself costs is the CPU per request net
        # of that, each front's rest measured alone after the rounds.
        rest = []
        for _, _, pids, _ in sides:
            before = cpu_seconds(pids)
            time.sleep(REST_SECONDS)
            rest.append((cpu_seconds(pids) - before) * 1e6 / REST_SECONDS)
        net = [[f[i]["cpu_us_req"] - rest[i] / f[i]["rps"] for i in (0, 1)]
               for f in rows]
        ratios = [x[1] / x[0] for x in net if x[0] > 0]
        self.say("catalogue-scale: front cpu at rest %.1f ms/s (static-1) "
                 "and %.1f ms/s (members-%d); net of it, us/req by round: "
                 "%s" % (rest[0] / 1000, rest[1] / 1000, n, ", ".join(
                     "%.1f / %.1f" % (x[1], x[0]) for x in net)))
        if ratios:
            self.results.append((
                "catalogue-scale", "front cpu net of rest",
                "members-%d/static-1" % n,
                "%.1f" % statistics.median(x[1] for x in net),
                "%.1f" % statistics.median(x[0] for x in net),
                min(ratios), statistics.median(ratios), max(ratios)))
        self.notes.append("catalogue-scale (%d members / 1 static peer, "
                          "medians): %.2fx latency, %.2fx front cpu, %.2fx "
                          "front cpu net of its rest (target <= 1.25)" % (
                              n, mean, cpu, statistics.median(ratios)
                              if ratios else float("nan")))
        servers = nodes + [ref]
        self.check_logs(servers)
        self.stop_servers(servers)

    def case_spread(self, root):
        """BENCH_SPREAD_NODES (16) members, BENCH_SPREAD_UPLOADS (100)
        uploads of 4 KiB, each at the next member: the time from the 201
        until every member serves it (all polled at once, every 5 ms),
        and until the origin's catalogue lists cluster.replicas holders."""
        n = env_int("BENCH_SPREAD_NODES", 16)
        count = env_int("BENCH_SPREAD_UPLOADS", 100)
        empty_roots = [self.make_root("root-spread-%02d" % i, {})
                       for i in range(n)]
        nodes = self.start_cluster("spread", n, lambda i: empty_roots[i])
        body = os.urandom(SMALL)
        readable, replicated = [], []
        for k in range(count):
            origin = nodes[k % n]
            name = "spread-%03d" % k
            req = urllib.request.Request(
                "http://127.0.0.1:%d/%s" % (origin.port, name), data=body,
                method="PUT")
            with urllib.request.urlopen(req, timeout=30) as r:
                if r.status != 201:
                    raise BenchError("spread: PUT answered %d" % r.status)
            t0 = time.monotonic()
            times = [None] * n

            def poll(i):
                deadline = t0 + 30
                while time.monotonic() < deadline:
                    try:
                        st, _, got = http_get(nodes[i].port, "/" + name,
                                              timeout=5)
                    except OSError:
                        st = 0
                    if st == 200 and got == body:
                        times[i] = time.monotonic() - t0
                        return
                    time.sleep(0.005)

            threads = [threading.Thread(target=poll, args=(i,))
                       for i in range(n)]
            for t in threads:
                t.start()
            for t in threads:
                t.join()
            if None in times:
                raise BenchError("spread: %s not readable everywhere in "
                                 "30 s" % name)
            readable.append(max(times))
            while not self.catalogued(origin, name, 2):
                if time.monotonic() - t0 > 30:
                    raise BenchError("spread: %s never had 2 holders" %
                                     name)
                time.sleep(0.01)
            replicated.append(time.monotonic() - t0)

        def pct(xs, q):
            xs = sorted(xs)
            return xs[min(len(xs) - 1, int(round(q * (len(xs) - 1))))]

        self.say("== spread: %d members, %d uploads of %d bytes, one node "
                 "after another" % (n, count, SMALL))
        self.say("spread: readable at every member after the 201: p50 "
                 "%.0f ms, p99 %.0f ms, max %.0f ms (target p99 <= 1000)" % (
                     pct(readable, .5) * 1000, pct(readable, .99) * 1000,
                     max(readable) * 1000))
        self.say("spread: 2 holders in the origin's catalogue: p50 %.0f ms, "
                 "p99 %.0f ms, max %.0f ms (the poll of every member "
                 "before it included)" % (
                     pct(replicated, .5) * 1000,
                     pct(replicated, .99) * 1000, max(replicated) * 1000))
        self.notes.append("spread (%d members, %d uploads): readable "
                          "everywhere p99 %.0f ms; 2 holders p99 %.0f ms" % (
                              n, count, pct(readable, .99) * 1000,
                              pct(replicated, .99) * 1000))
        self.check_logs(nodes)
        self.stop_servers(nodes)

    # -- hits with a million files in ROOT ----------------------------------
    def fill_dir(self, d, count, mode, tag):
        """count more names in directory d, f0000000 f0000001 ...: empty
        files ("empty": one inode each, no data block) or hard links to a
        few empty files kept outside d ("link": no inode and no block per
        name; a new source every LINKS_PER_SOURCE links, ext4 allowing
        65000 per inode)."""
        dfd = os.open(d, os.O_RDONLY | os.O_DIRECTORY | os.O_CLOEXEC)
        try:
            if mode == "empty":
                flags = os.O_WRONLY | os.O_CREAT | os.O_EXCL | os.O_CLOEXEC
                for i in range(count):
                    os.close(os.open("f%07d" % i, flags, 0o644,
                                     dir_fd=dfd))
                return
            src = None
            for i in range(count):
                if i % LINKS_PER_SOURCE == 0:
                    src = os.path.join(self.tmp, "growth-src-%s-%d" % (
                        tag, i // LINKS_PER_SOURCE))
                    os.close(os.open(src, os.O_WRONLY | os.O_CREAT |
                                     os.O_EXCL, 0o644))
                os.link(src, "f%07d" % i, dst_dir_fd=dfd)
        finally:
            os.close(dfd)

    def case_growth(self, root):
        """local-4k hits with 100 files in ROOT against 1,000,000
        (BENCH_GROWTH_FILES): the same 4 KiB file, 64 connections; shoald
        and nginx each on both directories, alternating."""
        n = env_int("BENCH_GROWTH_FILES", GROWTH_FILES)
        mode = os.environ.get("BENCH_GROWTH_FILL", "") or "empty"
        if mode not in ("empty", "link"):
            raise BenchError("BENCH_GROWTH_FILL is empty or link, not %r" %
                             mode)
        if n <= GROWTH_SMALL:
            raise BenchError("BENCH_GROWTH_FILES must be more than %d" %
                             GROWTH_SMALL)
        big = "1M" if n == 1000000 else "%dk" % (n // 1000) \
            if n % 1000 == 0 else str(n)
        # Empty files take an inode each; hard links only one per
        # LINKS_PER_SOURCE names.
        need = int(GROWTH_INODES * n) if mode == "empty" else \
            n // LINKS_PER_SOURCE + 1000
        favail = os.statvfs(self.tmp).f_favail
        if favail < need:
            self.say("== growth: SKIPPED: %d free inodes on the file system "
                     "of %s; %d files (%s) need %d" % (
                         favail, self.tmp, n, mode, need))
            self.say()
            return
        small_root = self.make_root("root-growth-%d" % GROWTH_SMALL,
                                    {"4k.bin": self.small})
        big_root = self.make_root("root-growth-%s" % big,
                                  {"4k.bin": self.small})
        t0 = time.monotonic()
        self.fill_dir(small_root, GROWTH_SMALL - 1, mode, "small")
        self.fill_dir(big_root, n - 1, mode, "big")
        made = time.monotonic() - t0
        self.say("growth: %d + %d names made in %.1f s (%s: %s); %d free "
                 "inodes before" % (
                     GROWTH_SMALL - 1, n - 1, made, mode,
                     "empty files, one inode each, no data block"
                     if mode == "empty" else "hard links to empty files, "
                     "%d per source" % LINKS_PER_SOURCE, favail))
        s1 = self.start_shoald("g%d" % GROWTH_SMALL, small_root,
                               self.cpu_srv())
        s2 = self.start_shoald("g%s" % big, big_root, self.cpu_srv())
        n1 = self.start_nginx("g%d" % GROWTH_SMALL, self.cpu_srv(),
                              root=small_root)
        n2 = self.start_nginx("g%s" % big, self.cpu_srv(), root=big_root)
        for x in (n1, n2):
            wait_port(x, "/4k.bin")
        for x in (s1, s2, n1, n2):
            verify(x, "/4k.bin", self.small)
        sides = [("shoald-%d" % GROWTH_SMALL, s1, s1.pids()),
                 ("shoald-%s" % big, s2, s2.pids()),
                 ("nginx-%d" % GROWTH_SMALL, n1, n1.pids()),
                 ("nginx-%s" % big, n2, n2.pids())]
        rows = self.compare_multi(
            "growth", "GET /4k.bin (4 KiB), 64 connections, wrk -t1, with "
            "%d files in ROOT against %d (%s); shoald and nginx each on "
            "both; ratios %s/%d" % (GROWTH_SMALL, n, mode, big,
                                    GROWTH_SMALL),
            sides, {1: 0, 3: 2}, "/4k.bin", 64, RATE_COLUMNS, SMALL)
        self.growth_verdict("hot file", big, rows)
        # The same, each request for a random one of ROOT's empty files:
        # every file of ROOT is in the working set, so with a million the
        # open-file caches of both servers miss almost always.
        s1.spread = n1.spread = GROWTH_SMALL - 1
        s2.spread = n2.spread = n - 1
        rows = self.compare_multi(
            "growth-spread", "GET of a random one of ROOT's empty files, "
            "64 connections, wrk -t1, with %d files in ROOT against %d; "
            "ratios %s/%d" % (GROWTH_SMALL, n, big, GROWTH_SMALL),
            sides, {1: 0, 3: 2}, SPREAD_PATH, 64, RATE_COLUMNS, None)
        self.growth_verdict("spread", big, rows)
        self.strace_section(sides, "/4k.bin", 64)
        self.check_logs([s1, s2, n1, n2])
        self.stop_servers([n2, n1, s2, s1])
        # Once, at the end: removing a million names takes a while.
        t0 = time.monotonic()
        shutil.rmtree(big_root)
        shutil.rmtree(small_root)
        for f in os.listdir(self.tmp):
            if f.startswith("growth-src-"):
                os.unlink(os.path.join(self.tmp, f))
        self.say("growth: the files removed in %.1f s" % (
            time.monotonic() - t0))
        self.say()

    def growth_verdict(self, what, big, rows):
        med = statistics.median(f[1]["rps"] / f[0]["rps"] for f in rows)
        ngx = statistics.median(f[3]["rps"] / f[2]["rps"] for f in rows)
        verdict = "met" if med >= 0.9 else "NOT MET"
        self.say("%s: shoald req/s with %s files / with %d: median %.3f: "
                 "target >= 0.9 %s (nginx: %.3f)" % (
                     what, big, GROWTH_SMALL, med, verdict, ngx))
        self.notes.append("growth (%s) req/s %s/%d files: shoald %.3f "
                          "(target >= 0.9: %s), nginx %.3f" % (
                              what, big, GROWTH_SMALL, med, verdict, ngx))

    # -- rounds that are not wrk runs ----------------------------------------
    def table_rounds(self, case, what, labels, rounds, run_round, metrics,
                     warm=None):
        """Like compare(), for cases whose runs are not wrk runs (uploads,
        one slow download). run_round(r) returns ([figs of a, figs of b],
        extra text for the row); figs hold the metrics' keys and "foreign"
        (see foreign_delta). metrics: [(key, label, scale, fmt, ratio?)];
        metrics without a ratio show a and b only. With one side only
        (labels of length 1), only its figures."""
        self.say("== %s: %s" % (case, what))
        if warm is not None:
            warm()
        w = 10
        two = len(labels) == 2
        cols = []
        for m in metrics:
            width = (2 * w + 1 + (8 if m[4] else 0)) if two else w
            cols.append(width)
        self.say("%-5s" % "" + "".join(
            " | %-*s" % (c, m[1]) for c, m in zip(cols, metrics)))
        hdr = "%-5s" % "round"
        for m in metrics:
            if two:
                hdr += " | %*s %*s" % (w, labels[0], w, labels[1])
                if m[4]:
                    hdr += " %7s" % "ratio"
            else:
                hdr += " | %*s" % (w, labels[0])
        self.say(hdr)
        rows = []
        for r in range(1, rounds + 1):
            figs, extra = run_round(r)
            rows.append(figs)
            line = "%-5d" % r
            for key, _, scale, fmt, ratio in metrics:
                a = figs[0][key] * scale
                if not two:
                    line += " | %*s" % (w, fmt % a)
                    continue
                b = figs[1][key] * scale
                line += " | %*s %*s" % (w, fmt % a, w, fmt % b)
                if ratio:
                    line += " %7.3f" % (a / b if b else float("nan"))
            if extra:
                line += "  " + extra
            line += self.disturbance(figs)
            self.say(line)
        for key, mlabel, scale, fmt, ratio in metrics:
            a = [f[0][key] * scale for f in rows]
            if not two or not ratio:
                continue
            b = [f[1][key] * scale for f in rows]
            ratios = [x / y for x, y in zip(a, b) if y]
            if not ratios:
                continue
            self.results.append((case, mlabel, "%s/%s" % tuple(labels),
                                 fmt % statistics.median(a),
                                 fmt % statistics.median(b),
                                 min(ratios), statistics.median(ratios),
                                 max(ratios)))
        return rows

    def helper(self, args, cpu, log_name):
        """bench.py itself as a helper process (--slow-client,
        --blackhole), in its own session, stdout piped; stopped at the
        end like everything else."""
        argv = self.taskset(cpu) + [sys.executable, os.path.abspath(
            __file__)] + args
        with open(os.path.join(self.tmp, log_name), "ab") as err:
            p = subprocess.Popen(argv, stdin=subprocess.DEVNULL,
                                 stdout=subprocess.PIPE, stderr=err,
                                 start_new_session=True)
        self.children.append(p)
        return p

    def end_helper(self, p):
        kill_group(p)
        if p.stdout is not None:
            p.stdout.close()
        self.children.remove(p)

    # -- fan-out with a black-holed peer -----------------------------------
    def case_fanout_blackhole(self, root):
        """A hit through 16 peers, one of them a black hole (asked first,
        never answers), against the same 16 peers with an ordinary empty
        node in its place."""
        modes = [m.strip() for m in (os.environ.get("BENCH_BLACKHOLE", "")
                                     or "accept,listen").split(",")
                 if m.strip()]
        for m in modes:
            if m not in ("accept", "listen"):
                raise BenchError("BENCH_BLACKHOLE: %r is not accept or "
                                 "listen" % m)
        empties, holder = self.start_fanout_peers("bh-", root)
        ref = self.start_shoald("fanout16-ref", self.make_root(
            "root-bh-ref", {}), self.cpu_srv(),
            peers=[e.port for e in empties] + [holder.port], save=False)
        verify(ref, "/4k.bin", self.small)
        for mode in modes:
            port = free_port()
            bh = self.helper(["--blackhole", str(port), mode],
                             self.cpu_peer_(), "blackhole-%s.log" % mode)
            if bh.stdout.readline().strip() != b"READY":
                raise BenchError("the black hole (%s) did not start" % mode)
            a = self.start_shoald("fanout16-bh-" + mode, self.make_root(
                "root-bh-" + mode, {}), self.cpu_srv(),
                peers=[port] + [e.port for e in empties[1:]] +
                [holder.port], save=False)
            verify(a, "/4k.bin", self.small)
            sides = [("black-hole", a, a.pids()), ("no-bh", ref, ref.pids())]
            what = {"accept": "accepts, reads, never answers",
                    "listen": "listens, never accepts (backlog 8)"}[mode]
            self.compare("fanout-bh-" + mode, "hit latency, 1 connection, "
                         "16 peers: one black hole asked first (%s), 14 "
                         "empty, the holder last, vs the same with an "
                         "empty node instead of the black hole" % what,
                         sides, "/4k.bin", 1, LATENCY_COLUMNS, SMALL)
            self.strace_section(sides, "/4k.bin", 1)
            if bh.poll() is not None:
                raise BenchError("the black hole (%s) exited" % mode)
            self.check_logs([a])
            self.stop_servers([a])
            self.end_helper(bh)
        self.check_logs([ref, holder] + empties)
        self.stop_servers([ref, holder] + empties)

    # -- upload ---------------------------------------------------------------
    def upload_once(self, server, root, name, src, size, worker,
                    strace_out=None):
        """PUT src to server as /name with the upload client (curl -T, or
        bench.py --put-client: sendfile); returns the figures. The
        stored file is checked (size) and fsynced afterwards, timed: shoald
        answers only once the file is on disk, nginx before; the fsync
        makes the durable figures comparable."""
        url = "http://127.0.0.1:%d/%s" % (server.port, name)
        pin = self.taskset(self.cpu_client if self.pin else None)
        if self.upload_client == "curl":
            # -H "Expect:": no 100-continue round trip (both servers
            # support it; the suite tests it; here only the throughput
            # counts).
            argv = pin + [
                "curl", "-sS", "-H", "Expect:", "-T", src, "-o",
                "/dev/null", "--max-time", "900", "-w",
                "CURL %{http_code} %{size_upload} %{time_total}", url]
        else:
            argv = pin + [sys.executable, os.path.abspath(__file__),
                          "--put-client", str(server.port), name, src]
        os.sync()
        st = None
        if strace_out is not None:
            sargv = ["strace", "-c", "-f", "-o", strace_out, "-p",
                     str(worker)]
            st = subprocess.Popen(sargv, stdin=subprocess.DEVNULL,
                                  stdout=subprocess.DEVNULL,
                                  stderr=subprocess.DEVNULL,
                                  start_new_session=True)
            self.children.append(st)
            time.sleep(0.5)
        others = user_ticks()
        cpu0 = cpu_seconds(server.pids())
        ru = resource.getrusage(resource.RUSAGE_CHILDREN)
        cl0 = ru.ru_utime + ru.ru_stime
        sampler = RssSampler(worker)
        sampler.start()
        t0 = time.monotonic()
        p = subprocess.Popen(argv, stdin=subprocess.DEVNULL,
                             stdout=subprocess.PIPE, stderr=subprocess.STDOUT,
                             start_new_session=True)
        try:
            out, _ = p.communicate(timeout=960)
        except subprocess.TimeoutExpired:
            kill_group(p)
            sampler.stop()
            raise BenchError("the PUT to %s did not finish" % server.name)
        except BaseException:
            kill_group(p)
            sampler.stop()
            raise
        wall = time.monotonic() - t0
        rss_before, rss_peak, rss_growth = sampler.stop()
        cpu = cpu_seconds(server.pids()) - cpu0
        ru = resource.getrusage(resource.RUSAGE_CHILDREN)
        curl_cpu = ru.ru_utime + ru.ru_stime - cl0
        foreign = foreign_delta(others, user_ticks(), wall)
        if st is not None:
            st.send_signal(signal.SIGINT)
            try:
                st.wait(10)
            except subprocess.TimeoutExpired:
                kill_group(st)
            self.children.remove(st)
        out = out.decode("utf-8", "replace")
        m = re.search(r"CURL (\d+) (\d+) ([\d.]+)", out)
        if p.returncode != 0 or not m:
            raise BenchError("the PUT to %s failed (%s):\n%s\n%s" % (
                server.name, p.returncode, out, server.log_tail()))
        code, sent, total = int(m.group(1)), int(m.group(2)), \
            float(m.group(3))
        if code != 201 or sent != size:
            raise BenchError("PUT to %s: status %d after %d of %d bytes, "
                             "not 201 after all:\n%s" % (
                                 server.name, code, sent, size,
                                 server.log_tail()))
        if root is None:
            # Striped: the 201 came once every part was fsynced on its
            # store and the manifest committed; nothing is in the front's
            # ROOT to look at or sync.
            return self.upload_figures(size, total, 0.0, cpu, rss_before,
                                       rss_peak, rss_growth, curl_cpu,
                                       foreign)
        path = os.path.join(root, name)
        try:
            stored = os.stat(path).st_size
        except OSError as e:
            raise BenchError("%s answered 201 but %s is not there: %s" % (
                server.name, path, e))
        if stored != size:
            raise BenchError("%s stored %d bytes of %d" % (
                server.name, stored, size))
        t1 = time.monotonic()
        fd = os.open(path, os.O_RDONLY)
        try:
            os.fsync(fd)
        finally:
            os.close(fd)
        fd = os.open(root, os.O_RDONLY | os.O_DIRECTORY)
        try:
            os.fsync(fd)
        finally:
            os.close(fd)
        fsync_s = time.monotonic() - t1
        return self.upload_figures(size, total, fsync_s, cpu, rss_before,
                                   rss_peak, rss_growth, curl_cpu, foreign)

    @staticmethod
    def upload_figures(size, total, fsync_s, cpu, rss_before, rss_peak,
                       rss_growth, curl_cpu, foreign):
        return {
            "mbps": size / total / 1e6,
            "mbps_durable": size / (total + fsync_s) / 1e6,
            "seconds": total,
            "fsync_s": fsync_s,
            "cpu_ms_gib": cpu * 1e3 / (size / GIB),
            "rss_before_kib": rss_before,
            "rss_peak_kib": rss_peak,
            "rss_growth_mib": rss_growth / 1024,
            "client_cpu_pct": 100 * curl_cpu / total,
            "foreign": foreign,
        }

    def get_once(self, server, name, size, worker):
        """GET /name from server with curl into /dev/null: MB/s, the
        server's CPU per GiB and its worker's RSS growth."""
        pin = self.taskset(self.cpu_client if self.pin else None)
        argv = pin + ["curl", "-sS", "-o", "/dev/null", "--max-time", "900",
                      "-w", "CURL %{http_code} %{size_download} "
                      "%{time_total}",
                      "http://127.0.0.1:%d/%s" % (server.port, name)]
        others = user_ticks()
        cpu0 = cpu_seconds(server.pids())
        sampler = RssSampler(worker)
        sampler.start()
        t0 = time.monotonic()
        out = subprocess.run(argv, capture_output=True, timeout=960).stdout
        wall = time.monotonic() - t0
        _, _, growth = sampler.stop()
        cpu = cpu_seconds(server.pids()) - cpu0
        m = re.search(r"CURL (\d+) (\d+) ([\d.]+)", out.decode())
        if not m or int(m.group(1)) != 200 or int(m.group(2)) != size:
            raise BenchError("GET of %s at %s: %s\n%s" % (
                name, server.name, out.decode(), server.log_tail()))
        return {"mbps": size / float(m.group(3)) / 1e6,
                "cpu_ms_gib": cpu * 1e3 / (size / GIB),
                "rss_growth_mib": growth / 1024,
                "foreign": foreign_delta(others, user_ticks(), wall)}

    def dd_ceiling(self, src, dst):
        """What the machine gives a plain copy of the same file into a new
        file on the same file system, fsync included (dd bs=256K
        conv=fsync, on the server's CPU): MB/s."""
        argv = self.taskset(self.cpu_srv()) + [
            "dd", "if=" + src, "of=" + dst, "bs=256K", "conv=fsync",
            "status=none"]
        os.sync()
        t0 = time.monotonic()
        r = subprocess.run(argv, stdin=subprocess.DEVNULL,
                           capture_output=True, timeout=900)
        secs = time.monotonic() - t0
        if r.returncode != 0:
            raise BenchError("dd failed: %s" % r.stderr.decode(
                "utf-8", "replace"))
        size = os.stat(dst).st_size
        return size / secs / 1e6

    def case_upload_1g(self, root):
        size = env_size("BENCH_UPLOAD_SIZE", GIB)
        rounds = env_int("BENCH_UPLOAD_ROUNDS", 3)
        label = "upload-1g" if size == GIB else "upload-%dm" % (size >> 20)
        free = free_bytes(self.tmp)
        if free < UPLOAD_MIN_FREE:
            self.say("== %s: SKIPPED: only %.2f GiB free on the file system "
                     "of %s; the case needs 4 GiB (the file, one upload per "
                     "side and the dd copy at once)" % (
                         label, free / GIB, self.tmp))
            self.say()
            return
        if self.upload_client == "curl" and shutil.which("curl") is None:
            raise BenchError("curl is not installed (t/bench/run.sh "
                             "installs it)")
        # The file to send, once, on the file system of both roots: the
        # client reads it from the page cache.
        src = os.path.join(self.tmp, "upload-src.bin")
        with open(src, "wb") as f:
            left = size
            while left > 0:
                n = min(left, 8 << 20)
                f.write(os.urandom(n))
                left -= n
        sroot = self.make_root("root-upload-shoald", {})
        nroot = self.make_root("root-upload-nginx", {"ready": b"ready\n"})
        ddir = self.make_root("upload-dd", {})
        if os.getuid() == 0:
            # nginx's worker runs as nobody: it must write into its root.
            import pwd
            nobody = pwd.getpwnam("nobody")
            os.chown(nroot, nobody.pw_uid, nobody.pw_gid)
        # Fresh servers: their workers' VmHWM covers this case only.
        s = self.start_shoald("upload", sroot, self.cpu_srv())
        n = self.start_ref("upload", self.cpu_srv(), root=nroot, dav=True)
        wait_port(n, "/ready")
        sw, nw = s.worker_pids(), n.worker_pids()
        if len(sw) != 1 or len(nw) != 1:
            raise BenchError("expected one worker each, not %s and %s" % (
                sw, nw))
        sides = [("shoald", s, sroot, sw[0]),
                 (self.ref_label, n, nroot, nw[0])]
        uploaded = []

        def clear():
            # Bounded disk use: only one upload is ever kept.
            for path in uploaded:
                try:
                    os.unlink(path)
                except FileNotFoundError:
                    pass
            del uploaded[:]

        def warm():
            if not self.warmup:
                return
            for label_, server, r, worker in sides:
                clear()
                self.upload_once(server, r, "warm.bin", src, size, worker)
                uploaded.append(os.path.join(r, "warm.bin"))
                # Once, the whole content: what was stored is what was
                # sent.
                if not filecmp_eq(src, os.path.join(r, "warm.bin")):
                    raise BenchError("%s stored other bytes than were "
                                     "sent" % server.name)
            clear()

        def run_round(r):
            figs = []
            for label_, server, rt, worker in sides:
                clear()
                name = "up-%d.bin" % r
                figs.append(self.upload_once(server, rt, name, src, size,
                                             worker))
                uploaded.append(os.path.join(rt, name))
            clear()
            dd = self.dd_ceiling(src, os.path.join(ddir, "dd.bin"))
            uploaded.append(os.path.join(ddir, "dd.bin"))
            clear()
            return figs, "dd %.0f MB/s" % dd

        note = page_reporting_note()
        rows = self.table_rounds(
            label, "PUT of a %d MiB file with %s (1 connection), a new "
            "name each time, the previous upload "
            "deleted first; nginx WebDAV (dav_methods PUT, "
            "client_body_buffer_size %s, temp file on the same file "
            "system); durable = until the 201 plus an fsync of the file "
            "and of its directory (shoald syncs before its 201, nginx does "
            "not)" % (size >> 20, {
                "curl": "curl -T (Expect: off)",
                "sendfile": "a Python client sending with sendfile(2) "
                "and Content-Length"}[self.upload_client],
                NGINX_BODY_BUFFER),
            ["shoald", self.ref_label], rounds, run_round, [
                ("mbps", "MB/s (until 201)", 1, "%.0f", True),
                ("mbps_durable", "MB/s durable", 1, "%.0f", True),
                ("cpu_ms_gib", "server cpu ms/GiB", 1, "%.0f", True),
                ("rss_growth_mib", "worker RSS growth MiB", 1, "%.2f",
                 False),
                ("client_cpu_pct", "client cpu %", 1, "%.0f", False)],
            warm=warm)
        if note:
            self.say(note)
        rss = []
        for i, (lab, server, rt, worker) in enumerate(sides):
            hwm = (proc_status_kib(worker, "VmHWM") or 0) / 1024
            grow = max(f[i]["rss_growth_mib"] for f in rows)
            rss.append("%s VmHWM %.1f MiB, growth <= %.2f MiB" % (
                lab, hwm, grow))
            self.say("%s worker: VmHWM %.1f MiB over its life (fresh for "
                     "this case), largest VmRSS growth during an upload "
                     "%.2f MiB (sampled every %d ms)" % (
                         lab, hwm, grow, RSS_PERIOD * 1000))
        self.notes.append("%s worker RSS: %s" % (label, "; ".join(rss)))
        if self.strace and shutil.which("strace"):
            self.say("syscalls per MiB uploaded (strace -c -f on the "
                     "worker, one upload each; strace slows the server):")
            tables = []
            for lab, server, rt, worker in sides:
                clear()
                out = os.path.join(self.tmp, "strace-upload-%s.txt" % lab)
                self.upload_once(server, rt, "strace.bin", src, size, worker,
                                 strace_out=out)
                uploaded.append(os.path.join(rt, "strace.bin"))
                tables.append((lab, read_strace_counts(out) or {}))
            clear()
            names = []
            for _, counts in tables:
                for k, v in sorted(counts.items(), key=lambda kv: -kv[1]):
                    if v / (size / MIB) >= 0.01 and k not in names:
                        names.append(k)
            self.say("  %-20s" % "syscall" + "".join(
                "%12s" % lab for lab, _ in tables))
            for k in names:
                self.say("  %-20s" % k + "".join(
                    "%12.2f" % (c.get(k, 0) / (size / MIB))
                    for _, c in tables))
            self.say("  %-20s" % "total" + "".join(
                "%12.2f" % (sum(c.values()) / (size / MIB))
                for _, c in tables))
        self.say()
        clear()
        self.check_logs([s, n])
        self.stop_servers([s, n])
        os.unlink(src)

    # -- striping -------------------------------------------------------
    def case_stripe(self, root):
        """A front (store: false) and six stores, the front on the
        server's CPU, the stores on the peers': PUT and GET of
        BENCH_STRIPE_SIZE (1 GiB) through the front, striped, against
        the same through one node that keeps it whole; then
        BENCH_STRIPE_UPLOADS (100) uploads of random sizes through the
        front and the spread of the stores' fill ratios (each store
        offers BENCH_STRIPE_CAPACITY, 4 GiB)."""
        size = env_size("BENCH_STRIPE_SIZE", GIB)
        uploads = env_int("BENCH_STRIPE_UPLOADS", 100)
        cap = env_size("BENCH_STRIPE_CAPACITY", 4 * GIB)
        stripe = ["stripe:", "  min_size: 1MiB"]
        nodes = self.start_cluster(
            "st", 7, lambda i: self.make_root("root-st-%d" % i, {}),
            name="bench-stripe", save=False, front=0,
            extra=["  capacity: %d" % cap] + stripe,
            extra_of={0: ["  store: false"]})
        front, stores = nodes[0], nodes[1:]
        single_root = self.make_root("root-st-single", {})
        single = self.start_shoald("st-single", single_root, self.cpu_srv(),
                                   save=False)
        src = os.path.join(self.tmp, "stripe-src.bin")
        with open(src, "wb") as f:
            f.write(os.urandom(MIB))
            f.truncate(size)
        sides = [("striped", front, None, front.worker_pids()[0]),
                 ("one node", single, single_root,
                  single.worker_pids()[0])]

        def run_round(r):
            name = "st-%d.bin" % r
            puts = [self.upload_once(x, rt, name, src, size, w)
                    for _, x, rt, w in sides]
            gets = [self.get_once(x, name, size, w) for _, x, _, w in sides]
            for (_, x, rt, _), fig in zip(sides, gets):
                if rt is not None:
                    os.unlink(os.path.join(rt, name))
            return [dict(put_mbps=p["mbps"], put_cpu=p["cpu_ms_gib"],
                         put_rss=p["rss_growth_mib"], get_mbps=g["mbps"],
                         get_cpu=g["cpu_ms_gib"], get_rss=g["rss_growth_mib"],
                         foreign=max(p["foreign"], g["foreign"]))
                    for p, g in zip(puts, gets)], ""

        rows = self.table_rounds(
            "stripe", "PUT then GET of a %d MiB file (sparse, a Python "
            "sendfile client; curl for the GET) through a front striping "
            "it over 6 stores (1 MiB blocks), against one node keeping it "
            "whole; the front and the single node on the server's CPU, the "
            "stores and the clients on the other" % (size >> 20),
            [s[0] for s in sides], self.rounds, run_round, [
                ("put_mbps", "PUT MB/s", 1, "%.0f", True),
                ("get_mbps", "GET MB/s", 1, "%.0f", True),
                ("put_cpu", "PUT cpu ms/GiB", 1, "%.0f", True),
                ("get_cpu", "GET cpu ms/GiB", 1, "%.0f", True),
                ("put_rss", "PUT RSS growth MiB", 1, "%.2f", False),
                ("get_rss", "GET RSS growth MiB", 1, "%.2f", False)])
        # The fill: uploads of random sizes, then each store's fill ratio.
        rng = random.Random(20261203)
        piece = os.path.join(self.tmp, "stripe-piece.bin")
        for k in range(uploads):
            n = rng.randrange(MIB, 24 * MIB)
            with open(piece, "wb") as f:
                f.write(os.urandom(4096))
                f.truncate(n)
            self.upload_once(front, None, "fill-%d.bin" % k, piece, n,
                             sides[0][3])
        fills = []
        for x in stores:
            st, _, body = http_get(x.port, "/_/metrics")
            used = [float(line.split()[-1]) for line in
                    body.decode().splitlines() if line.startswith(
                        'shoal_stripe_part_bytes{state="disk"}')]
            fills.append(100.0 * (used[0] if used else 0) / cap)
        spread = max(fills) - min(fills)
        self.say("stripe: fill of the 6 stores after %d uploads of 1 to 24 "
                 "MiB: %s %% (spread %.2f percentage points; target <= 5)"
                 % (uploads, " ".join("%.2f" % f for f in fills), spread))
        put = statistics.median(r[0]["put_mbps"] / r[1]["put_mbps"]
                                for r in rows)
        get = statistics.median(r[0]["get_mbps"] / r[1]["get_mbps"]
                                for r in rows)
        rss = max(max(r[0]["put_rss"], r[0]["get_rss"]) for r in rows)
        self.notes.append("stripe (%d MiB, medians): put %.2fx, get %.2fx "
                          "one node (targets 0.5, 0.7); front worker RSS "
                          "growth <= %.1f MiB (target < 32); fill spread "
                          "%.2f points after %d uploads (target <= 5)" % (
                              size >> 20, put, get, rss, spread, uploads))
        os.unlink(src)
        if uploads:
            os.unlink(piece)
        servers = nodes + [single]
        self.check_logs(servers)
        self.stop_servers(servers)

    def case_stripe_parity(self, root):
        """Parity (stripe.parity 2) in a cluster of eight stores, so that
        every object has a part on every store, and two fronts on the
        server's CPU: one with parity 2, one with parity 0. Each round
        PUTs BENCH_STRIPE_SIZE (1 GiB) through both (the difference of
        their CPU per GiB is the encoding) and GETs the parity object
        with every store up. Then two stores are killed and every parity
        object is read again (two parts of each rebuilt on the fly: GET
        with two stores down against all up, target >= 0.7), and two
        empty stores join: the time until no object is degraded is the
        time to heal the lost parts."""
        size = env_size("BENCH_STRIPE_SIZE", GIB)
        cap = env_size("BENCH_STRIPE_CAPACITY", 16 * GIB)

        def stripe(parity):
            return ["stripe:", "  min_size: 1MiB", "  parity: %d" % parity]
        store = ["  capacity: %d" % cap]
        extra_of = {0: ["  store: false"] + stripe(2),
                    1: ["  store: false"] + stripe(0)}
        for i in range(2, 10):
            extra_of[i] = store + stripe(2)
        nodes = self.start_cluster(
            "sp", 10, lambda i: self.make_root("root-sp-%d" % i, {}),
            name="bench-parity", save=False, front=[0, 1],
            extra_of=extra_of)
        f2, f0, stores = nodes[0], nodes[1], nodes[2:]
        src = os.path.join(self.tmp, "parity-src.bin")
        with open(src, "wb") as f:
            f.write(os.urandom(MIB))
            f.truncate(size)
        for x in (f2, f0):
            # Members alive reach the workers' peer sets a moment later.
            deadline = time.monotonic() + 30
            while http_put(x.port, "/warm-%s" % x.name, b"w" * MIB) != 201:
                if time.monotonic() > deadline:
                    raise BenchError("%s: no striped upload in 30 s\n%s"
                                     % (x.name, x.log_tail()))
                time.sleep(0.2)
        w2, w0 = f2.worker_pids()[0], f0.worker_pids()[0]
        self.say("== stripe-parity: PUT of a %d MiB file through a front "
                 "with parity 2 and one with parity 0 (8 stores), GET of "
                 "the parity object with all stores up" % (size >> 20))
        self.say("%-5s | %12s %12s | %12s %12s | %10s %12s" % (
            "round", "PUT2 MB/s", "PUT0 MB/s", "PUT2 ms/GiB", "PUT0 ms/GiB",
            "GET MB/s", "GET ms/GiB"))
        rows = []
        for r in range(1, self.rounds + 1):
            p2 = self.upload_once(f2, None, "p2-%d.bin" % r, src, size, w2)
            p0 = self.upload_once(f0, None, "p0-%d.bin" % r, src, size, w0)
            g = self.get_once(f2, "p2-%d.bin" % r, size, w2)
            rows.append((p2, p0, g))
            self.say("%-5d | %12.0f %12.0f | %12.0f %12.0f | %10.0f %12.0f"
                     % (r, p2["mbps"], p0["mbps"], p2["cpu_ms_gib"],
                        p0["cpu_ms_gib"], g["mbps"], g["cpu_ms_gib"]))
        # Two stores down: every object has lost two of its eight parts.
        down = stores[:2]
        for x in down:
            for pid in x.pids():
                try:
                    os.kill(pid, signal.SIGKILL)
                except ProcessLookupError:
                    pass
            x.proc.wait(10)
            self.servers.remove(x)
        deadline = time.monotonic() + 60
        while self.cluster_members(f2, "dead") != 2:
            if time.monotonic() > deadline:
                raise BenchError("the front did not see two stores dead")
            time.sleep(0.2)
        self.say("== stripe-parity: GET with two of the eight stores "
                 "killed (their parts rebuilt on the fly) against the same "
                 "object's GET with all up")
        self.say("%-5s | %10s %10s %7s | %12s" % (
            "round", "down MB/s", "up MB/s", "ratio", "down ms/GiB"))
        ratios = []
        for r in range(1, self.rounds + 1):
            g = self.get_once(f2, "p2-%d.bin" % r, size, w2)
            up = rows[r - 1][2]
            ratios.append(g["mbps"] / up["mbps"])
            self.say("%-5d | %10.0f %10.0f %7.3f | %12.0f" % (
                r, g["mbps"], up["mbps"], ratios[-1], g["cpu_ms_gib"]))
        # Two empty stores join: the lost parts are rebuilt onto them.
        lost = self.rounds * 2 * (-(-size // 6))
        t0 = time.monotonic()
        more = [self.start_shoald(
            "sp-new%d" % i, self.make_root("root-sp-new%d" % i, {}),
            self.cpu_peer_(), io_threads=1, save=False,
            extra=self.cluster_head("bench-parity", f2) + store + stripe(2))
            for i in range(2)]
        deadline = time.monotonic() + 1800
        while True:
            degraded = metric_value(f2.port, "shoal_stripe_degraded_objects")
            if degraded == 0:
                break
            if time.monotonic() > deadline:
                raise BenchError("the lost parts were not healed in 30 min "
                                 "(%s objects degraded)" % degraded)
            time.sleep(0.2)
        healed = time.monotonic() - t0
        self.say("stripe-parity: %d MiB of lost parts (%d objects) healed "
                 "%.1f s after two empty stores were started: %.0f MB/s" % (
                     lost >> 20, self.rounds, healed, lost / healed / 1e6))
        enc = statistics.median(p2["cpu_ms_gib"] - p0["cpu_ms_gib"]
                                for p2, p0, _ in rows)
        self.notes.append(
            "stripe-parity (%d MiB, medians): parity 2 costs the front "
            "%.0f ms of CPU per GiB put (%.0f against %.0f); GET with two "
            "of eight stores down %.2fx all up (target 0.7); %d MiB of lost "
            "parts healed in %.1f s" % (
                size >> 20, enc,
                statistics.median(p2["cpu_ms_gib"] for p2, _, _ in rows),
                statistics.median(p0["cpu_ms_gib"] for _, p0, _ in rows),
                statistics.median(ratios), lost >> 20, healed))
        os.unlink(src)
        servers = [f2, f0] + stores[2:] + more
        self.check_logs(servers)
        self.stop_servers(servers)

    # -- memory of a long relay to a slow client ----------------------------
    def case_relay_64m_rss(self, root):
        size = env_size("BENCH_RELAY_SIZE", 4 * GIB)
        rate = env_size("BENCH_RELAY_RATE", 20 * MIB)
        rcvbuf = env_size("BENCH_RELAY_RCVBUF", 64 << 10)
        rounds = env_int("BENCH_RELAY_ROUNDS", 1)
        with_nginx = os.environ.get("BENCH_RELAY_NGINX", "1") != "0"
        if size < 4 * RELAY_EDGE:
            raise BenchError("BENCH_RELAY_SIZE must be 4 MiB or more")
        # The file: sparse, random bytes at both ends (the content does not
        # matter, its length does; the client checks every byte).
        broot = self.make_root("root-relay-big", {"ready": b"ready\n"})
        head, tail = os.urandom(RELAY_EDGE), os.urandom(RELAY_EDGE)
        big = os.path.join(broot, "big.bin")
        with open(big, "wb") as f:
            f.write(head)
            f.seek(size - RELAY_EDGE)
            f.write(tail)
        os.chmod(big, 0o644)
        if os.stat(big).st_blocks * 512 > size // 2 and \
                free_bytes(self.tmp) < 2 * GIB:
            raise BenchError("the file system of %s makes no sparse files "
                             "and is nearly full" % self.tmp)
        hpath = os.path.join(self.tmp, "relay-head.bin")
        tpath = os.path.join(self.tmp, "relay-tail.bin")
        for pth, data in ((hpath, head), (tpath, tail)):
            with open(pth, "wb") as f:
                f.write(data)
        b = self.start_shoald("big-b", broot, self.cpu_peer_())
        aroot = self.make_root("root-relay-rss-a", {})
        a = self.start_shoald("rss-a", aroot, self.cpu_srv(),
                              peers=[b.port], save=False)
        sides = [("shoald", a)]
        servers = [a, b]
        if with_nginx:
            n = self.start_nginx("rss", self.cpu_srv(), upstream=b.port)
            wait_port(n, "/ready")
            sides.append(("nginx", n))
            servers.insert(0, n)
        for _, x in sides:
            verify(x, "/ready", b"ready\n")
        workers = {}
        for lab, x in sides:
            w = x.worker_pids()
            if len(w) != 1:
                raise BenchError("%s: expected one worker, not %s" % (
                    x.name, w))
            workers[lab] = w[0]

        def one(lab, server):
            p = self.helper(["--slow-client", str(server.port), "/big.bin",
                             str(size), str(rate), str(rcvbuf), hpath,
                             tpath], self.cpu_client if self.pin else None,
                            "slow-client.log")
            others = user_ticks()
            cpu0 = cpu_seconds(server.pids())
            sampler = RssSampler(workers[lab])
            sampler.start()
            t0 = time.monotonic()
            try:
                out, _ = p.communicate(timeout=size / rate * 2 + 120)
            except subprocess.TimeoutExpired:
                sampler.stop()
                raise BenchError("the slow client of %s did not finish" %
                                 server.name)
            except BaseException:
                sampler.stop()
                raise
            finally:
                self.end_helper(p)
            wall = time.monotonic() - t0
            before, peak, growth = sampler.stop()
            cpu = cpu_seconds(server.pids()) - cpu0
            foreign = foreign_delta(others, user_ticks(), wall)
            m = re.search(rb"SLOW status=(\d+) bytes=(\d+) seconds=([\d.]+) "
                          rb"ok=(\d) why=(\S+)", out or b"")
            if not m or m.group(4) != b"1":
                raise BenchError("slow download from %s failed: %s\n%s" % (
                    server.name, (out or b"").decode("utf-8", "replace"),
                    server.log_tail()))
            secs = float(m.group(3))
            return {"before_mib": before / 1024, "peak_mib": peak / 1024,
                    "growth_mib": growth / 1024,
                    "rate_mibs": size / secs / MIB, "seconds": secs,
                    "cpu_s": cpu, "samples": sampler.samples,
                    "foreign": foreign}

        def run_round(r):
            figs = [one(lab, x) for lab, x in sides]
            return figs, "(%d samples)" % figs[0]["samples"]

        rows = self.table_rounds(
            "relay-64m-rss", "a miss (save: false) of a %.2f GiB sparse "
            "file relayed from peer B (shoald, CPU %s) to one slow client "
            "(reads %.0f MiB/s at most, SO_RCVBUF %d KiB); VmRSS of the "
            "front's worker every %d ms: growth = highest - before%s" % (
                size / GIB, self.cpu_peer if self.pin else "any",
                rate / MIB, rcvbuf >> 10, RSS_PERIOD * 1000,
                "; nginx proxy_pass to the same B for reference "
                "(proxy_buffering on, 16k buffers, "
                "proxy_max_temp_file_size 0)" if with_nginx else ""),
            [lab for lab, _ in sides], rounds, run_round, [
                ("before_mib", "RSS before MiB", 1, "%.2f", False),
                ("peak_mib", "RSS highest MiB", 1, "%.2f", False),
                ("growth_mib", "RSS growth MiB", 1, "%.2f", False),
                ("rate_mibs", "client MiB/s", 1, "%.1f", False),
                ("cpu_s", "front cpu s", 1, "%.2f", False)])
        worst = max(f[0]["growth_mib"] for f in rows)
        self.say("shoald worker: largest RSS growth %.2f MiB: target < 16 "
                 "MiB %s; VmHWM over its life %.2f MiB" % (
                     worst, "met" if worst < 16 else "NOT MET",
                     (proc_status_kib(workers["shoald"], "VmHWM") or 0) /
                     1024))
        if with_nginx:
            self.say("nginx worker: largest RSS growth %.2f MiB; VmHWM over "
                     "its life %.2f MiB" % (
                         max(f[1]["growth_mib"] for f in rows),
                         (proc_status_kib(workers["nginx"], "VmHWM") or 0) /
                         1024))
        kept = [f for f in os.listdir(aroot) if not f.startswith(".")]
        if kept:
            raise BenchError("rss-a saved a copy despite save: false: %s" %
                             kept)
        self.notes.append(
            "relay-64m-rss worker RSS growth: shoald %.2f MiB (target < 16 "
            "MiB: %s)%s" % (worst, "met" if worst < 16 else "NOT MET",
                            ", nginx %.2f MiB" % max(
                                f[1]["growth_mib"] for f in rows)
                            if with_nginx else ""))
        self.say()
        self.check_logs(servers)
        self.stop_servers(servers)
        os.unlink(big)

    # -- waiters: many clients of one miss ---------------------------------
    def case_waiters(self, root):
        """N clients of one miss of a large file, all at once, at a node
        of two workers (so that waiters are in both), against one client
        alone: when each gets its first byte, how long each takes, and how
        many transfers the peer made."""
        size = env_size("BENCH_WAITERS_SIZE", GIB)
        counts = [int(x) for x in (os.environ.get("BENCH_WAITERS", "") or
                                   WAITERS_COUNTS).split(",") if x.strip()]
        if size < 4 * RELAY_EDGE:
            raise BenchError("BENCH_WAITERS_SIZE must be 4 MiB or more")
        broot = self.make_root("root-waiters-b", {"ready": b"ready\n"})
        head, tail = os.urandom(RELAY_EDGE), os.urandom(RELAY_EDGE)
        base = os.path.join(broot, "w-base.bin")
        with open(base, "wb") as f:
            f.write(head)
            f.seek(size - RELAY_EDGE)
            f.write(tail)
        os.chmod(base, 0o644)
        if free_bytes(self.tmp) < 2 * size + GIB:
            raise BenchError("waiters: %s has no room for two copies of "
                             "%d bytes" % (self.tmp, size))
        # A name of its own per run (hard links: no more space), so that
        # each run is a miss at A.
        runs = [(1, "w-alone.bin")] + [(n, "w-%d-%d.bin" % (i, n))
                                       for i, n in enumerate(counts)]
        for _, name in runs:
            os.link(base, os.path.join(broot, name))
        hpath = os.path.join(self.tmp, "waiters-head.bin")
        tpath = os.path.join(self.tmp, "waiters-tail.bin")
        for pth, data in ((hpath, head), (tpath, tail)):
            with open(pth, "wb") as f:
                f.write(data)
        b = self.start_shoald("waiters-b", broot, self.cpu_peer_())
        aroot = self.make_root("root-waiters-a", {})
        a = self.start_shoald("waiters-a", aroot, self.cpu_srv(), workers=2,
                              peers=[b.port], save=True)
        verify(b, "/ready", b"ready\n")

        def metrics(server, *names):
            _, _, text = http_get(server.port, "/_/metrics")
            got = dict.fromkeys(names, 0.0)
            for line in text.decode().splitlines():
                k, _, v = line.rpartition(" ")
                if k in got:
                    got[k] = float(v)
            return [got[k] for k in names]

        gets = 'shoal_requests_total{method="GET",status="200"}'

        def run(n, name):
            g0, b0 = metrics(b, gets, "shoal_sent_bytes_total")
            f0, = metrics(a, "shoal_miss_followers_total")
            ru = resource.getrusage(resource.RUSAGE_CHILDREN)
            client0 = ru.ru_utime + ru.ru_stime
            cpu0 = cpu_seconds(a.pids())
            p = self.helper(["--waiters-client", str(a.port), "/" + name,
                             str(size), str(n), hpath, tpath],
                            self.cpu_client if self.pin else None,
                            "waiters-client.log")
            try:
                out, _ = p.communicate(timeout=660)
            except subprocess.TimeoutExpired:
                raise BenchError("the waiters client did not finish")
            finally:
                self.end_helper(p)
            ru = resource.getrusage(resource.RUSAGE_CHILDREN)
            cpu = {"a": cpu_seconds(a.pids()) - cpu0,
                   "client": ru.ru_utime + ru.ru_stime - client0}
            clients = []
            for m in re.finditer(rb"WAITER \d+ sent=([\d.]+) first=([\d.]+) "
                                 rb"done=([\d.]+) bytes=(\d+) status=(\d+) "
                                 rb"ok=(\d) why=(\S+)", out or b""):
                clients.append({"sent": float(m.group(1)),
                                "first": float(m.group(2)),
                                "done": float(m.group(3)),
                                "ok": m.group(6) == b"1",
                                "why": m.group(7).decode()})
            if len(clients) != n or not all(c["ok"] for c in clients):
                raise BenchError("waiters: %d clients of %s failed: %s\n%s" %
                                 (n, name, [c["why"] for c in clients
                                            if not c["ok"]],
                                  a.log_tail()))
            # The copy is published (and synced) before the next run, and
            # removed: the next run is a miss of another name.
            copy = os.path.join(aroot, name)
            deadline = time.monotonic() + 120
            while not os.path.exists(copy):
                if time.monotonic() > deadline:
                    raise BenchError("waiters: A never published %s" % name)
                time.sleep(0.05)
            g1, b1 = metrics(b, gets, "shoal_sent_bytes_total")
            # The GET of the metrics before counts itself once answered.
            transfers = g1 - g0 - 1
            sent = b1 - b0
            followers, = metrics(a, "shoal_miss_followers_total")
            followers -= f0
            os.unlink(copy)
            # A's CPU until the copy is published (its fsync included).
            return clients, transfers, sent, followers, cpu

        one, transfers, _, _, cpu1 = run(*runs[0])
        alone = one[0]["done"] - one[0]["sent"]
        self.say("== waiters: N clients at once of a miss of a %.2f GiB "
                 "file at A (shoald, 2 workers, save: true, CPU %s) from "
                 "peer B (shoald, CPU %s); one client alone: first byte "
                 "%.1f ms, done in %.2f s; %d transfer(s) from B; CPU s: "
                 "A %.2f, the client %.2f" % (
                     size / GIB, self.cpu_server if self.pin else "any",
                     self.cpu_peer if self.pin else "any",
                     (one[0]["first"] - one[0]["sent"]) * 1e3, alone,
                     transfers, cpu1["a"], cpu1["client"]))
        self.say("%6s | %26s | %26s | %9s %9s %9s | %15s" % (
            "N", "first byte after the 1st ms", "time / one client alone",
            "B GETs", "B GiB", "followed", "cpu s A client"))
        self.say("%6s | %8s %8s %8s | %8s %8s %8s |" % (
            "", "p50", "p90", "max", "min", "p50", "max"))
        for n, name in runs[1:]:
            clients, transfers, sent, followers, cpu = run(n, name)
            first0 = min(c["first"] for c in clients)
            delays = sorted((c["first"] - first0) * 1e3 for c in clients)
            ratios = sorted((c["done"] - c["sent"]) / alone for c in clients)

            def pct(v, q):
                return v[min(len(v) - 1, int(q * len(v)))]
            self.say("%6d | %8.1f %8.1f %8.1f | %8.3f %8.3f %8.3f | %9d "
                     "%9.2f %9d | %7.2f %7.2f" % (
                         n, pct(delays, 0.5), pct(delays, 0.9), delays[-1],
                         ratios[0], pct(ratios, 0.5), ratios[-1], transfers,
                         sent / GIB, followers, cpu["a"], cpu["client"]))
            met = delays[-1] <= 50 and ratios[-1] <= 1.2 and transfers == 1
            self.notes.append(
                "waiters %d clients: first byte within %.1f ms of the "
                "first's, done within %.2fx one client alone (%.2f s), "
                "%d transfer(s) from the peer: targets 50 ms, 1.2x, 1: %s" %
                (n, delays[-1], ratios[-1], alone, transfers,
                 "met" if met else "NOT MET"))
        self.say()
        self.check_logs([a, b])
        self.stop_servers([a, b])
        for _, name in runs:
            os.unlink(os.path.join(broot, name))
        os.unlink(base)

    def cpu_srv(self):
        return self.cpu_server if self.pin else None

    def cpu_peer_(self):
        return self.cpu_peer if self.pin else None

    # -- main -------------------------------------------------------------
    def run(self):
        for tool in ("nginx", "wrk"):
            if shutil.which(tool) is None:
                raise BenchError("%s is not installed (t/bench/run.sh "
                                 "installs it)" % tool)
        self.small = os.urandom(SMALL)
        self.large = os.urandom(LARGE)
        root = self.make_root("root", {"4k.bin": self.small,
                                       "64m.bin": self.large})
        self.header()
        self.check_idle("before the run")
        for case in self.cases:
            getattr(self, "case_" + case.replace("-", "_"))(root)
        self.check_idle("after the run")
        self.summary()

    def check_idle(self, when):
        """Says whether other processes were using the machine: the figures
        of a shared 2-CPU machine mean little then."""
        busy, top, steal = busy_now()
        if steal >= 5:
            self.say("WARNING: the host stole %.0f%% of the CPUs' time %s "
                     "(a shared host): the figures vary with it" % (
                         steal, when))
        if busy >= 10:
            self.say("WARNING: the machine was %.0f%% busy %s without the "
                     "bench (%s); the figures are disturbed" % (
                         busy, when, ", ".join("%s[%d] %.0f%%" % (n, p, c)
                                               for c, p, n in top) or "?"))
        else:
            self.say("machine %s: %.0f%% busy (idle enough)" % (when, busy))
        self.say()

    def header(self):
        ver = subprocess.run([self.shoald, "-V"], capture_output=True,
                             text=True).stdout.strip()
        ngx = subprocess.run(["nginx", "-v"], capture_output=True,
                             text=True).stderr.strip()
        wrkv = subprocess.run(["wrk", "-v"], capture_output=True,
                              text=True).stdout.splitlines()
        now = datetime.datetime.now(datetime.timezone.utc)
        self.say("shoal bench  %s" % now.strftime("%Y-%m-%d %H:%M:%S UTC"))
        self.say("shoald: %s (%s)" % (ver, self.shoald))
        self.say("nginx:  %s" % ngx.replace("nginx version: ", ""))
        self.say("wrk:    %s" % (wrkv[0].split(" [")[0] if wrkv else "?"))
        self.say("host:   %s, %d CPUs, Linux %s" % (
            cpu_model(), os.cpu_count(), platform.release()))
        self.say("rounds: %d x %d s per side and case, alternating, after "
                 "%d s of warm-up each" % (self.rounds, self.seconds,
                                           self.warmup))
        if self.pin:
            self.say("pinning (taskset): server under test on CPU %d, wrk "
                     "on CPU %d, peer nodes on CPU %d" % (
                         self.cpu_server, self.cpu_client, self.cpu_peer))
        else:
            self.say("pinning: none")
        self.say("both: 1 worker, keep-alive. shoald: access_log off, "
                 "log_level warn, io_threads %d. nginx: sendfile, "
                 "tcp_nopush, open_file_cache, access_log off, "
                 "keepalive_requests 1000000; proxy: upstream keepalive %d "
                 "and keepalive_requests 1000000, HTTP/1.1, proxy_buffering "
                 "on (16k buffers: a 4 KiB answer is one read and one "
                 "write)" % (self.io_threads, NGINX_UPSTREAM_KEEPALIVE))
        self.say("ratios are shoald/nginx (or fanout-16/fanout-1, "
                 "black-hole/no-bh, fanout-n/fanout-1, 1M files/100): "
                 "above 1 is better for req/s, MiB/s and MB/s, worse for "
                 "latency and cpu")
        self.say()

    def summary(self):
        if self.disturbed:
            self.say("WARNING: %d round(s) marked ! ran while another "
                     "process used the machine or the host stole CPU "
                     "time" % self.disturbed)
        self.say("== summary (medians over each case's rounds: %d, "
                 "upload-1g %d, relay-64m-rss %d; ratio min / median / "
                 "max)" % (self.rounds, env_int("BENCH_UPLOAD_ROUNDS", 3),
                           env_int("BENCH_RELAY_ROUNDS", 1)))
        self.say("%-16s %-20s %-20s %12s %12s   %6s %6s %6s" % (
            "case", "metric", "ratio of", "a", "b", "min", "median", "max"))
        for case, mlabel, rof, a, b, lo, med, hi in self.results:
            self.say("%-16s %-20s %-20s %12s %12s   %6.3f %6.3f %6.3f" % (
                case, mlabel, rof, a, b, lo, med, hi))
        for line in self.notes:
            self.say(line)

    def save(self):
        outdir = os.path.join("build", "bench")
        os.makedirs(outdir, exist_ok=True)
        stamp = datetime.datetime.now().strftime("%Y%m%d-%H%M%S")
        path = os.path.join(outdir, "results-%s.txt" % stamp)
        with open(path, "w") as f:
            f.write("\n".join(self.out_lines) + "\n")
        # The summary's ratios as a chart beside it.
        rows = [(r[0], r[1], r[2], r[5], r[6], r[7]) for r in self.results]
        with open(path[:-len(".txt")] + ".svg", "w") as f:
            f.write(chart.svg(rows, "shoal bench %s: ratios to the "
                              "reference" % stamp, "rounds: %d of %d s"
                              % (self.rounds, self.seconds)))
        return path


def filecmp_eq(a, b):
    """Whether two files hold the same bytes."""
    import filecmp
    return filecmp.cmp(a, b, shallow=False)


def read_strace_counts(path):
    """{syscall: calls} from an `strace -c -o path` summary, or None."""
    counts = {}
    try:
        with open(path) as f:
            for line in f:
                parts = line.split()
                # "% time seconds usecs/call calls [errors] syscall"
                if len(parts) >= 5 and parts[0][0].isdigit() and \
                        parts[-1] != "total":
                    counts[parts[-1]] = int(parts[3])
    except OSError:
        return None
    return counts


def busy_now(seconds=1.0):
    """How busy the machine is without us: the share of all CPUs used over
    `seconds`, the busiest processes then ([(percent, pid, name)]), and
    the share the hypervisor stole (not counted as busy)."""
    def total():
        with open("/proc/stat") as f:
            v = [int(x) for x in f.readline().split()[1:]]
        # all, idle + iowait + steal, steal
        return sum(v), v[3] + v[4] + v[7], v[7]

    def per_proc():
        return {pid: (name, int(fields[11]) + int(fields[12]))
                for pid, name, fields in proc_stats()}

    all0, idle0, steal0 = total()
    p0 = per_proc()
    time.sleep(seconds)
    all1, idle1, steal1 = total()
    p1 = per_proc()
    span = max(all1 - all0, 1)
    busy = 100.0 * (span - (idle1 - idle0)) / span
    steal = 100.0 * (steal1 - steal0) / span
    top = []
    for pid, (name, t) in p1.items():
        if pid in p0 and pid != os.getpid():
            pct = 100.0 * (t - p0[pid][1]) / CLK_TCK / seconds
            if pct >= 5:
                top.append((pct, pid, name))
    return busy, sorted(top, reverse=True)[:3], steal


def cpu_model():
    try:
        with open("/proc/cpuinfo") as f:
            for line in f:
                if line.startswith("model name"):
                    return line.split(":", 1)[1].strip()
    except OSError:
        pass
    return platform.machine()


# nginx's client_body_buffer_size for WebDAV PUTs: the body is read into a
# buffer of this size, written to the temporary file whenever it is full,
# and the file renamed into place. 256k is shoald's upload buffer
# (UPLOAD_BUF_SIZE in src/upload.c): the same memory per upload and the same
# write size. (16k, nginx's default on 64-bit, costs 16 times the writes.)
NGINX_BODY_BUFFER = os.environ.get("BENCH_NGINX_BODY_BUFFER", "") or "256k"


def nginx_conf(d, port, root=None, upstream=None, dav=False):
    """nginx's configuration for one case: 1 worker, its best settings for
    static files, for proxying or for WebDAV PUT, everything under d."""
    tmp = os.path.join(d, "tmp")
    if dav:
        # ngx_http_dav_module (in nginx-light): PUT into root, no
        # directories made on the way, no size limit, the temporary body
        # file in tmp (same file system as root: the rename is a rename).
        server_body = """
        root %s;
        client_max_body_size 0;
        client_body_buffer_size %s;
        client_body_timeout 60s;
        location / {
            dav_methods PUT;
            create_full_put_path off;
            dav_access user:rw group:r all:r;
        }""" % (root, NGINX_BODY_BUFFER)
        upstream_block = ""
    elif upstream is None:
        server_body = """
        root %s;
        location / {
        }""" % root
        upstream_block = ""
    else:
        # Buffering on, with buffers large enough for a whole 4 KiB answer
        # and its head: nginx reads it in one go and writes it in one go;
        # proxy_max_temp_file_size 0 keeps larger answers off the disk.
        # An idle upstream connection kept for every client connection a
        # case opens (64 at most), as an operator sizes it: with fewer,
        # nginx closes and opens upstream connections all the time.
        upstream_block = """
    upstream peer {
        server 127.0.0.1:%d;
        keepalive %d;
        keepalive_requests 1000000;
        keepalive_timeout 60s;
    }""" % (upstream, NGINX_UPSTREAM_KEEPALIVE)
        server_body = """
        location / {
            proxy_pass http://peer;
            proxy_http_version 1.1;
            proxy_set_header Connection "";
            # The same request a shoald node sends to its peers, so that B
            # does the same work for both fronts.
            proxy_set_header X-Shoal-Lookup 1;
            proxy_buffering on;
            proxy_buffer_size 16k;
            proxy_buffers 8 16k;
            proxy_max_temp_file_size 0;
        }"""
    # Static files, whatever their size: sendfile, with tcp_nopush so that
    # the head and the first bytes of the file leave in full segments.
    # `sendfile off` for the 4 KiB file was tried: nginx then reads it with
    # one pread and writes head and body in one writev (3 system calls per
    # answer instead of 5: no TCP_CORK on and off), but its CPU per request
    # was no lower (the two copies through user space cost what the two
    # setsockopt calls save), so the operator's usual setting stays.
    return """# written by t/bench/bench.py
daemon off;
master_process on;
worker_processes 1;
pid %(d)s/nginx.pid;
error_log %(d)s/error.log crit;

events {
    worker_connections 4096;
}

http {
    access_log off;
    sendfile on;
    tcp_nopush on;
    tcp_nodelay on;
    keepalive_timeout 60s;
    keepalive_requests 1000000;
    open_file_cache max=1000 inactive=60s;
    open_file_cache_valid 60s;
    open_file_cache_min_uses 1;
    open_file_cache_errors on;
    types {
    }
    default_type application/octet-stream;
    client_body_temp_path %(tmp)s/body;
    proxy_temp_path %(tmp)s/proxy;
    fastcgi_temp_path %(tmp)s/fastcgi;
    uwsgi_temp_path %(tmp)s/uwsgi;
    scgi_temp_path %(tmp)s/scgi;
%(upstream)s
    server {
        listen 127.0.0.1:%(port)d;
%(body)s
    }
}
""" % {"d": d, "tmp": tmp, "port": port, "upstream": upstream_block,
       "body": server_body}


def main():
    # The helper processes of some cases: bench.py runs itself.
    if len(sys.argv) > 1 and sys.argv[1] == "--slow-client":
        return slow_client_main(sys.argv[2:])
    if len(sys.argv) > 1 and sys.argv[1] == "--waiters-client":
        return waiters_client_main(sys.argv[2:])
    if len(sys.argv) > 1 and sys.argv[1] == "--put-client":
        return put_client_main(sys.argv[2:])
    if len(sys.argv) > 1 and sys.argv[1] == "--blackhole":
        try:
            return blackhole_main(sys.argv[2:])
        except KeyboardInterrupt:
            return 0
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--shoald", default="build/shoald")
    args = ap.parse_args()

    # SIGINT, SIGTERM and SIGHUP end the run through the finally below,
    # which stops every process and removes the directory (the "trap").
    def on_signal(signum, frame):
        raise KeyboardInterrupt("signal %d" % signum)
    # SIGINT too, explicitly: a shell starts background jobs with SIGINT
    # ignored, and Python would keep it so.
    signal.signal(signal.SIGINT, on_signal)
    signal.signal(signal.SIGTERM, on_signal)
    signal.signal(signal.SIGHUP, on_signal)

    bench = None
    rc = 0
    try:
        bench = Bench(args.shoald)
        bench.run()
        path = bench.save()
        print("\nsaved to %s, the chart to %s" % (
            path, path[:-len(".txt")] + ".svg"))
    except BenchError as e:
        print("\nt/bench: FAILED: %s" % e, file=sys.stderr)
        rc = 1
    except KeyboardInterrupt:
        print("\nt/bench: interrupted", file=sys.stderr)
        rc = 130
    finally:
        # No second interruption in the middle of the cleanup.
        signal.signal(signal.SIGINT, signal.SIG_IGN)
        signal.signal(signal.SIGTERM, signal.SIG_IGN)
        signal.signal(signal.SIGHUP, signal.SIG_IGN)
        if bench is not None:
            bench.cleanup()
    return rc


if __name__ == "__main__":
    sys.exit(main())
