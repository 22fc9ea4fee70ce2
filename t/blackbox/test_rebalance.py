"""The rebalancer: six small stores full of striped objects, a seventh
joins; the fullest store moves parts to the emptiest until the fills are
within stripe.rebalance_spread points, every object reads back byte for
byte during and after, each object's manifest copies (the front's and
those beside its parts) agree, the catalogue names the stores that hold
the parts, and nothing is left behind. Moves cut at the copy (the target
killed) and at the switch (the mover's agent killed) lose nothing and
leave no orphan."""

import json
import os
import random
import signal
import time

from shoal import NodeTest, pid_alive, wait_for, SLOW
from test_cluster import cluster_settings, metric

BLOCK = 64 * 1024
CAPACITY = 8 * 1024 * 1024


def fills(node):
    """Fill ratios in points of the alive stores, as node sees them."""
    ms = json.loads(node.curl("/_/cluster").body)["members"]
    return {m["name"]: 100.0 * m["used"] / m["capacity"] for m in ms
            if m["state"] == "alive" and m.get("store") and
            m.get("capacity")}


def spread(node):
    f = fills(node)
    return max(f.values()) - min(f.values()) if f else 100.0


def listdir(path):
    return sorted(os.listdir(path)) if os.path.isdir(path) else []


def read_json(path):
    with open(path) as f:
        return json.load(f)


class RebalanceTest(NodeTest):
    def cluster(self, rate="64MiB", **stripe):
        self.stripe = {"block": "64KiB", "min_size": "1",
                       "rebalance_rate": rate, "pending_timeout": "2s"}
        self.stripe.update(stripe)
        self.front = self.node("front", cluster=cluster_settings(
            store=False), stripe=dict(self.stripe))
        self.stores = [self.store("s%d" % i) for i in range(6)]
        wait_for(lambda: len(fills(self.front)) == 6,
                 what="six stores alive at the front")
        self.objects = {}
        rng = random.Random(14)
        for i in range(10):
            name = "obj%02d" % i
            data = os.urandom(rng.randrange(12, 26) * BLOCK +
                              rng.randrange(BLOCK))
            wait_for(lambda: self.front.curl(
                "/" + name, method="PUT", data=data).status == 201,
                what="the upload of " + name)
            self.objects[name] = data

    def store(self, name):
        return self.node(name, cluster=cluster_settings(
            seeds=[self.front], capacity=str(CAPACITY)),
            stripe=dict(self.stripe))

    def moves(self, result="done"):
        return sum(metric(s, 'shoal_stripe_rebalance_moves_total{result='
                          '"%s"}' % result) or 0 for s in self.stores)

    def read_all(self, node, retries=1, names=None):
        """Every object read back byte for byte at node; a read may fail
        (cut or 5xx) while a move switches its part, never give a whole
        200 with other bytes, and a retry reads it."""
        for name in names or sorted(self.objects):
            data = self.objects[name]
            for attempt in range(retries):
                r = node.curl("/" + name)
                if r.rc == 0 and r.status == 200:
                    self.assertEqual((len(r.body), r.body == data),
                                     (len(data), True), name)
                    break
                self.assertNotEqual(r.status, 404, name)
            else:
                self.fail("%s not read at %s: %s" % (name, node.name,
                                                     r.status))

    def layout_clean(self):
        """Whether every object's parts are exactly where its manifest
        (at the front, the same beside each part) says, on 6 distinct
        stores, with nothing else on any store: no pending part,
        temporary file, manifest of an object it holds no part of, or
        recorded move."""
        return self.layout_fault() is None

    def layout_fault(self):
        """What keeps the layout from being clean (layout_clean), or
        None."""
        fdir = os.path.join(self.front.config["state_dir"], "stripe")
        want = {}
        for f in listdir(os.path.join(fdir, "manifests")):
            m = read_json(os.path.join(fdir, "manifests", f))
            nodes = [p["node"] for p in m["parts"]]
            if len(set(nodes)) != 6:
                return "%s's parts on %s" % (m["id"], nodes)
            for i, n in enumerate(nodes):
                want.setdefault(n, set()).update(
                    ["%s.%d" % (m["id"], i), m["id"] + ".json"])
            want.setdefault("m", {})[m["id"]] = m
        for s in self.stores:
            d = os.path.join(s.config["state_dir"], "parts")
            objs = set(listdir(os.path.join(d, "objects")))
            left = [(k, listdir(os.path.join(d, k)))
                    for k in ("pending", "tmp")] + [("moves", listdir(
                        os.path.join(s.config["state_dir"], "stripe",
                                     "moves")))]
            if objs != want.get(s.name, set()) or any(f for k, f in left):
                return "%s: %s more, %s missing, %s" % (
                    s.name, sorted(objs - want.get(s.name, set())),
                    sorted(want.get(s.name, set()) - objs),
                    [kf for kf in left if kf[1]])
            for f in objs:
                if f.endswith(".json") and read_json(os.path.join(
                        d, "objects", f)) != want["m"][f[:-5]]:
                    return "%s: %s is not the front's" % (s.name, f)
        return None

    def wait_settled(self, timeout, what):
        """Waits for the spread to settle and the layout to be clean;
        the failure says which did not, and the fills."""
        try:
            wait_for(self.settled, timeout=timeout, what=what)
        except AssertionError as e:
            raise AssertionError("%s: spread %.1f points %s, %s" % (
                e, spread(self.front), sorted(
                    (n, round(f, 1)) for n, f in fills(self.front).items()),
                self.layout_fault() or "the layout clean")) from None

    def holders_right(self):
        """The catalogue names as holders of each object the front and
        the stores of its parts, no other."""
        r = self.front.curl("/_/catalogue?limit=1000")
        names = {v["name"]: v for v in json.loads(r.body)["names"]}
        fdir = os.path.join(self.front.config["state_dir"], "stripe")
        for f in listdir(os.path.join(fdir, "manifests")):
            m = read_json(os.path.join(fdir, "manifests", f))
            if m["name"] not in self.objects:
                continue
            holders = set(names[m["name"]]["holders"])
            if holders != set(["front"] + [p["node"]
                                           for p in m["parts"]]):
                return False
        return True

    def settled(self):
        return spread(self.front) <= 5.0 and self.layout_clean()

    def test_a_new_store_takes_parts_until_the_spread_settles(self):
        self.cluster()
        before = spread(self.front)
        self.stores.append(self.store("s6"))
        wait_for(lambda: len(fills(self.front)) == 7,
                 what="seven stores alive at the front")
        self.assertGreater(spread(self.front), 5.0)
        # Reads during the moves: right bytes, or a loud failure.
        deadline = time.time() + 30 * SLOW
        while not self.settled() and time.time() < deadline:
            self.read_all(self.front, retries=3)
        self.wait_settled(10, "the spread to settle (%.1f points before "
                          "the 7th store)" % before)
        self.assertGreater(self.moves(), 0)
        self.assertEqual(self.moves("failed"), 0, "\n".join(
            line for st in self.stores for line in st.log().splitlines()
            if "rebalance" in line or "part" in line) + str(
            [st.curl("/_/metrics").body.decode().count("rebalance")
             for st in self.stores]))
        self.assertGreater(fills(self.front)["s6"], 0)
        moved = sum(metric(s, "shoal_stripe_rebalance_bytes_total") or 0
                    for s in self.stores)
        self.assertGreater(moved, 0)
        # Some manifests are of a later generation now.
        fdir = os.path.join(self.front.config["state_dir"], "stripe",
                            "manifests")
        self.assertTrue(any(read_json(os.path.join(fdir, f)).get("gen")
                            for f in listdir(fdir)))
        wait_for(self.holders_right, what="the catalogue's holders")
        self.read_all(self.front)
        self.read_all(self.stores[6], names=["obj00", "obj05", "obj09"])
        # Settled: no more moves.
        done = self.moves()
        time.sleep(0.5)
        self.assertEqual(self.moves(), done)

    def kill_agent(self, node, pid):
        """Kills node's agent `pid` (looked up beforehand: a lookup is a
        process run, longer under load than a switch) and returns the
        new agent's."""
        try:
            os.kill(pid, signal.SIGKILL)
        except ProcessLookupError:
            pass

        def new_agent():
            p = node.agent_pid()
            return p if p not in (None, pid) else None
        return wait_for(new_agent, what="a new agent at " + node.name)

    def test_moves_cut_at_the_copy_and_the_switch_lose_nothing(self):
        # A part takes about half a second to copy.
        self.cluster(rate="512KiB")
        new = self.store("s6")
        self.stores.append(new)
        # The target killed while a copy streams into it.
        tmp = os.path.join(new.config["state_dir"], "parts", "tmp")
        wait_for(lambda: listdir(tmp), timeout=20,
                 what="a copy under way to s6")
        children = new.child_pids()
        new.kill_all()
        wait_for(lambda: not any(pid_alive(p) for p in children),
                 what="s6's processes to be gone")
        new.start()
        # The mover's agent killed while a switch is recorded: caught by
        # polling the stores' records. The origin's worker is stopped
        # meanwhile, so that a switch waits for it (then is replayed)
        # with its record on disk: a plain switch takes a few ms, which
        # this loop missed under load for all of the moves.
        caught = None
        agents = dict((s.name, s.agent_pid()) for s in self.stores[:6])
        workers = self.front.worker_pids()
        for pid in workers:
            os.kill(pid, signal.SIGSTOP)
        try:
            deadline = time.time() + 20 * SLOW
            while caught is None and time.time() < deadline:
                for s in self.stores[:6]:
                    d = os.path.join(s.config["state_dir"], "stripe",
                                     "moves")
                    if listdir(d):
                        pid = agents[s.name]
                        agents[s.name] = self.kill_agent(s, pid)
                        if listdir(d):
                            caught = s
                        break
                time.sleep(0.002)
        finally:
            for pid in workers:
                os.kill(pid, signal.SIGCONT)
        self.assertIsNotNone(caught, "no switch caught under way")
        self.read_all(self.front, retries=3)
        self.wait_settled(40, "the spread to settle and every leftover "
                          "to go")
        self.assertIn("a switch recorded earlier is complete", caught.log())
        wait_for(self.holders_right, what="the catalogue's holders")
        self.read_all(self.front)
