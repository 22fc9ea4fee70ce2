"""The process model: -t, signals, reloads under load, worker restarts,
detaching and the pid file."""

import os
import signal
import subprocess
import threading
import time

from shoal import (NodeTest, SHOALD, SLOW, pid_alive, recv_all, to_yaml,
                   wait_for)


class Load:
    """Clients in threads fetching a file over keep-alive connections (with
    reconnects) until stopped; every answer that is not a whole 200 and
    every socket error is recorded."""

    def __init__(self, node, name, expect, threads=4):
        self.node, self.name, self.expect = node, name, expect
        self.stop_flag = threading.Event()
        self.failures = []
        self.count = 0
        self.lock = threading.Lock()
        self.threads = [threading.Thread(target=self.run)
                        for _ in range(threads)]

    def __enter__(self):
        for t in self.threads:
            t.start()
        return self

    def __exit__(self, *exc):
        self.stop_flag.set()
        for t in self.threads:
            t.join()

    def run(self):
        import http.client
        conn = None
        deadline = time.time() + 120
        while not self.stop_flag.is_set() and time.time() < deadline:
            try:
                if conn is None:
                    conn = http.client.HTTPConnection(
                        "127.0.0.1", self.node.port, timeout=10 * SLOW)
                conn.request("GET", "/" + self.name)
                r = conn.getresponse()
                body = r.read()
                if r.status != 200 or body != self.expect:
                    self.fail("status %d, %d bytes" % (r.status, len(body)))
                if r.getheader("connection") == "close":
                    conn.close()
                    conn = None
                with self.lock:
                    self.count += 1
            except (http.client.RemoteDisconnected, BrokenPipeError,
                    ConnectionResetError) as e:
                # A server may close an idle keep-alive connection at any
                # time (RFC 9112 9.6); the client retries the idempotent
                # request on a new connection, as curl and browsers do.
                conn = None
                if isinstance(e, http.client.RemoteDisconnected):
                    continue
                self.fail(repr(e))
            except Exception as e:      # noqa: BLE001 - record everything
                self.fail(repr(e))
                conn = None

    def fail(self, what):
        with self.lock:
            self.failures.append(what)


class ConfigCheckTest(NodeTest):
    def test_t_accepts_a_valid_file(self):
        n = self.node(start=False)
        p = subprocess.run([SHOALD, "-t", "-c", n.conf_path],
                           capture_output=True, text=True)
        self.assertEqual(p.returncode, 0, p.stderr)
        self.assertIn("valid", p.stdout)

    def test_t_reports_every_error_with_position(self):
        n = self.node(start=False)
        n.write_config("listen: 99999\nroot: /tmp\nworkers: -1\n"
                       "bogus: 1\nworkers: 2\n")
        p = subprocess.run([SHOALD, "-t", "-c", n.conf_path],
                           capture_output=True, text=True)
        self.assertEqual(p.returncode, 1)
        lines = [l for l in p.stderr.splitlines()
                 if l.startswith(n.conf_path + ":")]
        self.assertGreaterEqual(len(lines), 4, p.stderr)
        self.assertRegex(p.stderr, n.conf_path + r":1:\d+: ")
        self.assertRegex(p.stderr, n.conf_path + r":4:1: .*bogus")

    def test_missing_file(self):
        p = subprocess.run([SHOALD, "-t", "-c", "/nonexistent.yaml"],
                           capture_output=True, text=True)
        self.assertEqual(p.returncode, 1)
        self.assertIn("/nonexistent.yaml", p.stderr)

    def test_usage(self):
        self.assertEqual(subprocess.run([SHOALD, "-x"],
                                        capture_output=True).returncode, 2)
        self.assertEqual(subprocess.run([SHOALD, "extra"],
                                        capture_output=True).returncode, 2)
        p = subprocess.run([SHOALD, "-V"], capture_output=True, text=True)
        self.assertEqual(p.returncode, 0)
        self.assertTrue(p.stdout.startswith("shoald "))
        p = subprocess.run([SHOALD, "-h"], capture_output=True, text=True)
        self.assertEqual(p.returncode, 0)
        self.assertIn("-c FILE", p.stdout)

    def test_start_fails_cleanly_without_root(self):
        n = self.node(start=False, root="/nonexistent/dir")
        self.assert_start_fails(n, "/nonexistent/dir")

    def test_port_in_use(self):
        a = self.node()
        b = self.node(name="b", start=False)
        b.config["listen"] = a.config["listen"]
        b.write_config()
        self.assert_start_fails(b, "bind")


class SignalTest(NodeTest):
    def test_sigterm_stops_with_status_0(self):
        n = self.node(workers=2)
        workers = n.worker_pids()
        self.assertEqual(len(workers), 2)
        self.assertEqual(n.stop(signal.SIGTERM), 0)
        for w in workers:
            wait_for(lambda: not pid_alive(w), what="worker exit")

    def test_sigint_stops_with_status_0(self):
        n = self.node()
        self.assertEqual(n.stop(signal.SIGINT), 0)

    def test_sigterm_finishes_a_request_in_flight(self):
        n = self.node()
        n.put_file("big.bin", os.urandom(16 << 20))
        s = n.connect()
        s.sendall(b"GET /big.bin HTTP/1.1\r\nHost: t\r\n\r\n")
        first = s.recv(65536)
        self.assertTrue(first.startswith(b"HTTP/1.1 200"))
        n.signal_master(signal.SIGTERM)
        time.sleep(0.2)
        # A new client is not served any more...
        rest = recv_all(s)
        head, _, body = (first + rest).partition(b"\r\n\r\n")
        # ...but the download in flight completes.
        self.assertEqual(len(body), 16 << 20)
        self.assertEqual(n.proc.wait(20 * SLOW), 0)

    def test_killed_worker_is_replaced(self):
        n = self.node(workers=2)
        n.put_file("f", "data\n")
        before = n.worker_pids()
        os.kill(before[0], signal.SIGKILL)
        after = wait_for(lambda: (lambda p: p if len(p) == 2 and
                                  before[0] not in p else None)(
                                      n.worker_pids()),
                         what="a new worker")
        self.assertNotIn(before[0], after)
        for _ in range(20):
            self.assertEqual(n.curl("/f").body, b"data\n")
        self.assertIn("killed by signal 9", n.log())
        m = n.curl("/_/metrics").body.decode()
        self.assertIn("shoal_worker_restarts_total 1", m)

    def test_worker_crash_loop_is_backed_off(self):
        n = self.node(workers=1)
        # Make ROOT unusable: new workers cannot start.
        os.rename(n.root, n.root + ".gone")
        for _ in range(3):
            pids = n.worker_pids()
            if pids:
                os.kill(pids[0], signal.SIGKILL)
            time.sleep(0.3)
        time.sleep(1)
        starts = n.log().count("starting a new worker in")
        # Doubling backoff: a handful of attempts, not hundreds.
        self.assertLess(starts, 15, n.log())
        os.rename(n.root + ".gone", n.root)
        n.put_file("f", "back\n")
        wait_for(lambda: n.curl("/f").status == 200, timeout=30,
                 what="service back")

    def test_sighup_under_load_fails_no_request(self):
        n = self.node(workers=2)
        payload = os.urandom(20000)
        n.put_file("f.bin", payload)
        with Load(n, "f.bin", payload) as load:
            for i in range(5):
                time.sleep(0.3)
                if i == 2:
                    # A broken file: refused, old workers keep serving.
                    n.write_config("listen: [oops\n")
                    n.signal_master(signal.SIGHUP)
                    time.sleep(0.5)
                    n.write_config()
                else:
                    n.signal_master(signal.SIGHUP)
            time.sleep(0.5)
        self.assertEqual(load.failures, [])
        self.assertGreater(load.count, 20)
        log = n.log()
        self.assertIn("reload refused", log)
        self.assertGreaterEqual(log.count("reloaded:"), 3)
        m = n.curl("/_/metrics").body.decode()
        self.assertIn("shoal_reload_failures_total 1", m)
        # The last generation's predecessors drain and go.
        wait_for(lambda: len(n.worker_pids()) == 2, timeout=20,
                 what="two workers")

    def test_sighup_applies_new_settings(self):
        n = self.node(workers=1)
        n.put_file("f", "x")
        old = n.worker_pids()
        n.config["workers"] = 3
        n.write_config()
        n.signal_master(signal.SIGHUP)
        wait_for(lambda: len(n.worker_pids()) == 3, what="3 workers")
        for w in old:
            wait_for(lambda: not pid_alive(w), what="old worker gone")
        self.assertEqual(n.curl("/f").status, 200)

    def test_sigusr1_reopens_logs(self):
        n = self.node(start=False)
        log = os.path.join(n.dir, "error.log")
        acc = os.path.join(n.dir, "access.log")
        n.config.update(error_log=log, access_log=acc)
        n.write_config()
        n.start()
        n.put_file("f", "x")
        self.assertEqual(n.curl("/f").status, 200)
        wait_for(lambda: os.path.exists(acc) and os.path.getsize(acc) > 0,
                 what="access log line")
        wait_for(lambda: "GET /f " in open(acc).read(), what="the line")
        line = open(acc).read().splitlines(True)[-1]
        self.assertRegex(line, r'^127\.0\.0\.1 - - \[.*\] "GET /f HTTP/1\.1" '
                         r'200 \d+ "-" "curl/[^"]*" \d+\.\d{3}\n')
        os.rename(acc, acc + ".1")
        os.rename(log, log + ".1")
        n.signal_master(signal.SIGUSR1)
        time.sleep(0.3 * SLOW)
        self.assertEqual(n.curl("/f").status, 200)
        wait_for(lambda: os.path.exists(acc) and os.path.getsize(acc) > 0,
                 what="access log reopened")
        self.assertTrue(os.path.exists(log))


class DetachTest(NodeTest):
    def test_detached_with_pid_file(self):
        n = self.node(start=False)
        n.start(detach=True)
        pid = n.detached_pid
        self.assertTrue(pid_alive(pid))
        # A session leader of its own, not our child.
        self.assertNotEqual(os.getsid(pid), os.getsid(0))
        self.assertEqual(os.readlink("/proc/%d/cwd" % pid), "/")
        n.put_file("f", "x")
        self.assertEqual(n.curl("/f").body, b"x")
        # A second daemon with the same pid file refuses to start.
        other = self.node(name="b", start=False)
        other.config["pid_file"] = n.pid_file
        other.write_config()
        self.assertEqual(other.start(detach=True, expect_fail=True), 1)
        n.stop()
        wait_for(lambda: not pid_alive(pid), what="daemon exit")
        self.assertFalse(os.path.exists(n.pid_file))

    def test_detached_start_failure_is_reported(self):
        n = self.node(start=False, root="/nonexistent/dir")
        self.assertEqual(n.start(detach=True, expect_fail=True), 1)
