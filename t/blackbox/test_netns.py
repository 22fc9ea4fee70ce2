"""A cluster on separate hosts, cut in two by the network and healed.

Each node runs in a network namespace of its own, reached over a veth
pair whose other end is on a bridge in one more namespace (the switch);
the test makes all of them and removes them. No namespace has a route
out of the machine. The split is iptables DROP rules inside the nodes'
namespaces; healing removes them. Both halves must give the other up,
then become one cluster again without a restart.

Skipped, with the reason, where the machine cannot make namespaces (not
root, no `ip netns`, no iptables)."""

import hashlib
import json
import os
import shutil
import subprocess
import sys
import time
import unittest

from shoal import NodeTest, wait_for
from test_cluster import cluster_settings, metric, states

NODES = 4
SUBNET = "10.77.%d.%d"


def run(*cmd, check=True):
    return subprocess.run(list(cmd), capture_output=True, timeout=30,
                          check=check)


def can_make_namespaces():
    if os.geteuid() != 0:
        return "needs root to make network namespaces"
    for tool in ("ip", "iptables"):
        if shutil.which(tool) is None:
            return "%s is not installed" % tool
    name = "shoalprobe%d" % os.getpid()
    if run("ip", "netns", "add", name, check=False).returncode != 0:
        return "this machine cannot make network namespaces"
    probe = run("ip", "netns", "exec", name, "iptables", "-L", "INPUT",
                check=False)
    run("ip", "netns", "del", name, check=False)
    if probe.returncode != 0:
        return "iptables does not work inside a namespace here: %s" % \
            probe.stderr.decode(errors="replace").strip()
    return None


SKIP = can_make_namespaces()


class NetnsTest(NodeTest):
    """Nodes in namespaces of their own on one bridge; no tests here."""

    NODES = NODES

    def setUp(self):
        super().setUp()
        tag = "%d" % (os.getpid() % 10000)
        self.net = 100 + os.getpid() % 100
        self.switch = "shoalsw" + tag
        self.spaces = ["shoaln%s-%d" % (tag, i) for i in range(self.NODES)]
        self.made = []
        self.addCleanup(self.remove_namespaces)
        run("ip", "netns", "add", self.switch)
        self.made.append(self.switch)
        self.in_ns(self.switch, "ip", "link", "add", "br0", "type",
                   "bridge")
        self.in_ns(self.switch, "ip", "link", "set", "br0", "up")
        for i, ns in enumerate(self.spaces):
            run("ip", "netns", "add", ns)
            self.made.append(ns)
            # One end in the node's namespace, the other on the bridge.
            run("ip", "link", "add", "shv%s" % i, "netns", ns, "type",
                "veth", "peer", "name", "shp%s" % i, "netns", self.switch)
            self.in_ns(ns, "ip", "link", "set", "lo", "up")
            self.in_ns(ns, "ip", "link", "set", "shv%s" % i, "up")
            self.in_ns(ns, "ip", "addr", "add", self.addr(i) + "/24",
                       "dev", "shv%s" % i)
            self.in_ns(self.switch, "ip", "link", "set", "shp%s" % i,
                       "master", "br0")
            self.in_ns(self.switch, "ip", "link", "set", "shp%s" % i, "up")

    def addr(self, i):
        return SUBNET % (self.net, i + 1)

    def in_ns(self, ns, *cmd, check=True):
        return run("ip", "netns", "exec", ns, *cmd, check=check)

    def remove_namespaces(self):
        for n in self.nodes:
            n.kill_all()
        for ns in self.made:
            run("ip", "netns", "del", ns, check=False)

    def node_in(self, i, seed=None, cluster=None, **settings):
        c = cluster_settings(advertise="%s:8080" % self.addr(i))
        c.update(cluster or {})
        n = self.node(name="h%d" % i, start=False, cluster=c, **settings)
        n.host = self.addr(i)
        n.port = 8080
        n.config["listen"] = "%s:8080" % self.addr(i)
        if seed is not None:
            n.config["cluster"]["seeds"] = ["%s:8080" % self.addr(seed)]
        n.cmd_prefix = ["ip", "netns", "exec", self.spaces[i]]
        n.write_config()
        n.start()
        return n

    def cut(self, left, right):
        for i in left:
            for j in right:
                for a, b in ((i, j), (j, i)):
                    self.in_ns(self.spaces[a], "iptables", "-A", "INPUT",
                               "-s", self.addr(b), "-j", "DROP")
                    self.in_ns(self.spaces[a], "iptables", "-A", "OUTPUT",
                               "-d", self.addr(b), "-j", "DROP")

    def heal(self):
        for ns in self.spaces:
            self.in_ns(ns, "iptables", "-F", "INPUT")
            self.in_ns(ns, "iptables", "-F", "OUTPUT")

    def see(self, nodes, want, timeout, what):
        def ok():
            for n in nodes:
                s = states(n)
                if any(s.get(k) != v for k, v in want.items()
                       if k != n.name):
                    return False
            return True
        wait_for(ok, timeout=timeout, what=what)


@unittest.skipIf(SKIP is not None, SKIP or "")
class NetnsSplitTest(NetnsTest):

    def test_a_split_cluster_merges_again_when_the_network_heals(self):
        nodes = [self.node_in(0)]
        nodes += [self.node_in(i, seed=0) for i in range(1, NODES)]
        everyone = {n.name: "alive" for n in nodes}
        self.see(nodes, everyone, 20, "the cluster across namespaces")
        # No way out of the machine from a node's namespace.
        r = self.in_ns(self.spaces[0], "ip", "route", "get", "192.0.2.1",
                       check=False)
        self.assertNotEqual(r.returncode, 0, r.stdout)

        left, right = [0, 1], [2, 3]
        self.cut(left, right)
        for side, other in ((left, right), (right, left)):
            want = {nodes[i].name: "alive" for i in side}
            want.update({nodes[i].name: "dead" for i in other})
            self.see([nodes[i] for i in side], want, 20,
                     "each half giving the other up")
        t0 = time.time()
        self.heal()
        self.see(nodes, everyone, 30, "the halves merging again")
        print("\n  two halves in namespaces one cluster again %.2f s after "
              "the network healed" % (time.time() - t0))

    def split_and_write(self, sides):
        """Forms the cluster, cuts it into `sides` (lists of node indexes),
        uploads /split.txt with different bytes on each side (the first
        side first), heals, and returns (nodes, bodies, etags)."""
        nodes = [self.node_in(0)]
        nodes += [self.node_in(i, seed=0) for i in range(1, NODES)]
        everyone = {n.name: "alive" for n in nodes}
        self.see(nodes, everyone, 20, "the cluster across namespaces")
        for k, a in enumerate(sides):
            for b in sides[k + 1:]:
                self.cut(a, b)
        for side in sides:
            want = {nodes[i].name: ("alive" if i in side else "dead")
                    for i in range(NODES)}
            self.see([nodes[i] for i in side], want, 20,
                     "each side giving the others up")
        bodies, etags = [], []
        for k, side in enumerate(sides):
            body = ("written on side %d\n" % k).encode()
            r = nodes[side[0]].curl("/split.txt", method="PUT", data=body)
            self.assertEqual(r.status, 201, r.body)
            bodies.append(body)
            etags.append(r.header("ETag").strip('"'))
            time.sleep(0.05)	# a later stamp on the next side
        self.heal()
        self.see(nodes, everyone, 30, "the sides merging again")
        return nodes, bodies, etags

    def assert_one_winner(self, nodes, bodies, etags):
        # The first written wins everywhere; every version stays readable
        # by its digest; /_/conflicts lists them all with the winner.
        def settled():
            for n in nodes:
                r = n.curl("/_/conflicts")
                if r.status != 200:
                    return False
                got = {c["name"]: c for c in
                       json.loads(r.body)["conflicts"]}
                c = got.get("split.txt")
                if c is None or c["winner"] != etags[0] or \
                        len(c["versions"]) != len(etags):
                    return False
                if n.curl("/split.txt").body != bodies[0]:
                    return False
            return True
        wait_for(settled, timeout=30, what="one winner on every node")
        for n in nodes:
            r = n.curl("/split.txt")
            self.assertEqual(r.header("ETag").strip('"'), etags[0])
            for body, etag in zip(bodies, etags):
                v = n.curl("/split.txt?version=" + etag)
                self.assertEqual(v.status, 200, (n.name, etag, v.body))
                self.assertEqual(v.body, body)

    def test_a_name_written_on_both_sides_of_a_split_gets_one_winner(self):
        nodes, bodies, etags = self.split_and_write([[0, 1], [2, 3]])
        self.assertNotEqual(etags[0], etags[1])
        self.assert_one_winner(nodes, bodies, etags)
        # Each node said so in its log, once merged.
        self.assertTrue(any("conflict" in n.log() for n in nodes))

    def test_three_versions_on_three_sides_get_one_winner(self):
        nodes, bodies, etags = self.split_and_write([[0, 1], [2], [3]])
        self.assertEqual(len(set(etags)), 3)
        self.assert_one_winner(nodes, bodies, etags)


# A client in a node's namespace: GETs a path, reads `first` bytes, says
# so and waits for a line on stdin, then reads the rest at its pace and
# prints the status line and the SHA-256 and length of the body.
SLOW_READER = r"""
import hashlib, socket, sys
host, port, path, first = sys.argv[1], int(sys.argv[2]), sys.argv[3], \
    int(sys.argv[4])
s = socket.socket()
s.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 64 << 10)
s.settimeout(60)
s.connect((host, port))
s.sendall(("GET %s HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n"
           % path).encode())
buf = b""
while b"\r\n\r\n" not in buf:
    buf += s.recv(4096)
head, body = buf.split(b"\r\n\r\n", 1)
h = hashlib.sha256(body)
got = len(body)
while got < first:
    d = s.recv(65536)
    if not d:
        break
    h.update(d)
    got += len(d)
print("read", got, flush=True)
sys.stdin.readline()
while True:
    try:
        d = s.recv(65536)
    except OSError:
        break
    if not d:
        break
    h.update(d)
    got += len(d)
print(head.split(b"\r\n")[0].decode(), h.hexdigest(), got, flush=True)
"""


@unittest.skipIf(SKIP is not None, SKIP or "")
class NetnsStripeTest(NetnsTest):
    """A front and four stores on separate hosts: three data parts and one
    parity part per object, one store cut off by the network while a
    client reads."""

    NODES = 5
    STRIPE = {"block": "64KiB", "min_size": "1", "parts": 3, "parity": 1}

    def test_a_store_cut_off_during_a_read_is_read_around(self):
        front = self.node_in(0, cluster={"store": False},
                             stripe=dict(self.STRIPE), peer_timeout="1s")
        stores = [self.node_in(i, seed=0, cluster={
            "store": True, "capacity": "256MiB"}, stripe=dict(self.STRIPE))
            for i in range(1, self.NODES)]
        everyone = {n.name: "alive" for n in [front] + stores}
        self.see([front] + stores, everyone, 20,
                 "the cluster across namespaces")
        # 16 MiB a part: more than the sockets between a store and the
        # front hold, so the cut store still has most of its part to send.
        data = os.urandom(1 << 20) * 48
        digest = hashlib.sha256(data).hexdigest()
        wait_for(lambda: front.curl("/big.bin", method="PUT",
                                    data=data).status == 201,
                 timeout=30, what="the striped upload")
        mdir = os.path.join(front.config["state_dir"], "stripe", "manifests")
        with open(os.path.join(mdir, os.listdir(mdir)[0])) as f:
            m = json.load(f)
        self.assertEqual(len(m["parts"]), 4)
        cut = next(i for i, n in enumerate(stores, 1)
                   if n.name == m["parts"][0]["node"])

        reader = subprocess.Popen(
            ["ip", "netns", "exec", self.spaces[0], sys.executable, "-c",
             SLOW_READER, self.addr(0), "8080", "/big.bin", str(4 << 20)],
            stdin=subprocess.PIPE, stdout=subprocess.PIPE, text=True)
        self.addCleanup(reader.kill)
        self.assertTrue(reader.stdout.readline().startswith("read"))
        self.cut([0], [cut])
        t0 = time.time()
        reader.stdin.write("go\n")
        reader.stdin.flush()
        out = reader.stdout.readline().split()
        took = time.time() - t0
        self.assertEqual(reader.wait(30), 0)
        self.assertEqual(out[:2], ["HTTP/1.1", "200"], out)
        self.assertEqual(out[-2:], [digest, str(len(data))],
                         "the body read across the cut differs")
        # Reads started after the cut are right too, whole and in part.
        r = front.curl("/big.bin")
        self.assertEqual((r.status, hashlib.sha256(r.body).hexdigest()),
                         (200, digest))
        r = front.curl("/big.bin", headers=["Range: bytes=100-300000"])
        self.assertEqual((r.status, r.body), (206, data[100:300001]))
        self.assertGreaterEqual(
            metric(front, "shoal_stripe_read_parts_lost_total"), 1)
        self.heal()
        print("\n  a read of 48 MiB done %.2f s after its store of part 0 "
              "was cut off" % took)
