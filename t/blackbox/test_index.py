"""The shared index: expiry of saved copies (ttl), kept across restarts and
SIGKILL; one peer transfer for many concurrent misses in several workers;
negative entries; originals never expire."""

import os
import signal
import threading
import time

import fakepeer
from shoal import NodeTest, SLOW, pid_alive, wait_for


def metric(node, name):
    for line in node.curl("/_/metrics").body.decode().splitlines():
        if line.startswith(name + " "):
            return float(line.split()[-1])
    return None


class IndexTest(fakepeer.FakePeerTest):
    def test_per_peer_ttl_expires_the_copy(self):
        p = self.fake(fakepeer.serve_files({"f": b"v1"}))
        n = self.node(peers=[{"host": "127.0.0.1", "port": p.port,
                              "ttl": "1s"}], ttl="1h")
        self.assertEqual(n.curl("/f").body, b"v1")
        wait_for(lambda: self.saved(n, "f"), what="the copy")
        self.assertEqual(n.curl("/f").body, b"v1")
        self.assertEqual(p.count(), 1)          # served from the copy
        # After its time the copy is neither served nor kept.
        wait_for(lambda: not self.saved(n, "f"), timeout=5,
                 what="the sweeper removing the copy")
        # The pass logs once it is done, a moment after the unlink.
        wait_for(lambda: "removed 1 expired copy" in n.log(), timeout=5,
                 what="the sweeper's log line")
        self.assertEqual(n.curl("/f").body, b"v1")
        self.assertEqual(p.count(), 2)          # fetched again
        self.assertGreaterEqual(metric(n, "shoal_index_expirations_total"),
                                1)

    def test_expired_copy_is_never_served(self):
        p = self.fake(fakepeer.serve_files({"f": b"fresh"}))
        n = self.node(peers=[p.port], ttl="300ms")
        self.assertEqual(n.curl("/f").body, b"fresh")
        wait_for(lambda: self.saved(n, "f"), what="the copy")
        # Make the copy say "stale" on disk: if the node served it after
        # its expiry, the client would see it. Same size and times, so
        # that the sweeper still takes it for the copy it saved (a file
        # changed under it would be left alone, as an operator's).
        path = os.path.join(n.root, "f")
        st = os.stat(path)
        with open(path, "r+b") as f:
            f.write(b"stale")
        os.utime(path, ns=(st.st_atime_ns, st.st_mtime_ns))
        # Past the 300 ms (the copy's clock starts when it is published,
        # a moment after its file appears), mostly before the sweeper's
        # next pass (every second) removes it.
        time.sleep(0.6)
        for _ in range(3):
            self.assertEqual(n.curl("/f").body, b"fresh")

    def test_global_ttl_and_ttl_zero(self):
        p = self.fake(fakepeer.serve_files({"a": b"a", "b": b"b"}))
        n = self.node(peers=[{"host": "127.0.0.1", "port": p.port}],
                      ttl="1s")
        n.curl("/a")
        wait_for(lambda: not self.saved(n, "a") and p.count() == 1,
                 timeout=5, what="the global ttl")
        n.stop()
        m = self.node(name="m", peers=[p.port], ttl=0)
        m.curl("/b")
        wait_for(lambda: self.saved(m, "b"), what="the copy")
        time.sleep(2.5)
        self.assertTrue(self.saved(m, "b"), "ttl 0 means for ever")

    def test_originals_never_expire(self):
        p = self.fake(fakepeer.serve_files({}))
        n = self.node(peers=[p.port], ttl="200ms")
        n.put_file("mine", "original")
        n.curl("/nothing")
        time.sleep(1.5)
        self.assertEqual(n.curl("/mine").body, b"original")
        self.assertTrue(self.saved(n, "mine"))

    def test_a_replaced_copy_is_not_removed(self):
        p = self.fake(fakepeer.serve_files({"f": b"copy"}))
        n = self.node(peers=[p.port], ttl="1s")
        n.curl("/f")
        wait_for(lambda: self.saved(n, "f"), what="the copy")
        # An operator replaces the copy with an original of that name.
        path = os.path.join(n.root, "f")
        os.unlink(path)
        n.put_file("f", "operator's")
        time.sleep(2.5)
        self.assertEqual(n.curl("/f").body, b"operator's")

    def test_expiry_survives_sigkill_and_restart(self):
        p = self.fake(fakepeer.serve_files({"f": b"kept"}))
        n = self.node(peers=[p.port], ttl="2s")
        n.curl("/f")
        wait_for(lambda: self.saved(n, "f"), what="the copy")
        workers = n.worker_pids()
        os.killpg(n.proc.pid, signal.SIGKILL)
        n.proc.wait()
        for w in workers:
            wait_for(lambda: not pid_alive(w), what="worker gone")
        time.sleep(2.5)
        self.assertTrue(self.saved(n, "f"))     # nobody swept meanwhile
        n.start()
        wait_for(lambda: not self.saved(n, "f"), timeout=3,
                 what="the expired copy removed at start")

    def test_record_of_a_removed_copy_is_dropped_at_start(self):
        n = self.node_that_lost_a_copy()
        self.assertIn("dropped 1 record", n.log())
        self.assertEqual(metric(n, 'shoal_index_entries{kind="copy"}'), 0)

    def test_thirty_misses_in_two_workers_make_one_transfer(self):
        body = os.urandom(300000)
        p = self.fake(fakepeer.serve_files({"f": body}, delay=0.5))
        n = self.node(peers=[p.port], workers=2)
        results = []
        lock = threading.Lock()

        def get():
            r = n.curl("/f")
            with lock:
                results.append(r)
        threads = [threading.Thread(target=get) for _ in range(30)]
        for t in threads:
            t.start()
        for t in threads:
            t.join()
        self.assertEqual(len(results), 30)
        self.assertTrue(all(r.status == 200 and r.body == body and
                            r.rc == 0 for r in results))
        self.assertEqual(p.count(), 1, "one GET at the peer")
        self.assertGreaterEqual(
            metric(n, "shoal_index_collapsed_waiters_total"), 1)

    def test_killed_fetcher_does_not_delay_the_next_request(self):
        first = threading.Event()

        def behave(conn, req):
            if not first.is_set():
                first.set()     # the first fetch stalls mid-body
                conn.sendall(fakepeer.response(
                    200, b"x" * 1000, ["Content-Length: 100000"]))
                time.sleep(30)
                return "close"
            return fakepeer.serve_files({"f": b"y" * 100000})(conn, req)
        p = self.fake(behave)
        n = self.node(peers=[p.port], workers=1, peer_timeout="20s")
        s = n.connect()
        s.sendall(b"GET /f HTTP/1.1\r\nHost: h\r\n\r\n")
        self.assertTrue(s.recv(65536).startswith(b"HTTP/1.1 200"))
        victim = n.worker_pids()[0]
        os.kill(victim, signal.SIGKILL)
        wait_for(lambda: [w for w in n.worker_pids() if w != victim],
                 what="a new worker")
        start = time.time()
        r = n.curl("/f")
        self.assertEqual((r.status, r.body), (200, b"y" * 100000))
        self.assertLess(time.time() - start, 5 * SLOW,
                        "waited for the dead fetcher")

    def test_killed_fetcher_leaves_no_temporary_file(self):
        # A slow peer: 64 MiB promised, 64 KiB sent, then nothing; and
        # it holds no other name (an upload's lookup).
        stall = fakepeer.stall_body(64 << 20, 64 << 10, stall=30)

        def behave(conn, req):
            if b" /big " in req:
                return stall(conn, req)
            conn.sendall(fakepeer.response(404, b"", ["Content-Length: 0"]))
        p = self.fake(behave)
        n = self.node(peers=[p.port], workers=1, peer_timeout="20s")
        tmp = os.path.join(n.root, ".shoal-tmp")
        s = n.connect()
        s.sendall(b"GET /big HTTP/1.1\r\nHost: h\r\n\r\n")
        self.assertTrue(s.recv(65536).startswith(b"HTTP/1.1 200"))
        # An upload under way in the same worker: its reservation is not
        # the dead worker's to remove (the next upload of the name takes
        # it over).
        u = n.connect()
        u.sendall(b"PUT /up HTTP/1.1\r\nHost: h\r\nContent-Length: "
                  b"1000000\r\n\r\n" + b"u" * 1000)
        wait_for(lambda: len(os.listdir(tmp)) == 2, what="two temporaries")
        fill = [f for f in os.listdir(tmp) if f.startswith("fill-")]
        self.assertEqual(len(fill), 1, os.listdir(tmp))
        fetcher = int(fill[0].split("-")[1])
        self.assertEqual(n.worker_pids(), [fetcher])
        os.kill(fetcher, signal.SIGKILL)
        wait_for(lambda: not os.path.exists(os.path.join(tmp, fill[0])),
                 timeout=5 * SLOW, what="the dead fetcher's file removed")
        self.assertEqual([f for f in os.listdir(tmp)
                          if not f.startswith("up-")], [])
        self.assertEqual(len(os.listdir(tmp)), 1, "the reservation stays")
        self.assertIn("removed 1 temporary file of pid %d" % fetcher,
                      n.log())
        # The master forks a new worker, which serves.
        wait_for(lambda: [w for w in n.worker_pids() if w != fetcher],
                 what="a new worker")
        self.assertEqual(n.curl("/_/health").status, 200)

    def test_negative_entry_spares_the_peers_until_an_upload(self):
        p = self.fake(fakepeer.serve_files({}))
        n = self.node(peers=[p.port], index={"negative_ttl": "5s"})
        self.assertEqual(n.curl("/none").status, 404)
        for _ in range(5):
            self.assertEqual(n.curl("/none").status, 404)
        self.assertEqual(p.count(), 1)
        self.assertEqual(metric(n, "shoal_index_negative_hits_total"), 5)
        # An upload of the name clears it.
        self.assertEqual(n.curl("/none", method="PUT",
                                data=b"now here").status, 201)
        self.assertEqual(n.curl("/none").body, b"now here")

    def test_negative_entry_lapses(self):
        p = self.fake(fakepeer.serve_files({}))
        n = self.node(peers=[p.port], index={"negative_ttl": "200ms"})
        n.curl("/none")
        time.sleep(0.4)
        n.curl("/none")
        self.assertEqual(p.count(), 2)

    def test_index_metrics(self):
        n = self.node(index={"capacity": 1024})
        text = n.curl("/_/metrics").body.decode()
        for series in ('shoal_index_entries{kind="copy"} 0',
                       "shoal_index_capacity ",
                       "shoal_index_evictions_total 0",
                       "shoal_index_collapsed_waiters_total 0",
                       "shoal_index_negative_hits_total 0"):
            self.assertIn(series, text)
        self.assertTrue(os.path.exists(os.path.join(n.dir, "state",
                                                    "index")))
