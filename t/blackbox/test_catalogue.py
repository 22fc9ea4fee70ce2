"""The catalogue's local side and replication between real daemons on
loopback: files an operator put in a node's ROOT before it started are in
every node's catalogue; a file added to ROOT while the node runs is
announced, and its removal withdrawn; with `replicas: 2` on four nodes the
nodes rendezvous hashing chooses pull each file (same bytes in their ROOT),
and after the origin is SIGKILLed the count comes back to two among the
live ones; the internal route /_/replica refuses what is not a signed GET
of a well-formed version.

The ranking and the content digests are computed with libxxhash through
ctypes (machine.py: XXH3-64 seeded with the node's hash, XXH3-128), apart
from the daemon's code, as cluster/place.h and core/digest.h describe
them."""

import hashlib
import json
import os
import signal
import time

from machine import content_digest as digest, ranking
from shoal import NodeTest, wait_for
from test_cluster import CLUSTER, KEY, cluster_settings, metric, sign

def catalogue_stat(node, what):
    v = metric(node, "shoal_catalogue_%s" % what)
    return -1 if v is None else int(v)


def pulls(node, result):
    v = metric(node, 'shoal_replication_pulls_total{result="%s"}' % result)
    return 0 if v is None else int(v)


def catalogue(node):
    """name -> its winning version, from GET /_/catalogue (one page)."""
    r = node.curl("/_/catalogue?limit=1000")
    if r.status != 200:
        return {}
    return {v["name"]: v for v in json.loads(r.body)["names"]}


def in_root(node, name):
    try:
        with open(os.path.join(node.root, name), "rb") as f:
            return f.read()
    except OSError:
        return None


class CatalogueTest(NodeTest):
    def cluster_node(self, name, seeds=(), start=True, **kw):
        return self.node(name=name, start=start,
                         cluster=cluster_settings(seeds, **kw))

    def alive_everywhere(self, nodes):
        names = sorted(n.name for n in nodes)

        def ok():
            for n in nodes:
                r = n.curl("/_/cluster")
                if r.status != 200:
                    return False
                m = {x["name"]: x["state"]
                     for x in json.loads(r.body)["members"]}
                m[n.name] = "alive"
                if sorted(k for k, v in m.items() if v == "alive") != names:
                    return False
            return True
        wait_for(ok, timeout=20, what="the cluster to form")

    def test_files_in_root_are_catalogued_everywhere_and_follow_changes(self):
        files = {"f%d.txt" % i: os.urandom(100 + 1000 * i) for i in range(5)}
        a = self.cluster_node("a", start=False, replicas=1)
        for k, v in files.items():
            a.put_file(k, v)
        a.put_file(".hidden", "not a file name")
        a.start()
        b = self.cluster_node("b", seeds=[a], replicas=1)
        c = self.cluster_node("c", seeds=[a], replicas=1)
        nodes = [a, b, c]
        t0 = time.time()
        wait_for(lambda: all(catalogue_stat(n, "names") == 5 for n in nodes),
                 timeout=20, what="the five files in every catalogue")
        print("\n  ROOT of 5 files in 3 catalogues in %.2f s" %
              (time.time() - t0))
        # The origin and the digest are recorded beside each file: a
        # restart announces the same versions.
        for k, v in files.items():
            path = os.path.join(a.root, k)
            origin = os.getxattr(path, "user.shoal.origin").decode()
            self.assertRegex(origin, r"^[0-9a-f]{16} a$")
            self.assertIn(digest(v), os.getxattr(
                path, "user.shoal.xxh128").decode())
        # Every node lists each file with its digest and a's origin.
        for n in nodes:
            cat = catalogue(n)
            self.assertEqual(sorted(cat), sorted(files))
            for k, v in files.items():
                self.assertEqual(cat[k]["digest"], digest(v))
                self.assertEqual(cat[k]["size"], len(v))
                self.assertEqual(cat[k]["origin"], "a")
                self.assertIn("a", cat[k]["holders"])

        # A file added while a runs, of a name a ranks first (replicas 1:
        # nobody else pulls it), is announced; its removal withdrawn.
        late = next(x for x in ("late%d" % i for i in range(100))
                    if ranking(x, ["a", "b", "c"])[0] == "a")
        a.put_file(late, "added while running\n")
        wait_for(lambda: all(catalogue_stat(n, "names") == 6 for n in nodes),
                 timeout=10, what="the added file in every catalogue")
        self.assertEqual(catalogue(c)[late]["holders"], ["a"])
        os.unlink(os.path.join(a.root, late))
        wait_for(lambda: all(catalogue_stat(n, "names") == 5 for n in nodes),
                 timeout=10, what="the removal in every catalogue")
        # Moved in and out of ROOT count too.
        outside = os.path.join(a.dir, late)
        with open(outside, "w") as f:
            f.write("moved in\n")
        os.rename(outside, os.path.join(a.root, late))
        wait_for(lambda: all(catalogue_stat(n, "names") == 6 for n in nodes),
                 timeout=10, what="the file moved in")
        os.rename(os.path.join(a.root, late), outside)
        wait_for(lambda: all(catalogue_stat(n, "names") == 5 for n in nodes),
                 timeout=10, what="the file moved out")

        # A restart of a announces the same versions: nothing new.
        holdings = catalogue_stat(b, "holdings")
        a.stop()
        a.start()
        self.alive_everywhere(nodes)
        wait_for(lambda: catalogue_stat(a, "names") == 5, timeout=20,
                 what="a's catalogue after its restart")
        wait_for(lambda: catalogue_stat(b, "holdings") == holdings,
                 timeout=20, what="b's holdings after a's restart")
        self.assertEqual(catalogue_stat(b, "names"), 5)
        self.assertEqual(catalogue_stat(b, "conflicts"), 0)

    def test_a_stamp_far_ahead_is_warned_of_and_not_taken_in(self):
        # b's file says it was written an hour from now (a clock that was
        # wrong once): a catalogues it, warns, and keeps its own clock.
        b = self.cluster_node("b", start=False, replicas=1)
        path = b.put_file("ahead.txt", "from the future\n")
        ahead_ms = int(time.time() * 1000) + 3600 * 1000
        os.setxattr(path, "user.shoal.origin", b"%016x b" % (ahead_ms << 16))
        b.start()
        a = self.cluster_node("a", seeds=[b], replicas=1)
        self.alive_everywhere([a, b])
        wait_for(lambda: "ahead.txt" in catalogue(a), timeout=15,
                 what="the file in a's catalogue")
        wait_for(lambda: "b stamped a version" in a.log(), timeout=5,
                 what="a's warning")
        self.assertRegex(a.log(), r"b stamped a version 3[56]\d\d\.\d+ s "
                         r"ahead of this node's clock")
        self.assertGreaterEqual(metric(a, "shoal_clock_skew_warnings_total"),
                                1)
        # An upload at a is stamped by a's clock, not an hour ahead.
        self.assertEqual(a.curl("/now.txt", method="PUT",
                                data=b"now\n").status, 201)
        origin = os.getxattr(os.path.join(a.root, "now.txt"),
                             "user.shoal.origin").decode()
        stamp_ms = int(origin.split()[0], 16) >> 16
        self.assertLess(abs(stamp_ms - time.time() * 1000), 60 * 1000)

    def test_replicas_are_pulled_and_come_back_after_the_origin_dies(self):
        names = ["obj-%d.bin" % i for i in range(8)]
        data = {x: os.urandom(50000 + 70000 * i)
                for i, x in enumerate(names)}
        a = self.cluster_node("a", replicas=2)
        others = [self.cluster_node(n, seeds=[a], replicas=2)
                  for n in ("b", "c", "d")]
        nodes = [a] + others
        by_name = {n.name: n for n in nodes}
        # The files come once every node knows every other: a node that
        # ranks names over half the cluster pulls what it would not
        # (and keeps it: replicas are never dropped).
        self.alive_everywhere(nodes)
        for x in names:
            a.put_file(x, data[x])

        def placed(alive):
            """Every name is in the ROOT of its top two among `alive`,
            with the same bytes."""
            for x in names:
                for holder in ranking(x, [n.name for n in alive])[:2]:
                    if in_root(by_name[holder], x) != data[x]:
                        return False
            return True
        t0 = time.time()
        wait_for(lambda: placed(nodes), timeout=30,
                 what="the chosen nodes to pull every file")
        print("\n  8 files (50 KB to 540 KB) on their 2 chosen nodes of 4 "
              "in %.2f s" % (time.time() - t0))
        # Nobody else pulled: a node not chosen holds only what it was
        # given.
        for x in names:
            chosen = ranking(x, [n.name for n in nodes])[:2]
            for n in others:
                if n.name not in chosen:
                    self.assertTrue(in_root(n, x) is None,
                                    "%s on %s" % (x, n.name))
        # ... and every node's catalogue says who holds what.
        for x in names:
            want = sorted(set(["a"] + ranking(x, [n.name for n in nodes])[:2]))
            wait_for(lambda: all(sorted(catalogue(n).get(x, {}).get(
                "holders", [])) == want for n in nodes), timeout=10,
                what="the holders of %s in every catalogue" % x)
        self.assertGreater(sum(pulls(n, "ok") for n in nodes), 0)
        self.assertEqual(sum(pulls(n, "failed") for n in nodes), 0)

        # The origin dies: the names it held a place for go to the next
        # node of their ranking, pulled from the other holder.
        a.kill_all()
        t0 = time.time()
        wait_for(lambda: placed(others), timeout=30,
                 what="two live copies of every file again")
        print("  two live copies again %.2f s after the origin was killed "
              "(suspect_after + dead_after = 2 s)" % (time.time() - t0))
        for n in others:
            wait_for(lambda: metric(n, "shoal_replication_pending") == 0,
                     timeout=10, what="nothing pending on %s" % n.name)


class ReplicaRouteTest(NodeTest):
    def setUp(self):
        super().setUp()
        self.n = self.node(name="solo", cluster=cluster_settings())
        self.body = os.urandom(3000)
        self.n.put_file("f", self.body)
        self.version = digest(self.body)
        wait_for(lambda: catalogue_stat(self.n, "names") == 1, timeout=10,
                 what="f announced")

    def get(self, target, method="GET", key=KEY, cluster=CLUSTER,
            signed=True):
        headers = ["Shoal-Cluster: %s" % cluster]
        if signed:
            headers.append("Shoal-Signature: %s" % sign(
                b"", method=method, target=target, key=key, cluster=cluster))
        return self.n.curl(target, method=method, headers=headers)

    def test_a_signed_get_of_a_version_gets_its_bytes_and_origin(self):
        r = self.get("/_/replica/f?version=%s" % self.version)
        self.assertEqual(r.status, 200)
        self.assertEqual(r.body, self.body)
        self.assertRegex(r.header("shoal-origin"), r"^[0-9a-f]{16} solo$")
        # Another version of the name, well formed: not held here.
        r = self.get("/_/replica/f?version=%s" % ("0" * 32))
        self.assertEqual(r.status, 404)
        r = self.get("/_/replica/nope?version=%s" % self.version)
        self.assertEqual(r.status, 404)

    def test_unsigned_wrong_or_malformed_requests_are_refused(self):
        target = "/_/replica/f?version=%s" % self.version
        self.assertEqual(self.get(target, signed=False).status, 401)
        self.assertEqual(self.get(target, key="w" * 40).status, 401)
        self.assertEqual(self.get(target, cluster="elsewhere").status, 403)
        # A signature over another target does not hold.
        headers = ["Shoal-Cluster: %s" % CLUSTER, "Shoal-Signature: %s" %
                   sign(b"", method="GET", target="/_/replica/g")]
        self.assertEqual(self.n.curl(target, headers=headers).status, 401)
        # A replayed one neither.
        sig = sign(b"", method="GET", target=target)
        headers = ["Shoal-Cluster: %s" % CLUSTER, "Shoal-Signature: %s" % sig]
        self.assertEqual(self.n.curl(target, headers=headers).status, 200)
        self.assertEqual(self.n.curl(target, headers=headers).status, 401)
        for bad in ("", "?version=", "?version=xyz",
                    "?version=%s" % self.version[:31],
                    "?version=%s0" % self.version,
                    "?version=%sg" % self.version[:31]):
            self.assertEqual(self.get("/_/replica/f" + bad).status, 400,
                             bad)
        self.assertEqual(self.get("/_/replica/.hidden?version=%s" %
                                  self.version).status, 400)
        self.assertEqual(self.get(target, method="POST").status, 405)
        self.assertEqual(self.get(target, method="HEAD").status, 405)


    def test_reservations_are_signed_and_the_first_stamp_wins(self):
        now = int(time.time() * 1000) << 16

        def target(name, stamp, node):
            return "/_/reserve/%s?stamp=%016x&node=%s" % (
                name, stamp, node.encode().hex())
        first = target("new.txt", now, "x1")
        r = self.get(first, method="POST")
        self.assertEqual((r.status, r.body), (200, b"granted\n"))
        # A later stamp of another node: refused, the first holds it.
        r = self.get(target("new.txt", now + 1, "x2"), method="POST")
        self.assertEqual(r.status, 409)
        self.assertEqual(r.header("shoal-refusal"), "earlier")
        # A name the catalogue knows: refused as existing.
        r = self.get(target("f", now, "x1"), method="POST")
        self.assertEqual(r.status, 409)
        self.assertEqual(r.header("shoal-refusal"), "exists")
        # Unsigned, badly signed or of another cluster: refused, nothing
        # taken (the second node's later stamp is still refused, not
        # granted in the first's place).
        second = target("new.txt", now + 2, "x2")
        self.assertEqual(self.get(second, method="POST",
                                  signed=False).status, 401)
        self.assertEqual(self.get(second, method="DELETE",
                                  key="w" * 40).status, 401)
        self.assertEqual(self.get(first, method="DELETE",
                                  cluster="elsewhere").status, 403)
        self.assertEqual(self.get(second, method="POST").status, 409)
        for bad in ("/_/reserve/new.txt?stamp=12&node=7831",
                    "/_/reserve/new.txt?node=7831",
                    "/_/reserve/.hidden?stamp=%016x&node=7831" % now):
            self.assertEqual(self.get(bad, method="POST").status, 400, bad)
        self.assertEqual(self.get(first, method="GET").status, 405)
        # Released by its node: the next one gets it.
        self.assertEqual(self.get(first, method="DELETE").status, 200)
        self.assertEqual(self.get(target("new.txt", now + 3, "x2"),
                                  method="POST").status, 200)

def holders_of(node, version):
    r = node.curl("/_/conflicts")
    for cf in json.loads(r.body)["conflicts"]:
        for v in cf["versions"]:
            if v["digest"] == version:
                return v["holders"]
    return []


class ConflictTest(NodeTest):
    def test_two_nodes_with_different_bytes_for_one_name_keep_both(self):
        """Two nodes that never met each took a file `x` with different
        bytes (an operator's, so stamped with its mtime); when they meet,
        the older one wins everywhere: the loser leaves b's ROOT for its
        state directory (still held, still announced), the winner is
        pulled into b's ROOT, and each node keeps the other's version
        aside (replicas: 2 of 2)."""
        old, new = b"written first\n" * 100, b"written later\n" * 90
        a = self.node(name="a", start=False,
                      cluster=cluster_settings(replicas=2))
        b = self.node(name="b", start=False,
                      cluster=cluster_settings(replicas=2))
        now = time.time()
        os.utime(a.put_file("x", old), (now - 100, now - 100))
        os.utime(b.put_file("x", new), (now - 50, now - 50))
        a.start()
        b.start()
        for n in (a, b):
            wait_for(lambda: catalogue_stat(n, "names") == 1, timeout=10,
                     what="x announced alone on %s" % n.name)
        # b learns of a: the split heals.
        b.stop()
        b.config["cluster"] = cluster_settings(seeds=[a], replicas=2)
        b.write_config()
        b.start()
        aside = lambda n, d: os.path.join(n.config["state_dir"], "versions",
                                          d, "x")

        def settled():
            for n in (a, b):
                if in_root(n, "x") != old:
                    return False
                try:
                    with open(aside(n, digest(new)), "rb") as f:
                        if f.read() != new:
                            return False
                except OSError:
                    return False
            return True
        t0 = time.time()
        wait_for(settled, timeout=30, what="the winner in both ROOTs, the "
                 "loser kept aside on both")
        print("\n  conflict settled on 2 nodes in %.2f s" %
              (time.time() - t0))
        for n in (a, b):
            self.assertEqual(catalogue_stat(n, "names"), 1)
            self.assertEqual(catalogue_stat(n, "versions"), 2)
            self.assertEqual(catalogue_stat(n, "conflicts"), 1)
        for n in (a, b):
            r = n.curl("/_/conflicts")
            self.assertEqual(r.status, 200)
            (cf,) = json.loads(r.body)["conflicts"]
            self.assertEqual(cf["winner"], digest(old))
            self.assertEqual([v["digest"] for v in cf["versions"]],
                             [digest(old), digest(new)])
            for v in cf["versions"]:
                wait_for(lambda: sorted(v["holders"]) == ["a", "b"] or
                         sorted(holders_of(n, v["digest"])) == ["a", "b"],
                         timeout=10, what="both versions held by both")
        self.assertIn("x version %s lost a conflict" % digest(new), b.log())
        self.assertNotIn("lost a conflict", a.log())


class CorruptHolderTest(NodeTest):
    def test_bytes_that_are_not_the_version_are_discarded(self):
        """a's file rots in place after it was announced (same size and
        mtime, so a still takes it for the version it announced); b's
        pull gets bytes whose digest is not the version's: they are
        discarded, counted, and never published."""
        a = self.node(name="a", cluster=cluster_settings(replicas=2))
        body = os.urandom(300000)
        a.put_file("x", body)
        wait_for(lambda: catalogue_stat(a, "names") == 1, timeout=10,
                 what="x announced on a")
        # Rot through a second link, out of the watched ROOT.
        path = os.path.join(a.root, "x")
        link = os.path.join(a.dir, "x-link")
        os.link(path, link)
        st = os.stat(path)
        with open(link, "r+b") as f:
            f.seek(1000)
            f.write(bytes([body[1000] ^ 0xff]))
        os.utime(link, ns=(st.st_atime_ns, st.st_mtime_ns))
        b = self.node(name="b", cluster=cluster_settings(seeds=[a],
                                                         replicas=2))
        wait_for(lambda: pulls(b, "failed") >= 1, timeout=20,
                 what="b's pull to fail")
        self.assertEqual(pulls(b, "ok"), 0)
        self.assertIsNone(in_root(b, "x"))
        # The temporary file goes once the spool's last job is done.
        wait_for(lambda: os.listdir(os.path.join(b.root, ".shoal-tmp")) ==
                 [], timeout=5, what="b's temporary file removed")
        self.assertIn("the bytes are not the version's", b.log())
        self.assertEqual(catalogue(b)["x"]["holders"], ["a"])


class NewsTest(NodeTest):
    def test_a_new_version_is_pulled_at_once_in_a_large_catalogue(self):
        """40,000 versions take the walk 10 ticks (2.5 s) to go round; a
        version announced now is pulled within a tick or two of its news
        (the members' new facts are looked at every tick)."""
        a = self.node(name="a", start=False,
                      cluster=cluster_settings(replicas=1))
        made, i = 0, 0
        while made < 40000:
            x = "n%d" % i
            i += 1
            # Names a ranks first: nothing to pull, nothing to wait for.
            if ranking(x, ["a", "b"])[0] == "a":
                with open(os.path.join(a.root, x), "w") as f:
                    f.write(x)
                made += 1
        a.start()
        b = self.node(name="b", cluster=cluster_settings(seeds=[a],
                                                         replicas=1))
        wait_for(lambda: catalogue_stat(b, "names") == 40000, timeout=120,
                 what="a's 40000 versions in b's catalogue")
        worst = 0
        for k in range(3):
            new = next(x for x in ("new%d-%d" % (k, j) for j in range(100))
                       if ranking(x, ["a", "b"])[0] == "b")
            t0 = time.time()
            a.put_file(new, "fresh")
            wait_for(lambda: in_root(b, new) == b"fresh", timeout=30,
                     what="%s pulled by b" % new)
            worst = max(worst, time.time() - t0)
        print("\n  a new version pulled in %.2f s at worst (of 3), "
              "40000 versions in the catalogue" % worst)
        self.assertLess(worst, 1.5)
