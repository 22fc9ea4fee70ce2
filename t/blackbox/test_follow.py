"""Waiters stream the fill: requests for a name whose fetch from a peer is
in flight (in any worker) get its bytes as they arrive, with Range too,
from one transfer; a fetch that fails cuts every one of them, never a
short answer that looks whole."""

import http.client
import os
import signal
import threading
import time

import fakepeer
from shoal import SLOW, wait_for

PIECE = 64 * 1024


def metric(node, name):
    for line in node.curl("/_/metrics").body.decode().splitlines():
        if line.startswith(name + " "):
            return float(line.split()[-1])
    return None


def get(node, headers=None):
    """GET /f on a connection of its own: when the head came, the status,
    the headers, the body, and whether the body was whole (a cut or a short
    read says False)."""
    c = http.client.HTTPConnection("127.0.0.1", node.port,
                                   timeout=20 * SLOW)
    out = {"whole": False, "body": b"", "status": 0, "first": None}
    try:
        c.request("GET", "/f", headers=headers or {})
        r = c.getresponse()
        out.update(first=time.time(), status=r.status,
                   headers={k.lower(): v for k, v in r.getheaders()})
        out["body"] = r.read()
        out["whole"] = True
    except http.client.IncompleteRead as e:
        out["body"] = e.partial
    except (http.client.HTTPException, OSError):
        pass
    finally:
        c.close()
    return out


class FollowTest(fakepeer.FakePeerTest):
    def slow_peer(self, body, cut_at=None):
        """A fake peer trickling `body` over about 0.8 s, and a node of two
        workers in front of it."""
        behave = fakepeer.trickle(body, PIECE, 0.8 / (len(body) / PIECE),
                                  cut_at=cut_at)
        p = self.fake(behave)
        n = self.node(peers=[p.port], workers=2, peer_timeout="20s")
        return behave, p, n

    def clients(self, n, p, count, headers=None):
        """One client, then (once the peer has the request) count - 1 more
        at once; returns every client's result, the first one's first."""
        results = [None] * count

        def run(i):
            results[i] = get(n, headers)
        threads = [threading.Thread(target=run, args=(i,))
                   for i in range(count)]
        threads[0].start()
        wait_for(lambda: p.count() == 1, what="the fetch")
        for t in threads[1:]:
            t.start()
        for t in threads:
            t.join()
        return results

    def test_five_waiters_stream_one_transfer_as_it_arrives(self):
        body = os.urandom(1 << 20)
        behave, p, n = self.slow_peer(body)
        results = self.clients(n, p, 5)
        for r in results:
            self.assertTrue(r["whole"], "a body was cut")
            self.assertEqual(r["status"], 200)
            self.assertEqual(r["body"], body)
            self.assertEqual(r["headers"]["content-length"], str(len(body)))
            self.assertEqual(r["headers"]["etag"],
                             '"00112233445566778899aabbccddeeff"')
        self.assertEqual(p.count(), 1, "one GET at the peer")
        self.assertEqual(metric(n, "shoal_miss_followers_total"), 4)

    def test_waiters_get_their_first_byte_before_the_peer_is_done(self):
        body = os.urandom(1 << 20)
        behave, p, n = self.slow_peer(body)
        finished = []
        behave_done = behave.done

        def watch():
            behave_done.wait(30 * SLOW)
            finished.append(time.time())
        w = threading.Thread(target=watch)
        w.start()
        results = self.clients(n, p, 5)
        w.join()
        for r in results:
            self.assertTrue(r["whole"])
            self.assertLess(r["first"], finished[0],
                            "a waiter's head came after the whole body")

    def test_range_while_in_flight(self):
        body = os.urandom(1 << 20)
        behave, p, n = self.slow_peer(body)
        first = threading.Thread(target=get, args=(n,))
        first.start()
        wait_for(lambda: p.count() == 1, what="the fetch")
        mid = get(n, {"Range": "bytes=500000-599999"})
        tail = get(n, {"Range": "bytes=-1000"})
        first.join()
        self.assertEqual(mid["status"], 206)
        self.assertTrue(mid["whole"])
        self.assertEqual(mid["body"], body[500000:600000])
        self.assertEqual(mid["headers"]["content-range"],
                         "bytes 500000-599999/%d" % len(body))
        self.assertEqual((tail["status"], tail["body"]), (206, body[-1000:]))
        self.assertEqual(p.count(), 1, "one GET at the peer")
        self.assertEqual(metric(n, "shoal_miss_followers_total"), 2)

    def test_a_peer_cut_mid_body_cuts_every_waiter(self):
        body = os.urandom(1 << 20)
        behave, p, n = self.slow_peer(body, cut_at=len(body) // 2)
        results = self.clients(n, p, 5)
        for r in results:
            self.assertFalse(r["whole"], "a short body passed for whole")
            self.assertLess(len(r["body"]), len(body))
        self.assertGreaterEqual(metric(n, "shoal_miss_followers_total"), 1)
        self.assertIn("the fetch failed", n.log())

    def test_a_killed_fetcher_cuts_its_followers(self):
        body = os.urandom(1 << 20)
        behave, p, n = self.slow_peer(body)
        results = [None] * 5

        def run(i):
            results[i] = get(n)
        threads = [threading.Thread(target=run, args=(i,)) for i in range(5)]
        for t in threads:
            t.start()
        # The fetching worker is the one whose pid names the fill.
        tmp = os.path.join(n.root, ".shoal-tmp")
        fills = wait_for(lambda: [f for f in os.listdir(tmp)
                                  if f.startswith("fill-")], what="the fill")
        wait_for(lambda: metric(n, "shoal_miss_followers_total") == 4,
                 what="four followers")
        os.kill(int(fills[0].split("-")[1]), signal.SIGKILL)
        killed = time.time()
        for t in threads:
            t.join()
        # Followers in the other worker hear it from the master at once.
        self.assertLess(time.time() - killed, 5 * SLOW)
        for r in results:
            self.assertFalse(r["whole"], "a short body passed for whole")
