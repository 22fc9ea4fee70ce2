"""The live peer set: a reload that only changes `peers` changes the set
the workers ask without replacing them, keeps the pooled connections to
the peers that stayed, stops asking the ones removed, asks the ones added,
and moves their metrics series with them."""

import signal

from shoal import NodeTest, wait_for


def metrics(node):
    return node.curl("/_/metrics").body.decode()


def metric(node, line_prefix):
    for line in metrics(node).splitlines():
        if line.startswith(line_prefix + " "):
            return float(line.split()[-1])
    return None


def lookups(node, peer):
    return metric(node, 'shoal_peer_lookups_total{peer="127.0.0.1:%d"}' %
                  peer.port)


class PeerSetTest(NodeTest):
    def test_reload_of_peers_keeps_workers_and_connections(self):
        b = self.node(name="b")
        c = self.node(name="c")
        d = self.node(name="d")
        a = self.node(name="a", peers=[b.port, c.port])
        d.put_file("from-d", "d\n")
        # Misses of names nobody has: each is asked of b over the pool.
        for i in range(4):
            self.assertEqual(a.curl("/none-%d" % i).status, 404)
        accepted = metric(b, "shoal_connections_accepted_total")
        workers = a.worker_pids()
        c_lookups = lookups(a, c)
        self.assertGreater(c_lookups, 0)

        a.config["peers"] = [{"host": "127.0.0.1", "port": b.port},
                             {"host": "127.0.0.1", "port": d.port}]
        a.write_config()
        a.signal_master(signal.SIGHUP)
        wait_for(lambda: "peers only" in a.log(), what="the reload")

        # d is asked; c is not, and its series is gone from a's metrics.
        self.assertEqual(a.curl("/from-d").body, b"d\n")
        self.assertIsNone(lookups(a, c))
        self.assertGreater(lookups(a, d), 0)
        self.assertEqual(a.worker_pids(), workers)
        # b's connection was kept: lookups to b need no new TCP
        # connection (b accepts only the metrics probe of this test).
        for i in range(4, 8):
            self.assertEqual(a.curl("/none-%d" % i).status, 404)
        self.assertEqual(metric(b, "shoal_connections_accepted_total"),
                         accepted + 1)
        c.put_file("from-c", "c\n")
        self.assertEqual(a.curl("/from-c").status, 404)

    def test_removed_peer_comes_back_with_its_counts(self):
        b = self.node(name="b")
        c = self.node(name="c")
        a = self.node(name="a", peers=[b.port, c.port])
        for i in range(3):  # distinct names: nothing negative in the index
            a.curl("/none-%d" % i)
        self.assertEqual(lookups(a, c), 3)
        a.config["peers"] = [{"host": "127.0.0.1", "port": b.port}]
        a.write_config()
        a.signal_master(signal.SIGHUP)
        wait_for(lambda: lookups(a, c) is None, what="c gone")
        a.config["peers"] = [{"host": "127.0.0.1", "port": b.port},
                             {"host": "127.0.0.1", "port": c.port}]
        a.write_config()
        a.signal_master(signal.SIGHUP)
        wait_for(lambda: lookups(a, c) is not None, what="c back")
        # Counters never go back (Prometheus counters).
        self.assertEqual(lookups(a, c), 3)

    def test_reload_of_other_settings_replaces_the_workers(self):
        b = self.node(name="b")
        a = self.node(name="a", peers=[b.port])
        workers = a.worker_pids()
        a.config["peer_timeout"] = "3s"
        a.write_config()
        a.signal_master(signal.SIGHUP)
        wait_for(lambda: a.worker_pids() and
                 not set(a.worker_pids()) & set(workers),
                 what="new workers")
