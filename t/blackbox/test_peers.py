"""Peer fill: a local miss asks every peer at once and relays the first hit,
keeping a copy when told to. Real clusters of shoald, and fake peers that
misbehave on purpose."""

import os
import signal
import socket
import threading
import time

import fakepeer
from shoal import NodeTest, SLOW, content_etag, has_xattrs, wait_for


def tmp_files(node):
    d = os.path.join(node.root, ".shoal-tmp")
    return os.listdir(d) if os.path.isdir(d) else []


def metric(node, line_prefix):
    for line in node.curl("/_/metrics").body.decode().splitlines():
        if line.startswith(line_prefix + " "):
            return float(line.split()[-1])
    return None


class ClusterTest(NodeTest):
    def cluster(self, a_peers_save=(True, True)):
        """c and b hold files; a asks both."""
        self.c = self.node(name="c")
        self.b = self.node(name="b")
        self.a = self.node(name="a", peers=[
            {"host": "127.0.0.1", "port": self.b.port,
             "save": a_peers_save[0]},
            {"host": "127.0.0.1", "port": self.c.port,
             "save": a_peers_save[1]}])

    def test_local_hit_does_not_ask_peers(self):
        self.cluster()
        self.a.put_file("here.txt", "local\n")
        r = self.a.curl("/here.txt")
        self.assertEqual(r.body, b"local\n")
        self.assertEqual(metric(self.a, 'shoal_peer_lookups_total{peer="'
                                "127.0.0.1:%d\"}" % self.c.port), 0)

    def test_hit_on_a_peer_is_relayed_and_saved(self):
        self.cluster()
        data = os.urandom(5 << 20)
        self.c.put_file("big.bin", data)
        etag_c = self.c.curl("/big.bin", method="HEAD").header("etag")
        r = self.a.curl("/big.bin")
        self.assertEqual(r.status, 200)
        self.assertEqual(r.rc, 0)
        self.assertEqual(r.body, data)
        self.assertEqual(r.header("etag"), etag_c)
        self.assertEqual(r.header("content-length"), str(len(data)))
        saved = os.path.join(self.a.root, "big.bin")
        wait_for(lambda: os.path.exists(saved), what="the saved copy")
        with open(saved, "rb") as f:
            self.assertEqual(f.read(), data)
        # Linked into place first, then its temporary name goes.
        wait_for(lambda: tmp_files(self.a) == [], what="no temporary file")
        # The copy is served like a local file, to users and to peers,
        # under the digest of its bytes: c's ETag names its file's
        # identity (c has not digested the operator's file).
        again = self.a.curl("/big.bin")
        self.assertEqual(again.body, data)
        if has_xattrs(saved):
            self.assertNotEqual(etag_c, content_etag(data))
            self.assertEqual(again.header("etag"), content_etag(data))
        self.assertEqual(again.header("accept-ranges"), "bytes")
        # Counted once the publish job reports back (just after the link).
        wait_for(lambda: metric(self.a, "shoal_saved_total") == 1,
                 what="the save counted")
        self.assertEqual(metric(
            self.a, 'shoal_peer_outcomes_total{peer="127.0.0.1:%d",'
            'outcome="win"}' % self.c.port), 1)
        # b was asked too; whether its "no" came before c's hit is a race.
        self.assertEqual(metric(self.a, 'shoal_peer_lookups_total{peer='
                                '"127.0.0.1:%d"}' % self.b.port), 1)

    def test_copy_of_an_upload_keeps_its_etag(self):
        # An upload's ETag is its content digest: the relayed answer and
        # the copy saved from it carry the same one.
        self.cluster()
        data = os.urandom(300000)
        up = self.c.curl("/up.bin", method="PUT", data=data)
        self.assertEqual(up.status, 201)
        etag = up.header("etag")
        self.assertEqual(etag, content_etag(data))
        r = self.a.curl("/up.bin")
        self.assertEqual((r.status, r.body), (200, data))
        self.assertEqual(r.header("etag"), etag)
        saved = os.path.join(self.a.root, "up.bin")
        wait_for(lambda: os.path.exists(saved), what="the saved copy")
        wait_for(lambda: metric(self.a, "shoal_saved_total") == 1,
                 what="the save counted")
        for method in ("GET", "HEAD"):
            again = self.a.curl("/up.bin", method=method)
            self.assertEqual(again.status, 200)
            self.assertEqual(again.header("etag"), etag)
        if has_xattrs(saved):
            self.assertEqual(os.getxattr(saved, "user.shoal.copy"), b"1")
            with self.assertRaises(OSError):
                os.getxattr(os.path.join(self.c.root, "up.bin"),
                            "user.shoal.copy")

    def test_save_off_per_peer(self):
        self.cluster(a_peers_save=(True, False))
        self.c.put_file("c.txt", "from c\n")
        self.b.put_file("b.txt", "from b\n")
        self.assertEqual(self.a.curl("/c.txt").body, b"from c\n")
        self.assertEqual(self.a.curl("/b.txt").body, b"from b\n")
        wait_for(lambda: os.path.exists(os.path.join(self.a.root, "b.txt")),
                 what="b.txt saved")
        time.sleep(0.3)
        self.assertFalse(os.path.exists(os.path.join(self.a.root, "c.txt")))
        # Linked into place first, then its temporary name goes.
        wait_for(lambda: tmp_files(self.a) == [], what="no temporary file")

    def test_global_save_off(self):
        self.c = self.node(name="c")
        self.a = self.node(name="a", peers=[self.c.port], save=False)
        self.c.put_file("f", "x" * 100)
        self.assertEqual(self.a.curl("/f").body, b"x" * 100)
        time.sleep(0.3)
        self.assertFalse(os.path.exists(os.path.join(self.a.root, "f")))

    def test_empty_file_from_a_peer(self):
        self.cluster()
        self.c.put_file("empty", b"")
        r = self.a.curl("/empty")
        self.assertEqual((r.status, r.body, r.rc), (200, b"", 0))
        wait_for(lambda: os.path.exists(os.path.join(self.a.root, "empty")),
                 what="empty copy")

    def test_head_on_a_miss(self):
        self.cluster()
        self.c.put_file("h.txt", "12345")
        r = self.a.curl("/h.txt", method="HEAD")
        self.assertEqual(r.status, 200)
        self.assertEqual(r.header("content-length"), "5")
        self.assertEqual(r.header("content-type"), "text/plain; charset=utf-8")
        time.sleep(0.2)
        self.assertFalse(os.path.exists(os.path.join(self.a.root, "h.txt")))
        # The lookup connection is still usable afterwards.
        self.assertEqual(self.a.curl("/h.txt").body, b"12345")

    def test_if_none_match_on_a_miss(self):
        self.cluster(a_peers_save=(False, False))
        self.c.put_file("e.txt", "etag me")
        etag = self.c.curl("/e.txt").header("etag")
        r = self.a.curl("/e.txt", headers=["If-None-Match: " + etag])
        self.assertEqual(r.status, 304)

    def test_miss_everywhere_is_404_and_does_not_loop(self):
        b = self.node(name="b", start=False)
        a = self.node(name="a", peers=[b.port])
        b.config["peers"] = [{"host": "127.0.0.1", "port": a.port}]
        b.write_config()
        b.start()
        r = a.curl("/nowhere")
        self.assertEqual(r.status, 404)
        self.assertEqual(b.curl("/nowhere").status, 404)
        # Each node asked the other exactly once: lookups are not
        # forwarded.
        self.assertEqual(metric(a, 'shoal_peer_lookups_total{peer='
                                '"127.0.0.1:%d"}' % b.port), 1)
        self.assertEqual(metric(b, 'shoal_peer_lookups_total{peer='
                                '"127.0.0.1:%d"}' % a.port), 1)
        self.assertEqual(metric(b, 'shoal_requests_total{method="GET",'
                                'status="404"}'), 2)

    def test_lookup_marker_is_answered_locally(self):
        self.cluster()
        self.c.put_file("only-c", "c")
        r = self.a.curl("/only-c", headers=["X-Shoal-Lookup: 1"])
        self.assertEqual(r.status, 404)

    def test_stopped_node_is_a_peer_that_says_no(self):
        self.cluster()
        self.c.put_file("f", "still here\n")
        self.b.stop()
        r = self.a.curl("/f")
        self.assertEqual(r.body, b"still here\n")
        self.c.stop()
        self.assertEqual(self.a.curl("/g").status, 404)
        self.assertEqual(metric(self.a, 'shoal_peer_outcomes_total{peer='
                                '"127.0.0.1:%d",outcome="refused"}' %
                                self.c.port), 1)

    def test_sighup_adds_a_peer(self):
        c = self.node(name="c")
        a = self.node(name="a")
        c.put_file("f", "from c\n")
        self.assertEqual(a.curl("/f").status, 404)
        a.config["peers"] = [{"host": "127.0.0.1", "port": c.port}]
        a.write_config()
        a.signal_master(signal.SIGHUP)
        wait_for(lambda: a.curl("/f").status == 200, what="new peer asked")
        self.assertEqual(a.curl("/f").body, b"from c\n")

    def test_binary_names_are_encoded_for_peers(self):
        self.cluster()
        self.c.put_file("caf\u00e9 #1.txt", "odd name\n")
        r = self.a.curl("/caf%C3%A9%20%231.txt")
        self.assertEqual((r.status, r.body), (200, b"odd name\n"))

    def test_many_sequential_misses_reuse_connections(self):
        self.cluster(a_peers_save=(False, False))
        self.c.put_file("f", "x")
        for _ in range(30):
            self.assertEqual(self.a.curl("/f").status, 200)
            self.assertEqual(self.a.curl("/none").status, 404)
        accepted = metric(self.c, "shoal_connections_accepted_total")
        # 30 curl connections plus the metrics probes; lookups reused a
        # handful of pooled connections rather than 60 new ones.
        self.assertLess(accepted, 30 + 15)


class FakePeerTest(fakepeer.FakePeerTest):
    """Every row of BADINPUT "Peer faults", with a good peer beside the bad
    one where it matters."""

    def node_with(self, *ports, **kw):
        kw.setdefault("peer_timeout", "1s")
        return self.node(peers=list(ports), **kw)

    def assert_nothing_saved(self, n, name):
        time.sleep(0.2)
        self.assertFalse(os.path.exists(os.path.join(n.root, name)))
        self.assertEqual(tmp_files(n), [])

    def assert_still_serves(self, n):
        n.put_file("alive", "yes")
        self.assertEqual(n.curl("/alive").body, b"yes")

    def test_refused_peer_does_not_stop_others(self):
        good = self.fake(fakepeer.serve_files({"f": b"good"}))
        n = self.node_with(fakepeer.refused_port(), good.port)
        r = n.curl("/f")
        self.assertEqual(r.body, b"good")

    def test_black_hole_peer_does_not_delay_a_hit(self):
        hole = self.fake(fakepeer.never_answer)
        good = self.fake(fakepeer.serve_files({"f": b"good"}))
        n = self.node_with(hole.port, good.port, peer_timeout="5s")
        start = time.time()
        r = n.curl("/f")
        self.assertEqual(r.body, b"good")
        self.assertLess(time.time() - start, 2.5 * SLOW)

    def test_black_hole_peer_ends_at_peer_timeout(self):
        hole = self.fake(fakepeer.never_answer)
        n = self.node_with(hole.port, peer_timeout="700ms")
        start = time.time()
        self.assertEqual(n.curl("/f").status, 404)
        took = time.time() - start
        self.assertGreater(took, 0.6)
        self.assertLess(took, 3 * SLOW)
        wait_for(lambda: metric(n, 'shoal_peer_outcomes_total{peer='
                                '"127.0.0.1:%d",outcome="timeout"}' %
                                hole.port) == 1, what="timeout counted")
        self.assert_still_serves(n)

    def test_late_no_after_a_hit_keeps_its_connection(self):
        # A peer that answers 404 after another peer's hit: its answer is
        # still read, so its connection is used again, not thrown away.
        late = self.fake(fakepeer.serve_files({}, delay=0.3))
        good = self.fake(fakepeer.serve_files({"f": b"good"}))
        n = self.node_with(late.port, good.port, save=False, workers=1)
        for i in range(4):
            self.assertEqual(n.curl("/f").body, b"good")
            wait_for(lambda: late.count() == i + 1, what="the late lookup")
            time.sleep(0.5 * SLOW)      # its 404 goes out after 0.3 s
        self.assertEqual(len(late.conns), 1)
        self.assertEqual(len(good.conns), 1)

    def test_black_hole_lookups_do_not_pile_up_descriptors(self):
        # Lookups a hit made useless still wait for their answer, but no
        # longer than peer_timeout: a black hole costs no descriptors.
        # The timeout is long enough for all 11 to be asked before the
        # first times out, even on a loaded machine (after a few timeouts
        # in a row the hole would rest and be asked no more).
        hole = self.fake(fakepeer.never_answer)
        good = self.fake(fakepeer.serve_files({"f": b"good"}))
        n = self.node_with(hole.port, good.port, peer_timeout="2s",
                           save=False, workers=1)
        worker = n.worker_pids()[0]

        def fds():
            return len(os.listdir("/proc/%d/fd" % worker))
        self.assertEqual(n.curl("/f").body, b"good")
        time.sleep(2.4)
        base = fds()
        for _ in range(10):
            self.assertEqual(n.curl("/f").body, b"good")
        wait_for(lambda: hole.count() == 11, what="11 lookups at the hole")
        wait_for(lambda: fds() <= base, timeout=8,
                 what="descriptors back to %d" % base)
        self.assert_still_serves(n)

    def test_peer_that_never_answers_rests_then_is_probed(self):
        hole = self.fake(fakepeer.never_answer)
        good = self.fake(fakepeer.serve_files({"f": b"good"}))
        n = self.node_with(hole.port, good.port, peer_timeout="300ms",
                           save=False, workers=1)
        label = '{peer="127.0.0.1:%d"}' % hole.port
        for _ in range(3):
            self.assertEqual(n.curl("/f").body, b"good")
        wait_for(lambda: metric(n, "shoal_peer_outcomes_total" + label[:-1] +
                                ',outcome="timeout"}') is not None and
                 "not asked for 1000 ms" in n.log(), timeout=5,
                 what="the hole's three lookups timed out")
        # Resting: not asked, and hits are as fast as ever.
        for _ in range(5):
            self.assertEqual(n.curl("/f").body, b"good")
        self.assertEqual(hole.count(), 3)
        self.assertEqual(metric(n, "shoal_peer_skipped_total" + label), 5)
        # After the rest, one probe; it answers now, and the rest is over.
        hole.behave = fakepeer.serve_files({})
        time.sleep(1.1)
        for _ in range(3):
            self.assertEqual(n.curl("/f").body, b"good")
            time.sleep(0.1)
        wait_for(lambda: "answers again" in n.log(), what="the probe answered")
        wait_for(lambda: hole.count() >= 5, what="asked again")
        self.assertEqual(metric(n, "shoal_peer_skipped_total" + label), 5)

    def test_slow_first_byte_is_aborted_and_nothing_saved(self):
        slow = self.fake(fakepeer.slow_first_byte(3))
        n = self.node_with(slow.port, peer_timeout="500ms")
        self.assertEqual(n.curl("/f").status, 404)
        self.assert_nothing_saved(n, "f")

    def test_stall_mid_body_cuts_the_client_and_saves_nothing(self):
        stall = self.fake(fakepeer.stall_body(100000, 5000))
        n = self.node_with(stall.port, peer_timeout="500ms")
        r = n.curl("/f")
        # The head went out: the only honest end is a cut connection.
        self.assertEqual(r.status, 200)
        self.assertNotEqual(r.rc, 0)
        self.assertLess(len(r.body), 100000)
        self.assert_nothing_saved(n, "f")
        self.assert_still_serves(n)

    def test_cut_body_is_never_passed_off_as_whole(self):
        cut = self.fake(fakepeer.cut_body(50000, 20000))
        n = self.node_with(cut.port)
        r = n.curl("/f")
        self.assertNotEqual(r.rc, 0, "curl took a cut body for a whole")
        self.assertLess(len(r.body), 50000)
        self.assert_nothing_saved(n, "f")
        self.assertEqual(metric(n, 'shoal_peer_outcomes_total{peer='
                                '"127.0.0.1:%d",outcome="cut"}' % cut.port),
                         1)
        self.assert_still_serves(n)

    def test_garbage_answers_count_as_failed_peers(self):
        for behave in (fakepeer.garbage_status, fakepeer.two_lengths,
                       fakepeer.length_and_chunked, fakepeer.no_framing):
            bad = self.fake(behave)
            good = self.fake(fakepeer.serve_files({"g": b"good"}))
            n = self.node_with(bad.port, good.port)
            self.assertEqual(n.curl("/f").status, 404, behave.__name__)
            self.assert_nothing_saved(n, "f")
            self.assertEqual(n.curl("/g").body, b"good", behave.__name__)
            self.assertGreaterEqual(metric(
                n, 'shoal_peer_outcomes_total{peer="127.0.0.1:%d",'
                'outcome="bad_response"}' % bad.port), 1, behave.__name__)
            n.stop()

    def test_chunked_answer_is_relayed_and_saved(self):
        body = os.urandom(300000)
        ch = self.fake(fakepeer.chunked(body, pieces=7))
        n = self.node_with(ch.port)
        r = n.curl("/f")
        self.assertEqual((r.status, r.rc), (200, 0))
        self.assertEqual(r.body, body)
        self.assertEqual(r.header("transfer-encoding"), "chunked")
        path = os.path.join(n.root, "f")
        wait_for(lambda: os.path.exists(path), what="saved chunked copy")
        with open(path, "rb") as f:
            self.assertEqual(f.read(), body)
        # An HTTP/1.0 client gets the body ended by the close.
        os.unlink(path)
        out = n.raw(b"GET /f HTTP/1.0\r\n\r\n")
        self.assertTrue(out.endswith(body))

    def test_eight_slow_peers_are_asked_at_once(self):
        fakes = [self.fake(fakepeer.slow_first_byte(1.0, b"x"))
                 if i == 7 else
                 self.fake(lambda conn, req: (time.sleep(1.0), conn.sendall(
                     fakepeer.response(404, b"", ["Content-Length: 0"]))))
                 for i in range(8)]
        n = self.node_with(*[f.port for f in fakes], peer_timeout="5s")
        start = time.time()
        r = n.curl("/f")
        took = time.time() - start
        self.assertEqual(r.body, b"x")
        self.assertGreater(took, 0.9)
        self.assertLess(took, 3.0 * SLOW, "peers were not asked in parallel")
        self.assertTrue(all(f.count() == 1 for f in fakes))

    def test_client_leaving_mid_relay_leaves_nothing(self):
        # The client goes; the transfer being saved goes on until the peer
        # cuts it: then nothing is published and the temporary file goes.
        stall = self.fake(fakepeer.stall_body(10 << 20, 1 << 20, stall=1))
        n = self.node_with(stall.port, peer_timeout="10s")
        s = n.connect()
        s.sendall(b"GET /f HTTP/1.1\r\nHost: t\r\n\r\n")
        self.assertTrue(s.recv(65536).startswith(b"HTTP/1.1 200"))
        s.close()
        wait_for(lambda: metric(n, 'shoal_peer_outcomes_total{peer='
                                '"127.0.0.1:%d",outcome="cut"}' %
                                stall.port) == 1, what="the cut counted")
        wait_for(lambda: tmp_files(n) == [], what="temporary file removed")
        self.assert_nothing_saved(n, "f")
        self.assert_still_serves(n)

    def test_client_leaving_does_not_stop_a_healthy_save(self):
        body = os.urandom(4 << 20)

        def slow(conn, req):
            conn.sendall(fakepeer.response(200, body[:1 << 20], [
                "Content-Length: %d" % len(body)]))
            time.sleep(0.5)
            conn.sendall(body[1 << 20:])
        p = self.fake(slow)
        n = self.node_with(p.port)
        s = n.connect()
        s.sendall(b"GET /f HTTP/1.1\r\nHost: t\r\n\r\n")
        self.assertTrue(s.recv(65536).startswith(b"HTTP/1.1 200"))
        s.close()
        path = os.path.join(n.root, "f")
        wait_for(lambda: os.path.exists(path), what="the copy published")
        with open(path, "rb") as f:
            self.assertEqual(f.read(), body)
        self.assertEqual(tmp_files(n), [])

    def test_client_leaving_stops_an_unsaved_relay(self):
        stall = self.fake(fakepeer.stall_body(10 << 20, 1 << 20, stall=30))
        n = self.node_with(stall.port, peer_timeout="20s", save=False)
        s = n.connect()
        s.sendall(b"GET /f HTTP/1.1\r\nHost: t\r\n\r\n")
        self.assertTrue(s.recv(65536).startswith(b"HTTP/1.1 200"))
        s.close()
        # The node drops its side of the lookup at once.
        conn = stall.conns[0]
        conn.settimeout(5 * SLOW)
        try:
            while conn.recv(65536):
                pass
        except socket.timeout:
            self.fail("the lookup connection stayed open")
        except OSError:
            pass        # reset: closed as well
        self.assertEqual(len(n.worker_pids()), 1)

    def test_peer_closing_each_connection_is_retried(self):
        def once(conn, req):
            fakepeer.serve_files({"f": b"ok"})(conn, req)
            return "close"      # keep-alive promised, then closed
        p = self.fake(once)
        n = self.node_with(p.port, save=False)
        for _ in range(10):
            r = n.curl("/f")
            self.assertEqual((r.status, r.body), (200, b"ok"))
            time.sleep(0.05)

    def test_concurrent_misses_all_served(self):
        data = os.urandom(200000)
        good = self.fake(fakepeer.serve_files({"f": data}))
        n = self.node_with(good.port, save=False, workers=2)
        results = []

        def get():
            results.append(n.curl("/f"))
        threads = [threading.Thread(target=get) for _ in range(12)]
        for t in threads:
            t.start()
        for t in threads:
            t.join()
        self.assertTrue(all(r.status == 200 and r.body == data and r.rc == 0
                            for r in results))
