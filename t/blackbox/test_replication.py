"""Uploads in a cluster of real daemons on loopback, as a user sees them:
an upload answered at one node is readable at every node; a miss of a
catalogued name asks its holders only; of two uploads of one new name at
two nodes at the same moment exactly one gets 201; an upload outlives
its origin, and the count of its copies comes back; copies made while
the cluster was smaller go once the members chosen for them hold them; a
version is read by its digest; upload.ack: replicas answers once the
copies are durable."""

import json
import signal
import threading

from machine import ranking
from shoal import NodeTest, wait_for
from test_cluster import cluster_settings, metric, states


def catalogue_names(node, prefix=""):
    r = node.curl("/_/catalogue?prefix=" + prefix)
    if r.status != 200:
        return {}
    return {e["name"]: e for e in json.loads(r.body)["names"]}


def miss_lookups(node, asked):
    want = 'shoal_miss_lookups_total{asked="%s"} ' % asked
    for line in node.curl("/_/metrics").body.decode().splitlines():
        if line.startswith(want):
            return int(float(line.split()[-1]))
    return 0


def holders(node, name):
    e = catalogue_names(node, name).get(name)
    return set(e["holders"]) if e else set()


class ReplicationTest(NodeTest):
    def cluster(self, n, replicas=2, upload=None, nodes=None, **kw):
        nodes = nodes or []
        for i in range(len(nodes), n):
            settings = cluster_settings(nodes[:1], replicas=replicas, **kw)
            extra = {"upload": upload} if upload else {}
            nodes.append(self.node(name="n%d" % i, cluster=settings,
                                   **extra))
        names = {x.name for x in nodes}

        def joined():
            return all(set(k for k, v in states(x).items()
                           if v == "alive") >= names - {x.name}
                       for x in nodes)
        wait_for(joined, timeout=30, what="the cluster to form")
        return nodes

    def test_an_upload_is_readable_everywhere_and_misses_ask_holders(self):
        nodes = self.cluster(4)
        a = nodes[0]
        r = a.curl("/spread.txt", method="PUT", data=b"one copy here\n")
        self.assertEqual(r.status, 201, r.body)
        etag = r.header("ETag")
        # Every node's catalogue names it, with two holders once the
        # chosen node has pulled its copy.
        for x in nodes:
            wait_for(lambda: len(holders(x, "spread.txt")) >= 2,
                     timeout=15, what="two holders seen at %s" % x.name)
        held = holders(a, "spread.txt")
        self.assertIn("n0", held)
        # A node that holds no copy asks the holders only: the lookup is
        # counted as asked of holders, never of everyone.
        for x in nodes:
            if x.name in held:
                continue
            before = miss_lookups(x, "holders")
            everyone = miss_lookups(x, "everyone")
            got = x.curl("/spread.txt")
            self.assertEqual(got.status, 200, got.body)
            self.assertEqual(got.body, b"one copy here\n")
            self.assertEqual(got.header("ETag"), etag)
            self.assertEqual(miss_lookups(x, "holders"), before + 1)
            self.assertEqual(miss_lookups(x, "everyone"), everyone)
        # An unknown name is asked of everyone.
        x = next(x for x in nodes if x.name not in held)
        everyone = miss_lookups(x, "everyone")
        self.assertEqual(x.curl("/nowhere").status, 404)
        self.assertEqual(miss_lookups(x, "everyone"), everyone + 1)

    def test_two_uploads_of_one_name_at_once_one_wins(self):
        a, b, c = self.cluster(3)
        for round_ in range(8):
            name = "/race-%d" % round_
            results = {}

            def put(node, body):
                results[node.name] = node.curl(name, method="PUT",
                                               data=body).status
            ta = threading.Thread(target=put, args=(a, b"from a\n"))
            tb = threading.Thread(target=put, args=(b, b"from b\n"))
            ta.start()
            tb.start()
            ta.join()
            tb.join()
            self.assertEqual(sorted(results.values()), [201, 409],
                             "round %d: %r" % (round_, results))
            winner = a if results["n0"] == 201 else b
            body = b"from a\n" if winner is a else b"from b\n"
            for x in (a, b, c):
                wait_for(lambda: x.curl(name).body == body, timeout=10,
                         what="the winner's bytes at %s" % x.name)
        # A known name is refused at once by any node.
        r = c.curl("/race-0", method="PUT", data=b"late")
        self.assertEqual(r.status, 409, r.body)

    def test_an_upload_outlives_its_origin_and_copies_come_back(self):
        nodes = self.cluster(4)
        a = nodes[0]
        r = a.curl("/survivor", method="PUT", data=b"x" * 100000)
        self.assertEqual(r.status, 201, r.body)
        wait_for(lambda: len(holders(nodes[1], "survivor")) >= 2,
                 timeout=15, what="a second copy")
        a.kill_all()
        rest = nodes[1:]
        wait_for(lambda: all(states(x).get("n0") == "dead" for x in rest),
                 timeout=20, what="the origin dead")
        for x in rest:
            got = x.curl("/survivor")
            self.assertEqual(got.status, 200, got.body)
            self.assertEqual(got.body, b"x" * 100000)

        def alive_holders():
            return holders(rest[0], "survivor") - {"n0"}
        wait_for(lambda: len(alive_holders()) >= 2, timeout=20,
                 what="the copies back to 2 among the living")

    def test_copies_beyond_the_count_go_once_the_chosen_hold_them(self):
        # Two nodes: the second holds a copy of everything. Two more
        # join: each name's copies go to the two the ranking chooses,
        # and the second's copy goes where it is not one of them.
        nodes = self.cluster(2)
        names = ["grow-%d" % i for i in range(16)]
        for name in names:
            r = nodes[0].curl("/" + name, method="PUT", data=name.encode())
            self.assertEqual(r.status, 201, r.body)
        wait_for(lambda: all("n1" in holders(nodes[0], n) for n in names),
                 timeout=15, what="n1 holding every name")
        nodes = self.cluster(4, nodes=nodes)
        everyone = [x.name for x in nodes]
        want = {n: set(ranking(n, everyone)[:2]) | {"n0"} for n in names}
        dropped = [n for n in names if "n1" not in want[n]]
        self.assertTrue(dropped)    # 16 names: n1 chosen for all, 1 in 65536

        def settled():
            seen = catalogue_names(nodes[3], "grow-")
            return all(n in seen and set(seen[n]["holders"]) == want[n]
                       for n in names)
        wait_for(settled, timeout=30,
                 what="the chosen two and the origin holding each name")
        self.assertEqual(metric(nodes[1], "shoal_replication_surplus_total"),
                         len(dropped))
        self.assertIn("a replica beyond cluster.replicas", nodes[1].log())
        for n in names:
            for x in nodes:
                self.assertEqual(x.curl("/" + n).body, n.encode())

    def test_a_version_is_read_by_its_digest(self):
        a, b = self.cluster(2, replicas=1)
        r = a.curl("/v.txt", method="PUT", data=b"version one\n")
        self.assertEqual(r.status, 201)
        digest = r.header("ETag").strip('"')
        for x in (a, b):
            wait_for(lambda: x.curl("/v.txt?version=" + digest).status ==
                     200, timeout=10, what="the version at %s" % x.name)
            self.assertEqual(x.curl("/v.txt?version=" + digest).body,
                             b"version one\n")
            self.assertEqual(x.curl("/v.txt?version=" + "0" * 32).status,
                             404)
            self.assertEqual(x.curl("/v.txt?version=xyz").status, 400)

    def test_ack_replicas_answers_once_the_copies_are_durable(self):
        nodes = self.cluster(3, upload={"ack": "replicas"})
        r = nodes[1].curl("/acked", method="PUT", data=b"safe\n")
        self.assertEqual(r.status, 201, r.body)
        self.assertEqual(r.header("Shoal-Copies"), "2")
        held = holders(nodes[1], "acked")
        self.assertEqual(len(held), 2, held)

    def test_the_longest_name_is_reserved_and_replicated(self):
        a, b, c = self.cluster(3, replicas=3)
        name = "L" * 255
        r = a.curl("/" + name, method="PUT", data=b"long\n")
        self.assertEqual(r.status, 201, r.body)
        for x in (a, b, c):
            wait_for(lambda: len(holders(x, name)) == 3, timeout=15,
                     what="three holders of the longest name at %s" %
                     x.name)
        self.assertEqual(c.curl("/" + name, method="PUT",
                                data=b"again").status, 409)
