"""Black-box test harness: real shoald processes on loopback.

A Node owns a temporary directory (ROOT, state, logs, configuration), starts
`shoald -f` (or detached) on a free port, and talks to it with curl and raw
sockets. Every node's stderr is kept; when the binary is sanitized, a
sanitizer report in any log fails the test that started the node.
"""

import os
import re
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import time
import unittest

from machine import comm, content_digest, free_port

SHOALD = os.path.abspath(os.environ.get("SHOALD", "build/shoald"))
SANITIZED = os.environ.get("SHOAL_SANITIZED") == "1"
# Under valgrind (run.py --valgrind) SHOALD is a wrapper and this names the
# directory of the memcheck logs; see memcheck.py.
VALGRIND = os.environ.get("SHOAL_VALGRIND")
# Sanitized binaries are several times slower, and under valgrind some twenty
# times; scale the waits, not the assertions.
SLOW = 20 if VALGRIND else 4 if SANITIZED else 1

SANITIZER_RE = re.compile(
    rb"(ERROR: AddressSanitizer|ERROR: LeakSanitizer|runtime error:)")


def yaml_value(v, indent):
    pad = "  " * indent
    if isinstance(v, bool):
        return " true" if v else " false"
    if isinstance(v, (int, float)):
        return " %s" % v
    if isinstance(v, str):
        return ' "%s"' % v.replace("\\", "\\\\").replace('"', '\\"')
    if isinstance(v, dict):
        return "\n" + "".join(
            "%s  %s:%s\n" % (pad, k, yaml_value(x, indent + 1).rstrip("\n"))
            for k, x in v.items())
    if isinstance(v, list):
        if not v:
            return " []"
        out = "\n"
        for item in v:
            lines = yaml_value(item, indent + 1).strip("\n").split("\n")
            first = lines[0].strip()
            out += "%s  - %s\n" % (pad, first)
            for line in lines[1:]:
                out += "%s    %s\n" % (pad, line.strip())
        return out
    raise TypeError(v)


def to_yaml(d):
    return "".join("%s:%s\n" % (k, yaml_value(v, 0).rstrip("\n"))
                   for k, v in d.items())


class Response:
    def __init__(self, status, headers, body, rc=0):
        self.status = status
        self.headers = headers      # lower-case name -> last value
        self.body = body
        self.rc = rc                # curl's exit status (18: cut body)

    def header(self, name):
        return self.headers.get(name.lower())

    def __repr__(self):
        return "<Response %d %r %r>" % (self.status, self.headers,
                                        self.body[:200])


def parse_head(raw):
    """Parses one response head from raw bytes; returns
    (status, headers, rest)."""
    head, sep, rest = raw.partition(b"\r\n\r\n")
    if not sep:
        raise ValueError("no complete head in %r" % raw[:200])
    lines = head.decode("latin-1").split("\r\n")
    status = int(lines[0].split(" ")[1])
    headers = {}
    for line in lines[1:]:
        k, _, v = line.partition(":")
        headers[k.strip().lower()] = v.strip()
    return status, headers, rest


def parse_responses(raw):
    """Splits a byte stream of Content-Length framed responses (as shoald
    sends them) into Response objects. HEAD responses are not supported
    here: their Content-Length announces no body."""
    out = []
    while raw:
        status, headers, rest = parse_head(raw)
        n = int(headers.get("content-length", "0"))
        if status == 304:
            n = 0
        out.append(Response(status, headers, rest[:n]))
        raw = rest[n:]
    return out


class Node:
    def __init__(self, testcase, name="a", workers=1, peers=(), root=None,
                 **settings):
        self.tc = testcase
        self.name = name
        self.dir = tempfile.mkdtemp(prefix="shoal-%s-" % name,
                                    dir=testcase.tmp)
        self.root = root or os.path.join(self.dir, "root")
        if root is None:
            os.makedirs(self.root)
        self.port = free_port()
        self.conf_path = os.path.join(self.dir, "shoal.yaml")
        self.log_path = os.path.join(self.dir, "stderr.log")
        self.pid_file = os.path.join(self.dir, "shoald.pid")
        self.config = {
            "listen": "127.0.0.1:%d" % self.port,
            "root": self.root,
            "state_dir": os.path.join(self.dir, "state"),
            "node": name,
            "workers": workers,
            "io_threads": 2,
            "pid_file": self.pid_file,
            "log_level": "debug",
            "shutdown_timeout": "5s",
            "peer_timeout": "2s",
            "peers": [{"host": "127.0.0.1", "port": p} if isinstance(p, int)
                      else p for p in peers],
        }
        self.config.update(settings)
        self.proc = None
        self.detached_pid = None
        # A node of a network namespace (test_netns.py) runs, and is
        # reached, from inside it.
        self.host = "127.0.0.1"
        self.cmd_prefix = []
        testcase.nodes.append(self)
        self.write_config()

    # -- configuration and files --------------------------------------
    def write_config(self, text=None):
        with open(self.conf_path, "w") as f:
            f.write(text if text is not None else to_yaml(self.config))

    def put_file(self, name, data):
        if isinstance(data, str):
            data = data.encode()
        path = os.path.join(self.root, name)
        with open(path, "wb") as f:
            f.write(data)
        return path

    # -- processes ----------------------------------------------------
    def start(self, wait=True, detach=False, expect_fail=False, env=None):
        args = [SHOALD, "-c", self.conf_path]
        if not detach:
            args.insert(1, "-f")
        args = self.cmd_prefix + args
        self.logf = open(self.log_path, "ab")
        if detach:
            rc = subprocess.run(args, stdout=self.logf, stderr=self.logf,
                                timeout=30 * SLOW, env=env).returncode
            if expect_fail:
                return rc
            self.tc.assertEqual(rc, 0, "detached start failed:\n" +
                                self.log())
            self.detached_pid = int(open(self.pid_file).read())
        else:
            self.proc = subprocess.Popen(args, stdout=self.logf,
                                         stderr=self.logf, env=env,
                                         start_new_session=True)
        if wait:
            self.wait_ready()
        return 0

    def master_pid(self):
        return self.proc.pid if self.proc else self.detached_pid

    def wait_ready(self, timeout=15):
        deadline = time.time() + timeout * SLOW
        while time.time() < deadline:
            if self.proc and self.proc.poll() is not None:
                self.tc.fail("shoald exited with %s:\n%s" %
                             (self.proc.returncode, self.log()))
            if self.cmd_prefix:
                # Not reachable from here: ask from where it runs.
                if self.curl("/_/health", timeout=1).status == 200:
                    return
                time.sleep(0.05)
                continue
            try:
                with socket.create_connection(("127.0.0.1", self.port),
                                              timeout=1) as s:
                    s.sendall(b"GET /_/health HTTP/1.1\r\nHost: t\r\n"
                              b"Connection: close\r\n\r\n")
                    if recv_all(s).startswith(b"HTTP/1.1 200"):
                        if VALGRIND:
                            import memcheck
                            memcheck.wait_workers(self)
                        return
            except OSError:
                pass
            time.sleep(0.05)
        self.tc.fail("node %s not ready:\n%s" % (self.name, self.log()))

    def signal_master(self, sig):
        os.kill(self.master_pid(), sig)

    def stop(self, sig=signal.SIGTERM, timeout=20):
        """Stops the node; returns the master's exit status (None for a
        detached node)."""
        if self.proc is not None and self.proc.poll() is None:
            self.proc.send_signal(sig)
            try:
                self.proc.wait(timeout * SLOW)
            except subprocess.TimeoutExpired:
                os.killpg(self.proc.pid, signal.SIGKILL)
                self.proc.wait()
                self.tc.fail("node %s did not stop:\n%s" %
                             (self.name, self.log()))
            return self.proc.returncode
        if self.detached_pid is not None:
            pid, self.detached_pid = self.detached_pid, None
            try:
                os.kill(pid, sig)
            except ProcessLookupError:
                return None
            deadline = time.time() + timeout * SLOW
            while time.time() < deadline and pid_alive(pid):
                time.sleep(0.05)
        return None

    def kill_all(self):
        """Last resort at tear-down: the whole process group."""
        if self.proc is not None and self.proc.poll() is None:
            try:
                os.killpg(self.proc.pid, signal.SIGKILL)
            except ProcessLookupError:
                pass
            self.proc.wait()

    def child_pids(self):
        """Every child of the master: the workers and the agent."""
        out = subprocess.run(["pgrep", "-P", str(self.master_pid())],
                             capture_output=True, text=True).stdout
        return sorted(int(x) for x in out.split())

    def worker_pids(self):
        """The master's children but the agent and the short-lived process
        that removes a dead child's temporary files (told apart by their
        names; for the instant between a fork and its prctl they count as
        workers)."""
        return [p for p in self.child_pids()
                if comm(p) not in (AGENT_COMM, CLEANER_COMM)]

    def agent_pid(self):
        """The pid of the master's agent (the one of the newest generation
        while an old one drains), or None."""
        agents = [p for p in self.child_pids() if comm(p) == AGENT_COMM]
        return max(agents, key=lambda p: (start_time(p), p)) \
            if agents else None

    def log(self):
        try:
            with open(self.log_path, "rb") as f:
                return f.read().decode("utf-8", "replace")
        except OSError:
            return ""

    # -- clients ------------------------------------------------------
    def url(self, path="/"):
        return "http://%s:%d%s" % (self.host, self.port, path)

    def curl(self, path="/", *args, method=None, headers=(), data=None,
             timeout=20):
        """Runs curl; returns a Response (status 0 when curl failed)."""
        with tempfile.NamedTemporaryFile(dir=self.tc.tmp) as hf, \
                tempfile.NamedTemporaryFile(dir=self.tc.tmp) as bf:
            cmd = self.cmd_prefix + [
                   "curl", "-sS", "--max-time", str(timeout * SLOW),
                   "-D", hf.name, "-o", bf.name, "-w", "%{http_code}"]
            if method == "HEAD":
                cmd.append("-I")
            elif method:
                cmd += ["-X", method]
            for h in headers:
                cmd += ["-H", h]
            if data is not None:
                cmd += ["--data-binary", "@-"]
            cmd += list(args) + [self.url(path)]
            p = subprocess.run(cmd, input=data, capture_output=True,
                               timeout=timeout * SLOW + 5)
            hf.seek(0)
            bf.seek(0)
            head = hf.read()
            body = bf.read()
        try:
            status = int(p.stdout.decode() or "0")
        except ValueError:
            status = 0
        headers = {}
        # With redirects or 100-continue several heads may be present;
        # keep the last.
        blocks = [b for b in head.split(b"\r\n\r\n") if b.strip()]
        if blocks:
            for line in blocks[-1].decode("latin-1").split("\r\n")[1:]:
                k, _, v = line.partition(":")
                headers[k.strip().lower()] = v.strip()
        return Response(status, headers, body, p.returncode)

    def raw(self, data, timeout=10, shut=False):
        """Sends raw bytes on a fresh connection and returns everything the
        node sends until it closes (or the timeout)."""
        with socket.create_connection(("127.0.0.1", self.port),
                                      timeout=timeout * SLOW) as s:
            s.sendall(data)
            if shut:
                s.shutdown(socket.SHUT_WR)
            return recv_all(s)

    def connect(self, timeout=10):
        s = socket.create_connection(("127.0.0.1", self.port),
                                     timeout=timeout * SLOW)
        self.tc.sockets.append(s)
        return s


def recv_all(s):
    """Everything the peer sends until it closes, resets the connection or
    stays quiet for the socket's timeout."""
    return recv_closed(s)[0]


def recv_closed(s):
    """recv_all(), and whether the peer closed or reset the connection
    (False: the socket timed out)."""
    chunks = []
    while True:
        try:
            b = s.recv(65536)
        except socket.timeout:
            return b"".join(chunks), False
        except ConnectionResetError:
            return b"".join(chunks), True
        if not b:
            return b"".join(chunks), True
        chunks.append(b)


def recv_to_eof(s):
    """Everything the peer sends until it closes; a timeout or a reset
    raises (and fails the test)."""
    chunks = []
    while True:
        b = s.recv(65536)
        if not b:
            return b"".join(chunks)
        chunks.append(b)


def recv_at_least(s, n):
    """Reads until at least n bytes came (the rest of the last read is
    dropped); fails the test when the peer closes first."""
    got = 0
    while got < n:
        b = s.recv(65536)
        if not b:
            raise AssertionError("closed after %d bytes" % got)
        got += len(b)


AGENT_COMM = "shoald-agent"      # the agent's prctl(PR_SET_NAME)
CLEANER_COMM = "shoald-clean"    # after a child died, for a moment


def proc_line(pid, name, key):
    """The words of the first line of /proc/PID/<name> that starts with
    key ("Uid:" of status, "Max open files" of limits), or None."""
    with open("/proc/%d/%s" % (pid, name)) as f:
        for line in f:
            if line.startswith(key):
                return line.split()
    return None


def proc_uid(pid):
    """The real uid of the process."""
    return int(proc_line(pid, "status", "Uid:")[1])


def start_time(pid):
    """When the process started, in clock ticks since boot (0 once gone):
    orders processes whose pids wrapped around."""
    try:
        with open("/proc/%d/stat" % pid) as f:
            return int(f.read().rsplit(")", 1)[1].split()[19])
    except (OSError, IndexError, ValueError):
        return 0


def pid_alive(pid):
    """True while any thread of the process runs. A process whose main
    thread has exited shows as a zombie while its other threads (a pool
    thread finishing a write) still hold its descriptors."""
    try:
        tasks = os.listdir("/proc/%d/task" % pid)
    except OSError:
        return False
    for t in tasks:
        try:
            with open("/proc/%d/task/%s/stat" % (pid, t)) as f:
                if f.read().split(")")[-1].split()[0] not in ("Z", "X"):
                    return True
        except OSError:
            continue
    return False


def wait_for(pred, timeout=10, what="condition"):
    deadline = time.time() + timeout * SLOW
    while time.time() < deadline:
        v = pred()
        if v:
            return v
        time.sleep(0.05)
    raise AssertionError("timed out waiting for %s" % what)


def content_etag(data):
    """The ETag shoald gives content `data`: its content digest, quoted."""
    return '"%s"' % content_digest(data)


def has_xattrs(path):
    """Whether the file `path` takes user xattrs (where shoald keeps a
    file's digest and marks)."""
    try:
        os.setxattr(path, "user.shoal.probe", b"1")
        os.removexattr(path, "user.shoal.probe")
        return True
    except OSError:
        return False


class NodeTest(unittest.TestCase):
    """Base class: a temporary directory, nodes stopped at the end, and
    sanitizer reports turned into failures."""

    def setUp(self):
        base = os.environ.get("SHOAL_TEST_TMP") or None
        self.tmp = tempfile.mkdtemp(prefix="shoal-test-", dir=base)
        self.nodes = []
        self.sockets = []

    def tearDown(self):
        for s in self.sockets:
            s.close()
        for n in self.nodes:
            try:
                n.stop()
            except AssertionError:
                pass
            n.kill_all()
        reports = []
        for n in self.nodes:
            try:
                with open(n.log_path, "rb") as f:
                    data = f.read()
            except OSError:
                continue
            if SANITIZER_RE.search(data):
                reports.append("node %s:\n%s" % (n.name, data.decode(
                    "utf-8", "replace")[-6000:]))
        if VALGRIND:
            import memcheck
            reports += memcheck.new_reports(VALGRIND)
        if not getattr(self, "_keep_failed", False):
            shutil.rmtree(self.tmp, ignore_errors=True)
        if reports:
            self.fail("sanitizer report:\n" + "\n".join(reports))

    def run(self, result=None):
        """With SHOAL_KEEP_FAILED set in the environment, a failed test's
        directory (its nodes' state, configuration and stderr.log) stays,
        and its path is printed; a passed test's goes as always."""
        if not os.environ.get("SHOAL_KEEP_FAILED") or result is None:
            return super().run(result)
        bad = len(result.failures) + len(result.errors)
        self._keep_failed = True
        out = super().run(result)
        if len(result.failures) + len(result.errors) > bad:
            sys.stderr.write("\nkept %s\n" % self.tmp)
        elif hasattr(self, "tmp"):
            shutil.rmtree(self.tmp, ignore_errors=True)
        return out

    def node(self, *args, start=True, **kw):
        n = Node(self, *args, **kw)
        if start:
            n.start()
        return n

    def assert_start_fails(self, n, said):
        """Starts n, which must exit with status 1 and say `said` in its
        log."""
        n.start(wait=False)
        self.assertEqual(n.proc.wait(20 * SLOW), 1)
        self.assertIn(said, n.log())


class SmallDiskTest(NodeTest):
    """A NodeTest with a 2 MiB tmpfs at self.mnt, to run out of disk space
    in; skipped where a tmpfs cannot be mounted."""

    def setUp(self):
        super().setUp()
        self.mnt = tempfile.mkdtemp(dir=self.tmp)
        p = subprocess.run(["mount", "-t", "tmpfs", "-o", "size=2m", "tmpfs",
                            self.mnt], capture_output=True, text=True)
        if p.returncode != 0:
            self.skipTest("cannot mount a small tmpfs here (%s): the "
                          "disk-full path is not tested" % p.stderr.strip())

    def tearDown(self):
        super().tearDown()
        subprocess.run(["umount", "-l", self.mnt], capture_output=True)
