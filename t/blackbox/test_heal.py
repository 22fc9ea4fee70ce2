"""Healing: four data parts and two parity parts on eight stores. Two
stores die: every object reads right and its lost parts are rebuilt onto
the other stores (the front's manifests name only alive stores, none
missing); two more die and every object still reads right, which it could
not had the first two not been healed. A store restarted after its parts
were rebuilt elsewhere drops its stale copies; an upload cut by a store's
death is healed, the status page showing it degraded (warned of) until
then. A byte flipped in a part is found by a read, checked
by the store's scrubber and the part rebuilt elsewhere."""

import json
import os
import re
import socket
import time

from shoal import NodeTest, wait_for, SLOW
from test_cluster import cluster_settings, metric

BLOCK = 64 * 1024


def manifests(node):
    d = os.path.join(node.config["state_dir"], "stripe", "manifests")
    out = {}
    for f in os.listdir(d):
        with open(os.path.join(d, f)) as fh:
            m = json.load(fh)
        out[m["name"]] = m
    return out


def used(node):
    """The use the node gossips of itself."""
    return json.loads(node.curl("/_/cluster").body)["node"]["used"]


def alive_stores(node):
    ms = json.loads(node.curl("/_/cluster").body)["members"]
    return {m["name"] for m in ms if m["state"] == "alive" and
            m.get("store")}


def degraded_on_page(node):
    """The degraded objects the status page shows, and whether warned of
    (the server's view, as a person sees it with JavaScript off)."""
    page = node.curl("/_/status").body.decode()
    m = re.search(r'<div( class="warn")?><dt>degraded objects</dt>'
                  r'<dd id="striping-degraded_objects"[^>]*>(\d+)</dd>',
                  page)
    return m and (int(m.group(2)), m.group(1) is not None)


class HealTest(NodeTest):
    def cluster(self, **stripe):
        self.stripe = {"block": "64KiB", "min_size": "1", "parts": 4,
                       "parity": 2, "pending_timeout": "2s",
                       "scrub_rate": "64KiB"}
        self.stripe.update(stripe)
        self.front = self.node("front", cluster=cluster_settings(
            store=False), stripe=dict(self.stripe))
        self.stores = [self.node("s%d" % i, cluster=cluster_settings(
            seeds=[self.front], capacity="64MiB"),
            stripe=dict(self.stripe)) for i in range(8)]
        wait_for(lambda: len(alive_stores(self.front)) == 8,
                 what="eight stores alive at the front")
        self.objects = {}

    def put(self, name, data):
        wait_for(lambda: self.front.curl("/" + name, method="PUT",
                                         data=data).status == 201,
                 what="the upload of " + name)
        self.objects[name] = data

    def reads_right(self):
        for name, data in sorted(self.objects.items()):
            r = self.front.curl("/" + name)
            self.assertEqual((r.status, r.body == data), (200, True), name)

    def healed(self, dead):
        """Every object's manifest at the front names no dead store and
        misses no part."""
        ms = manifests(self.front)
        return all("missing" not in ms[n] and
                   not any(p["node"] in dead for p in ms[n]["parts"])
                   for n in self.objects)

    def holder(self, name, part):
        node = manifests(self.front)[name]["parts"][part]["node"]
        return next(s for s in self.stores if s.name == node)

    def test_lost_stores_are_healed_and_a_stale_store_drops_its_parts(self):
        self.cluster()
        for i, size in enumerate([BLOCK, 4 * BLOCK - 1, 9 * BLOCK + 5,
                                  30 * BLOCK + 7, 41 * BLOCK]):
            self.put("h%d" % i, os.urandom(size))
        # A byte flipped in a part: the GET is right, the store that
        # found it has its scrubber (slow: a block a second) check that
        # part first, the origin rebuilds it on another store, the
        # corrupt copy goes.
        rot = self.holder("h4", 2)
        path = os.path.join(rot.config["state_dir"], "parts", "objects",
                            "%s.2" % manifests(self.front)["h4"]["id"])
        with open(path, "r+b") as f:
            f.seek(BLOCK + 10)
            b = f.read(1)
            f.seek(BLOCK + 10)
            f.write(bytes([b[0] ^ 0x01]))
        self.reads_right()
        wait_for(lambda: not os.path.exists(path) and "missing" not in
                 manifests(self.front)["h4"] and self.holder("h4", 2) !=
                 rot, what="the corrupt part rebuilt elsewhere",
                 timeout=20 * SLOW)
        self.assertEqual(metric(rot, "shoal_stripe_scrub_corrupt_blocks_"
                                "total"), 1)
        self.assertGreaterEqual(metric(rot, "shoal_stripe_corrupt_blocks_"
                                       "total"), 1)
        self.assertIn("block 1 of part", rot.log())
        self.reads_right()
        big = "h3"
        first = [self.holder(big, 0), self.holder(big, 5)]
        lost = sum(p["size"] for m in manifests(self.front).values()
                   for p in m["parts"] if p["node"] in
                   {s.name for s in first})
        for s in first:
            s.kill_all()
        self.reads_right()
        t0 = time.monotonic()
        dead = {x.name for x in first}
        wait_for(lambda: self.healed(dead), what="every object healed",
                 timeout=30 * SLOW)
        took = time.monotonic() - t0
        print("healed %d bytes of lost parts in %.2f s (death detection "
              "included)" % (lost, took))
        # Counted once the switch reached every store, after the front.
        want = lost + manifests(self.front)["h4"]["parts"][2]["size"]
        wait_for(lambda: metric(self.front, "shoal_stripe_heal_bytes_"
                                "total") == want, what="the bytes healed")
        self.assertGreaterEqual(metric(
            self.front, 'shoal_stripe_heals_total{result="done"}'), 1)
        wait_for(lambda: metric(self.front, "shoal_stripe_degraded_objects")
                 == 0, what="no degraded object counted")
        # /_/cluster says the same, for people and scripts.
        striping = json.loads(self.front.curl("/_/cluster").body)["striping"]
        self.assertEqual((striping["degraded_objects"],
                          striping["heal_todo_bytes"],
                          striping["healed_bytes"]), (0, 0, want))
        self.assertGreaterEqual(striping["healed_parts"], 1)
        self.reads_right()
        # Restarted, a dead store drops the parts rebuilt elsewhere.
        back = first[0]
        back.start()
        objdir = os.path.join(back.config["state_dir"], "parts", "objects")
        wait_for(lambda: not any(f.endswith(".json") and f[:32] in {
            m["id"] for m in manifests(self.front).values()}
            for f in os.listdir(objdir)),
            what="the stale parts dropped", timeout=20 * SLOW)
        self.assertGreaterEqual(metric(
            back, "shoal_stripe_stale_parts_dropped_total"), 1)
        back.kill_all()
        # Two more stores die: four of six parts left, every object
        # reads right.
        then = [self.holder(big, 1), self.holder(big, 2)]
        for s in then:
            s.kill_all()
        self.reads_right()

    def test_an_upload_cut_by_a_dead_store_is_healed(self):
        # Its lost part (10 blocks) healed in about 2.5 s: time for the
        # status page to show it degraded.
        self.cluster(heal_rate="256KiB")
        self.put("warm", os.urandom(3 * BLOCK))
        data = os.urandom(40 * BLOCK + 7)
        base = {st.name: used(st) for st in self.stores}
        s = self.front.connect()
        s.sendall(("PUT /cut HTTP/1.1\r\nHost: x\r\nConnection: "
                   "close\r\nContent-Length: %d\r\n\r\n" %
                   len(data)).encode() + data[:10 * BLOCK])
        # A store that takes a part of this upload (the warm-up object
        # left some use on each of six).
        wait_for(lambda: sum(used(st) > base[st.name] for st in
                             self.stores) >= 6, what="parts on their way")
        victim = next(st for st in self.stores if used(st) > base[st.name])
        victim.kill_all()
        s.sendall(data[10 * BLOCK:])
        s.settimeout(20 * SLOW)
        answer = b""
        while True:
            try:
                got = s.recv(65536)
            except socket.timeout:
                break
            if not got:
                break
            answer += got
        self.assertRegex(answer[:12], rb"HTTP/1.1 201")
        self.assertIn(b"\r\nShoal-Degraded: 1\r\n", answer)
        self.objects["cut"] = data
        wait_for(lambda: degraded_on_page(self.front) == (1, True),
                 what="the page showing one degraded object, warned of")
        wait_for(lambda: self.healed({victim.name}),
                 what="the cut upload healed",
                 timeout=30 * SLOW)
        wait_for(lambda: degraded_on_page(self.front) == (0, False),
                 what="the page showing none degraded")
        self.reads_right()
