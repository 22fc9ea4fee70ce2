"""Gossip between real daemons on loopback: nodes that name one seed find
the whole cluster, a node started later joins, one stopped with SIGTERM is
`left` at once, one killed is dead within its timeouts, one frozen comes
back alive, and a node with another key or cluster name never gets in.
Then the hostile requests of shared/BADINPUT.md ("Cluster") against one
node: each is refused with the documented answer and merges nothing.

The signatures here are computed with Python's hmac and hashlib, apart
from the daemon's code, as doc/architecture.md describes them."""

import hashlib
import hmac
import json
import os
import signal
import time
import urllib.parse

from shoal import NodeTest, wait_for

KEY = "k" * 24 + "-test-cluster-key-0123"
CLUSTER = "blackbox"


def cluster_settings(seeds=(), key=KEY, name=CLUSTER, **more):
    c = {"name": name, "key": key,
         "seeds": ["127.0.0.1:%d" % s.port for s in seeds],
         "gossip_interval": "50ms", "suspect_after": "1s",
         "dead_after": "1s"}
    c.update(more)
    return c


def members(node):
    r = node.curl("/_/cluster")
    if r.status != 200:
        return {}
    return {m["name"]: m for m in json.loads(r.body)["members"]}


def states(node):
    return {n: m["state"] for n, m in members(node).items()}


def sign(body, method="POST", target="/_/gossip", key=KEY,
         cluster=CLUSTER, ts=None, nonce=None):
    ts = int(time.time() * 1000) if ts is None else ts
    nonce = nonce or os.urandom(16).hex()
    text = "shoal-v1\n%s\n%s\n%s\n%d\n%s\n%s" % (
        cluster, method, target, ts, nonce, hashlib.sha256(body).hexdigest())
    mac = hmac.new(key.encode(), text.encode(), hashlib.sha256).hexdigest()
    return "v1 ts=%d nonce=%s mac=%s" % (ts, nonce, mac)


def message(news=(), digest=(), frm="intruder", cluster=CLUSTER):
    return json.dumps({"v": 1, "cluster": cluster, "from": frm,
                       "digest": list(digest), "news": list(news)}).encode()


def news(name, addr, inc, ver=1, state="alive", sinc=None, left=False):
    return {"name": name, "addr": addr, "inc": inc, "ver": ver, "hb": ver,
            "store": True, "cap": 0, "used": 0, "left": left,
            "state": state, "sinc": inc if sinc is None else sinc}


def gossip(node, body, signature=None, cluster=CLUSTER, extra=()):
    headers = ["Content-Type: application/json",
               "Shoal-Cluster: %s" % cluster] + list(extra)
    if signature is not False:
        headers.append("Shoal-Signature: %s" % (signature or sign(body)))
    return node.curl("/_/gossip", method="POST", data=body,
                     headers=headers)


def metric(node, prefix):
    for line in node.curl("/_/metrics").body.decode().splitlines():
        if line.startswith(prefix + " "):
            return float(line.split()[-1])
    return None


class ClusterTest(NodeTest):
    def cluster_node(self, name, seeds=(), start=True, **kw):
        return self.node(name=name, start=start,
                         cluster=cluster_settings(seeds, **kw))

    def all_see(self, nodes, want, timeout=20, what="convergence"):
        """Waits until every node in `nodes` sees exactly `want`: a dict
        name -> state of the others."""
        def ok():
            for n in nodes:
                s = states(n)
                mine = {k: v for k, v in want.items() if k != n.name}
                if {k: s.get(k) for k in mine} != mine:
                    return False
            return True
        wait_for(ok, timeout=timeout, what=what)

    def test_sixteen_nodes_find_each_other_and_follow_every_change(self):
        nodes = [self.cluster_node("n0")]
        # Each names one seed: the one before it, or the first.
        for i in range(1, 16):
            nodes.append(self.cluster_node("n%d" % i,
                                           seeds=[nodes[(i - 1) // 2]]))
        self.all_see(nodes, {n.name: "alive" for n in nodes})

        # A node started later joins through any member.
        late = self.cluster_node("late", seeds=[nodes[7]])
        nodes.append(late)
        t0 = time.time()
        self.all_see(nodes, {n.name: "alive" for n in nodes})
        print("\n  a node started later known to all 16 in %.2f s" %
              (time.time() - t0))

        # Outsiders: another key, another cluster name. Both seed on n0.
        wrong_key = self.node(name="wrongkey", cluster=cluster_settings(
            [nodes[0]], key="w" * 40))
        other = self.node(name="other", cluster=cluster_settings(
            [nodes[0]], name="elsewhere"))

        # SIGTERM: left everywhere, at once (no timeout waited out).
        leaving = nodes.pop(3)
        t0 = time.time()
        leaving.stop(signal.SIGTERM)
        want = {n.name: "alive" for n in nodes}
        want[leaving.name] = "left"
        self.all_see(nodes, want, timeout=5, what="left")
        print("  a node stopped with SIGTERM is left everywhere in %.2f s" %
              (time.time() - t0))

        # SIGKILL: dead within suspect_after + dead_after and a margin.
        killed = nodes.pop(5)
        t0 = time.time()
        killed.kill_all()
        want[killed.name] = "dead"
        self.all_see(nodes, want, timeout=10, what="dead")
        print("  a node killed is dead everywhere in %.2f s "
              "(suspect_after + dead_after = 2 s)" % (time.time() - t0))
        # Dead and left members are asked nothing: they are out of every
        # node's peer set (and its per-peer series).
        gone = ['peer="127.0.0.1:%d"' % x.port for x in (killed, leaving)]
        wait_for(lambda: not any(g in n.curl("/_/metrics").body.decode()
                                 for n in nodes for g in gone),
                 timeout=10, what="dead and left members out of the peers")
        self.assertIn('peer="127.0.0.1:%d"' % nodes[0].port,
                      nodes[1].curl("/_/metrics").body.decode())

        # SIGSTOP: given up; SIGCONT: alive again, by its refutation.
        frozen = nodes[6]
        os.kill(frozen.master_pid(), signal.SIGSTOP)
        for pid in frozen.child_pids():
            os.kill(pid, signal.SIGSTOP)
        others = [n for n in nodes if n is not frozen]
        want_frozen = dict(want)
        want_frozen[frozen.name] = "dead"
        self.all_see(others, want_frozen, timeout=10, what="frozen dead")
        for pid in frozen.child_pids():
            os.kill(pid, signal.SIGCONT)
        os.kill(frozen.master_pid(), signal.SIGCONT)
        self.all_see(nodes, want, timeout=10, what="thawed alive")

        # The outsiders never got into anyone's table, nor anyone into
        # theirs.
        for n in nodes:
            m = members(n)
            self.assertNotIn("wrongkey", m)
            self.assertNotIn("other", m)
        self.assertEqual(members(wrong_key), {})
        self.assertEqual(members(other), {})
        self.assertGreater(metric(nodes[0], 'shoal_gossip_refused_total'
                                  '{reason="bad_signature"}'), 0)
        self.assertGreater(metric(nodes[0], 'shoal_gossip_refused_total'
                                  '{reason="other_cluster"}'), 0)

    def test_a_seed_down_at_start_is_joined_when_it_comes_up(self):
        seed = self.cluster_node("seed", start=False)
        b = self.cluster_node("b", seeds=[seed])
        # b serves its own files meanwhile.
        b.put_file("mine", "b\n")
        self.assertEqual(b.curl("/mine").body, b"b\n")
        time.sleep(1)
        self.assertEqual(members(b), {})
        seed.start()
        self.all_see([seed, b], {"seed": "alive", "b": "alive"},
                     timeout=40, what="the join after the seed came")

    def test_a_restarted_node_rejoins_through_the_members_it_knew(self):
        a = self.cluster_node("a")
        b = self.cluster_node("b", seeds=[a])
        c = self.cluster_node("c", seeds=[a])
        self.all_see([a, b, c], {"a": "alive", "b": "alive", "c": "alive"})
        # c's member list is saved every 10 s; wait for the file.
        path = os.path.join(c.config["state_dir"], "members.json")
        wait_for(lambda: os.path.exists(path) and
                 "\"b\"" in open(path).read(), timeout=20,
                 what="members.json")
        c.stop()
        # Its seed is gone for good; it comes back through b.
        a.stop()
        c.start()
        self.all_see([b, c], {"b": "alive", "c": "alive"}, timeout=20,
                     what="the rejoin through b")

    def test_members_are_asked_on_a_miss(self):
        a = self.cluster_node("a")
        b = self.cluster_node("b", seeds=[a])
        self.all_see([a, b], {"a": "alive", "b": "alive"})
        b.put_file("only-on-b", "from b\n")
        wait_for(lambda: a.curl("/only-on-b").status == 200, timeout=10,
                 what="a miss asked of a member")
        self.assertEqual(a.curl("/only-on-b").body, b"from b\n")
        # An upload's name check asks members too.
        r = a.curl("/only-on-b", method="PUT", data=b"again")
        self.assertEqual(r.status, 409, r.body)


class GossipBadInputTest(NodeTest):
    def setUp(self):
        super().setUp()
        self.a = self.node(name="a", cluster=cluster_settings(
            suspect_after="30s", dead_after="30s"))

    def refused(self, r, status, reason_part=None):
        self.assertEqual(r.status, status, r.body)
        if reason_part:
            self.assertIn(reason_part, r.body.decode())
        self.assertEqual(members(self.a), {})

    def intro(self, name="x", inc=None):
        inc = inc or int(time.time() * 1000)
        return message([news(name, "127.0.0.1:9", inc)])

    def test_a_signed_exchange_is_merged_and_answered_signed(self):
        body = self.intro()
        req_nonce = os.urandom(16).hex()
        r = gossip(self.a, body, signature=sign(body, nonce=req_nonce))
        self.assertEqual(r.status, 200, r.body)
        self.assertEqual(r.header("shoal-cluster"), CLUSTER)
        self.assertEqual(json.loads(r.body)["from"], "a")
        self.assertEqual(members(self.a)["x"]["state"], "alive")
        # The answer is signed over its status and the request's nonce.
        f = dict(kv.split("=", 1) for kv in
                 r.header("shoal-signature").split()[1:])
        text = "shoal-v1\n%s\n200\n%s\n%s\n%s\n%s" % (
            CLUSTER, req_nonce, f["ts"], f["nonce"],
            hashlib.sha256(r.body).hexdigest())
        self.assertEqual(f["mac"], hmac.new(KEY.encode(), text.encode(),
                                            hashlib.sha256).hexdigest())

    def test_unsigned_wrong_key_and_tampered_are_401(self):
        body = self.intro()
        self.refused(gossip(self.a, body, signature=False), 401)
        self.refused(gossip(self.a, body, signature=sign(body, key="z" * 40)),
                     401)
        sig = sign(body)
        self.refused(gossip(self.a, body.replace(b"127.0.0.1:9",
                                                 b"127.0.0.1:8"),
                            signature=sig), 401)
        self.refused(gossip(self.a, body, signature="v1 garbage"), 401)
        self.assertGreater(metric(self.a, 'shoal_gossip_refused_total'
                                  '{reason="unsigned"}'), 0)

    def test_replayed_and_stale_are_401(self):
        body = self.intro()
        sig = sign(body)
        self.assertEqual(gossip(self.a, body, signature=sig).status, 200)
        r = gossip(self.a, self.intro("y"), signature=sig)
        self.assertEqual(r.status, 401)
        r = gossip(self.a, body, signature=sig)
        self.assertEqual(r.status, 401, r.body)
        self.assertIn("already used", r.body.decode())
        old = self.intro("z")
        r = gossip(self.a, old, signature=sign(
            old, ts=int(time.time() * 1000) - 120000))
        self.assertEqual(r.status, 401)
        self.assertNotIn("z", members(self.a))

    def test_another_cluster_is_403(self):
        body = message([news("x", "127.0.0.1:9", int(time.time() * 1000))],
                       cluster="elsewhere")
        self.refused(gossip(self.a, body, cluster="elsewhere",
                            signature=sign(body, cluster="elsewhere")), 403)

    def test_bad_json_is_400_and_too_large_is_413(self):
        for body in (b"{", b"[]", b"\xff\xfe", b'{"v":1}',
                     b"[" * 10000 + b"]" * 10000,
                     message([dict(news("x", "127.0.0.1:9", 5), inc=-1)]),
                     message([dict(news("x", "127.0.0.1:9", 5),
                                   state="zombie")])):
            self.refused(gossip(self.a, body), 400)
        r = self.a.curl("/_/gossip", method="POST", headers=[
            "Shoal-Cluster: " + CLUSTER, "Content-Length: 900000000",
            "Shoal-Signature: " + sign(b"")], data=b"")
        self.assertIn(r.status, (413, 400))
        self.assertEqual(self.a.curl("/_/gossip").status, 405)

    def test_being_called_dead_is_refuted(self):
        before = json.loads(self.a.curl("/_/cluster").body)["node"]
        inc = before["incarnation"]
        body = message([news("a", before["address"], inc, ver=1,
                             state="dead", sinc=inc)])
        self.assertEqual(gossip(self.a, body).status, 200)
        after = json.loads(self.a.curl("/_/cluster").body)["node"]
        self.assertEqual(after["state"], "alive")
        self.assertGreater(after["incarnation"], inc)

    def test_absurd_values_are_refused_or_clamped(self):
        far = int(time.time() * 1000) + 3600 * 1000
        self.assertEqual(gossip(self.a, message(
            [news("future", "127.0.0.1:9", far)])).status, 200)
        self.assertNotIn("future", members(self.a))
        huge = message([news("m%d" % i, "127.0.0.1:9", 5)
                        for i in range(5000)])
        r = gossip(self.a, huge)
        self.assertIn(r.status, (400, 413), r.body)
        self.assertEqual(members(self.a), {})
        # An unknown member reported dead is not taken in.
        self.assertEqual(gossip(self.a, message(
            [news("ghost", "127.0.0.1:9", 5, state="dead")])).status, 200)
        self.assertNotIn("ghost", members(self.a))


TIME_RE = r"^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{3}Z$"


def page(node, path):
    r = node.curl(path)
    if r.status != 200:
        raise AssertionError("%s: %d %r" % (path, r.status, r.body))
    return json.loads(r.body)


class CatalogueEndpointTest(NodeTest):
    """GET /_/catalogue and /_/conflicts on real daemons: what a node lists
    of files another node holds, paging, the prefix filter, refusals."""

    FILES = {"f%d.txt" % i: b"x" * (100 + i) for i in range(5)}
    FILES.update({"sub-a": b"a\n", "sub-b": b"bb\n", "x y.txt": b"space\n",
                  "\u00e9t\u00e9.bin": b"utf-8\n",
                  # not UTF-8: the bytes ff 61, ff 62
                  "\udcffa": b"latin\n", "\udcffb": b"latin 2\n"})

    @staticmethod
    def listed(name):
        """How /_/catalogue gives a name: as it is when UTF-8, else
        percent-encoded (and "encoded": true)."""
        raw = os.fsencode(name)
        try:
            return raw.decode("utf-8"), False
        except UnicodeDecodeError:
            return urllib.parse.quote(raw, safe=""), True

    def setUp(self):
        super().setUp()
        self.a = self.node(name="a", start=False,
                           cluster=cluster_settings(replicas=1))
        for k, v in self.FILES.items():
            self.a.put_file(k, v)
        self.a.start()
        self.b = self.node(name="b", cluster=cluster_settings(
            [self.a], replicas=1))
        wait_for(lambda: len(page(self.b, "/_/catalogue?limit=100")
                             ["names"]) == len(self.FILES), timeout=20,
                 what="a's files in b's catalogue")

    def test_names_are_listed_with_their_holders_and_paged(self):
        from test_catalogue import digest
        got = page(self.b, "/_/catalogue")
        self.assertIsNone(got["next"])
        names = [e["name"] for e in got["names"]]
        order = sorted(self.FILES, key=os.fsencode)
        self.assertEqual(names, [self.listed(k)[0] for k in order])
        for e, k in zip(got["names"], order):
            data = self.FILES[k]
            self.assertEqual(e["size"], len(data))
            self.assertEqual(e["digest"], digest(data))
            self.assertEqual(e["origin"], "a")
            self.assertIn("a", e["holders"])
            self.assertEqual(e["versions"], 1)
            self.assertRegex(e["time"], TIME_RE)
            self.assertEqual(e.get("encoded", False), self.listed(k)[1])
        # Page by page, each "next" passed as "after", percent-encoded
        # (unless given so).
        seen, after = [], None
        while True:
            q = "/_/catalogue?limit=2"
            if after is not None:
                q += "&after=" + after
            p = page(self.b, q)
            self.assertLessEqual(len(p["names"]), 2)
            seen += [e["name"] for e in p["names"]]
            if p["next"] is None:
                break
            self.assertEqual(p["next"], seen[-1])
            after = p["next"] if p.get("next_encoded") else \
                urllib.parse.quote(p["next"], safe="")
        self.assertEqual(seen, names)
        p = page(self.b, "/_/catalogue?after=%C3%A9t%C3%A9.bin&limit=2")
        self.assertEqual([e["name"] for e in p["names"]], ["%FFa", "%FFb"])
        self.assertIsNone(p["next"])
        p = page(self.b, "/_/catalogue?prefix=%ff&limit=1")
        self.assertEqual((p["next"], p["next_encoded"]), ("%FFa", True))
        p = page(self.b, "/_/catalogue?prefix=%ff&after=%FFa")
        self.assertEqual([e["name"] for e in p["names"]], ["%FFb"])
        # The prefix filter, percent-decoded, with paging.
        p = page(self.b, "/_/catalogue?prefix=sub-&limit=1")
        self.assertEqual([e["name"] for e in p["names"]], ["sub-a"])
        self.assertEqual(p["next"], "sub-a")
        p = page(self.b, "/_/catalogue?prefix=sub-&after=sub-a&limit=1")
        self.assertEqual([e["name"] for e in p["names"]], ["sub-b"])
        self.assertIsNone(p["next"])
        p = page(self.b, "/_/catalogue?prefix=x%20")
        self.assertEqual([e["name"] for e in p["names"]], ["x y.txt"])
        p = page(self.b, "/_/catalogue?prefix=%C3%A9")
        self.assertEqual([e["name"] for e in p["names"]],
                         ["\u00e9t\u00e9.bin"])
        self.assertEqual(page(self.b, "/_/catalogue?prefix=nothing"),
                         {"names": [], "next": None})
        self.assertEqual(page(self.b, "/_/catalogue?after=%FFz"),
                         {"names": [], "next": None})
        # Both nodes list the same names; HEAD answers too.
        self.assertEqual([e["name"] for e in page(
            self.a, "/_/catalogue")["names"]], names)
        self.assertEqual(self.b.curl("/_/catalogue", method="HEAD").status,
                         200)
        # No conflicts, and the figures of /_/cluster and /_/metrics.
        self.assertEqual(page(self.b, "/_/conflicts"),
                         {"conflicts": [], "next": None})
        c = page(self.b, "/_/cluster")["catalogue"]
        self.assertEqual(c["names"], len(self.FILES))
        self.assertEqual(c["versions"], len(self.FILES))
        # a's, and the copies b pulls (replicas: 1, b ranked first).
        self.assertGreaterEqual(c["holdings"], len(self.FILES))
        self.assertEqual(c["conflicts"], 0)
        self.assertGreater(c["bytes"], 0)
        self.assertEqual(c["max_objects"], 1 << 20)
        self.assertEqual(metric(self.b, "shoal_catalogue_names"),
                         len(self.FILES))
        self.assertEqual(metric(self.b, "shoal_catalogue_conflicts"), 0)
        self.assertGreaterEqual(metric(
            self.b, "shoal_catalogue_facts_applied_total"), len(self.FILES))
        for m in ("shoal_catalogue_versions", "shoal_catalogue_holdings",
                  "shoal_catalogue_conflicts_total",
                  "shoal_catalogue_resyncs_total",
                  'shoal_catalogue_refused_total{reason="full"}',
                  'shoal_catalogue_refused_total{reason="invalid"}',
                  "shoal_clock_skew_warnings_total"):
            self.assertIsNotNone(metric(self.b, m), m)

    def test_bad_parameters_are_400(self):
        for q in ("limit=0", "limit=10001", "limit=abc", "limit=",
                  "limit=-1", "prefix=%2ehidden", "prefix=a%2Fb",
                  "prefix=%zz", "prefix=a%00", "after=a%2Fb", "after=.x",
                  "unknown=1", "limit=1&limit=2", "a=b", "=1"):
            for path in ("/_/catalogue", "/_/conflicts"):
                r = self.b.curl("%s?%s" % (path, q))
                self.assertEqual(r.status, 400, (path, q, r.body))
                self.assertEqual(r.body.count(b"\n"), 1, r.body)
        for path in ("/_/catalogue", "/_/conflicts"):
            self.assertEqual(self.b.curl(path, method="POST",
                                         data=b"x").status, 405)
            self.assertEqual(self.b.curl(path + "?limit=10000").status, 200)
            self.assertEqual(self.b.curl(path + "?limit=1&").status, 200)
            self.assertEqual(self.b.curl(path + "?prefix&after=").status,
                             200)

    def test_a_node_not_in_a_cluster_has_no_catalogue(self):
        c = self.node(name="c")
        for path in ("/_/catalogue", "/_/conflicts", "/_/cluster"):
            r = c.curl(path)
            self.assertEqual(r.status, 404, (path, r.body))
            self.assertEqual(r.body, b"no such endpoint\n")


class CatalogueGossipTest(NodeTest):
    """The catalogue's part of POST /_/gossip, spoken to by hand: wants
    answered with chunks of facts, clocks that are off counted."""

    def setUp(self):
        super().setUp()
        self.a = self.node(name="a", start=False, cluster=cluster_settings(
            suspect_after="30s", dead_after="30s"))
        self.a.put_file("one", b"1\n")
        self.a.put_file("a b", b"two\n")
        self.a.start()

    def test_wants_are_answered_with_chunks(self):
        wait_for(lambda: metric(self.a, "shoal_catalogue_names") == 2,
                 timeout=10, what="a's files in its catalogue")
        body = json.dumps({"v": 1, "cluster": CLUSTER, "from": "intruder",
                           "digest": [], "news": [],
                           "cat": {"want": [["a", 0, 0],
                                            ["nobody", 0, 0]]}}).encode()
        r = gossip(self.a, body)
        self.assertEqual(r.status, 200, r.body)
        chunks = json.loads(r.body)["cat"]["chunks"]
        self.assertEqual(len(chunks), 1)
        ch = chunks[0]
        self.assertEqual((ch["owner"], ch["from"]), ("a", 0))
        self.assertGreaterEqual(ch["to"], 2)
        facts = {f[0]: f for f in ch["facts"]}
        self.assertEqual(sorted(facts), ["a%20b", "one"])
        for f in facts.values():
            self.assertRegex(f[1], "^[0-9a-f]{32}$")
            self.assertEqual(f[3], "a")
            self.assertEqual(f[6], 0)
            self.assertTrue(ch["from"] < f[5] <= ch["to"])
        self.assertEqual(facts["one"][2], 2)
        # Already up to date: nothing.
        body = json.dumps({"v": 1, "cluster": CLUSTER, "from": "intruder",
                           "digest": [], "news": [],
                           "cat": {"want": [["a", ch["inc"], ch["to"]]]}}
                          ).encode()
        r = gossip(self.a, body)
        self.assertEqual(r.status, 200, r.body)
        self.assertNotIn("cat", json.loads(r.body))
        # A bad want is a 400, like any bad gossip.
        body = json.dumps({"v": 1, "cluster": CLUSTER, "from": "intruder",
                           "digest": [], "news": [],
                           "cat": {"want": [["a b", 0, 0]]}}).encode()
        r = gossip(self.a, body)
        self.assertEqual(r.status, 400, r.body)
        self.assertIn(b"cat.want[0].owner is not a valid name", r.body)

    def test_a_clock_that_is_off_is_counted_and_said(self):
        inc = int(time.time() * 1000)
        for t in (inc - 60000, inc - 61000, inc + 1000):
            body = json.dumps({"v": 1, "cluster": CLUSTER, "from": "x",
                               "digest": [], "news": [
                                   news("x", "127.0.0.1:9", inc)],
                               "t": t}).encode()
            self.assertEqual(gossip(self.a, body).status, 200)
        self.assertEqual(metric(self.a, "shoal_clock_skew_warnings_total"),
                         2)
        wait_for(lambda: "the clock of x is -60." in self.a.log(),
                 timeout=5, what="the warning")
        # Once a minute per member.
        self.assertEqual(self.a.log().count("the clock of x"), 1)

    def test_a_conflict_is_listed_logged_and_counted(self):
        """Two nodes that never met each hold `x` with other bytes (an
        operator's: stamped with the mtime); once they meet, both list
        the two versions at /_/conflicts, the older one the winner, and
        log which won."""
        from test_catalogue import digest
        old, new = b"first\n", b"second, later\n"
        self.b = self.node(name="b", start=False, cluster=cluster_settings(
            suspect_after="30s", dead_after="30s"))
        now = time.time()
        os.utime(self.b.put_file("x", old), (now - 100, now - 100))
        os.utime(self.a.put_file("x", new), (now - 50, now - 50))
        self.a.stop()
        self.a.start()
        self.b.start()
        wait_for(lambda: metric(self.a, "shoal_catalogue_names") == 3,
                 timeout=10, what="a's files in its catalogue")
        self.b.stop()
        self.b.config["cluster"] = cluster_settings(
            [self.a], suspect_after="30s", dead_after="30s")
        self.b.write_config()
        self.b.start()
        for n in (self.a, self.b):
            wait_for(lambda: page(n, "/_/conflicts")["conflicts"],
                     timeout=20, what="the conflict seen by %s" % n.name)
            got = page(n, "/_/conflicts")
            self.assertIsNone(got["next"])
            self.assertEqual(len(got["conflicts"]), 1)
            c = got["conflicts"][0]
            self.assertEqual(c["name"], "x")
            self.assertEqual(c["winner"], digest(old))
            v = c["versions"]
            self.assertEqual([x["digest"] for x in v],
                             [digest(old), digest(new)])
            self.assertEqual([x["origin"] for x in v], ["b", "a"])
            self.assertEqual([x["size"] for x in v], [len(old), len(new)])
            self.assertLess(v[0]["hlc"], v[1]["hlc"])
            self.assertEqual(v[0]["time"][:19], time.strftime(
                "%Y-%m-%dT%H:%M:%S", time.gmtime(int(now - 100))))
            for x in v:
                self.assertRegex(x["time"], TIME_RE)
                self.assertTrue(x["holders"])
            self.assertEqual(page(n, "/_/conflicts?prefix=y"),
                             {"conflicts": [], "next": None})
            e = [x for x in page(n, "/_/catalogue")["names"]
                 if x["name"] == "x"]
            self.assertEqual(e[0]["digest"], digest(old))
            self.assertEqual(e[0]["versions"], 2)
            self.assertEqual(metric(n, "shoal_catalogue_conflicts"), 1)
            self.assertGreaterEqual(
                metric(n, "shoal_catalogue_conflicts_total"), 1)
            line = "conflict: x: %s (b, %s) wins over %s (a, %s)" % (
                digest(old), v[0]["time"], digest(new), v[1]["time"])
            wait_for(lambda: line in n.log(), timeout=5,
                     what="the conflict in %s's log" % n.name)

    def test_a_reload_keeps_the_catalogue_and_max_objects_takes_a_restart(self):
        wait_for(lambda: metric(self.a, "shoal_catalogue_names") == 2,
                 timeout=10, what="a's files in its catalogue")
        before = page(self.a, "/_/catalogue")
        self.a.config["cluster"]["max_objects"] = 5000
        self.a.write_config()
        self.a.signal_master(signal.SIGHUP)
        wait_for(lambda: "a new max_objects takes a restart; still 1048576"
                 in self.a.log(), timeout=10, what="the warning")
        wait_for(lambda: "reloaded:" in self.a.log(), timeout=10,
                 what="the reload")
        self.assertEqual(page(self.a, "/_/catalogue"), before)
        self.assertEqual(page(self.a, "/_/cluster")["catalogue"]
                         ["max_objects"], 1 << 20)
        self.a.stop()
        self.a.start()
        wait_for(lambda: metric(self.a, "shoal_catalogue_names") == 2,
                 timeout=10, what="a's files after the restart")
        self.assertEqual(page(self.a, "/_/cluster")["catalogue"]
                         ["max_objects"], 5000)
