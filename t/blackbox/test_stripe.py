"""Striping. The store side: the signed part routes (/_/parts/...) of one
store node driven with raw signed requests, as the front will drive them:
a part streamed in and answered with its digest, committed against a
manifest, read back whole and by Range, deleted; every malformed, unsigned
or mismatched request of shared/BADINPUT.md ("Striped uploads and parts")
refused without touching a byte outside the parts directory; pending parts
never committed swept after stripe.pending_timeout; and the bytes a store
holds shown in its gossiped use.

Signatures are computed here with hmac and hashlib, apart from the
daemon's code (test_cluster.sign)."""

import json
import os
import random
import re
import socket
import threading
import time

from shoal import NodeTest, content_etag, pid_alive, recv_all, wait_for, SLOW
from test_cluster import CLUSTER, cluster_settings, metric, sign, states

BLOCK = 64 * 1024


def part_sizes(size, parts=6, block=BLOCK):
    """The layout's part sizes (stripe/layout.h), computed independently:
    block i goes to part i mod parts."""
    sizes = [0] * parts
    i = 0
    while i * block < size:
        sizes[i % parts] += min(block, size - i * block)
        i += 1
    return sizes


def split(data, parts=6, block=BLOCK):
    out = [bytearray() for _ in range(parts)]
    for i in range(0, len(data), block):
        out[(i // block) % parts] += data[i:i + block]
    return [bytes(p) for p in out]


def signed(node, method, target, body=b"", sign_body=None, extra=(),
           timeout=20):
    """A signed request over a raw socket; returns (status, headers,
    body). sign_body: the bytes the signature covers (default: body)."""
    sig = sign(body if sign_body is None else sign_body, method=method,
               target=target)
    head = ["%s %s HTTP/1.1" % (method, target), "Host: x",
            "Connection: close", "Shoal-Cluster: %s" % CLUSTER,
            "Shoal-Signature: %s" % sig] + list(extra)
    if method in ("PUT", "POST"):
        head.append("Content-Length: %d" % len(body))
    raw = ("\r\n".join(head) + "\r\n\r\n").encode() + body
    with socket.create_connection(("127.0.0.1", node.port),
                                  timeout=timeout * SLOW) as s:
        s.sendall(raw)
        data = recv_all(s)
    head, _, rest = data.partition(b"\r\n\r\n")
    lines = head.decode("latin-1").split("\r\n")
    status = int(lines[0].split()[1]) if lines and lines[0] else 0
    headers = {}
    for line in lines[1:]:
        k, _, v = line.partition(":")
        headers[k.strip().lower()] = v.strip()
    return status, headers, rest


def manifest(oid, data, nodes, name="big.bin", block=BLOCK):
    sizes = part_sizes(len(data), len(nodes), block)
    parts = split(data, len(nodes), block)
    return json.dumps({
        "id": oid, "name": name, "size": len(data),
        "digest": content_etag(data).strip('"'), "origin": "front",
        "stamp": int(time.time() * 1000) << 16, "block": block,
        "parts": [{"node": n, "size": s,
                   "digest": content_etag(p).strip('"')}
                  for n, s, p in zip(nodes, sizes, parts)]},
        separators=(",", ":")).encode()


def trailer(size, block=BLOCK):
    """Bytes of the checksums a store keeps after a part of size bytes."""
    return 4 * -(-size // block) + 24


def stored(size, parts=6, block=BLOCK):
    """The stores' use by an object of size bytes: its parts and their
    trailers of checksums."""
    return size + sum(trailer(p, block) for p in part_sizes(size, parts,
                                                             block))


# The stores' use by the warm-up object (1 byte) of StripedPutTest.
WARM_USED = stored(1)


def part_bytes(raw):
    """A part file's bytes without its trailer of checksums."""
    return raw[:int.from_bytes(raw[-24:-16], "little")]


def used(node):
    """The use the node gossips of itself."""
    return json.loads(node.curl("/_/cluster").body)["node"]["used"]


def files_under(path):
    out = []
    for d, _, fs in os.walk(path):
        out += [os.path.relpath(os.path.join(d, f), path) for f in fs]
    return sorted(out)


class PartRoutesTest(NodeTest):
    def store(self, **stripe):
        n = self.node("s0", cluster=cluster_settings(capacity="1MiB"),
                      stripe=dict({"block": "64KiB"}, **stripe))
        self.parts_dir = os.path.join(n.config["state_dir"], "parts")
        return n

    def test_a_part_is_received_committed_read_and_deleted(self):
        n = self.store()
        data = os.urandom(6 * BLOCK + 1000)
        parts = split(data)
        oid = os.urandom(16).hex()
        nodes = ["s%d" % i for i in range(6)]
        # This store holds part 2.
        nodes[0], nodes[2] = nodes[2], nodes[0]
        target = "/_/parts/%s/2" % oid
        st, h, _ = signed(n, "PUT", target, parts[2], sign_body=b"")
        self.assertEqual(st, 201)
        self.assertEqual(int(h["shoal-part-size"]), len(parts[2]))
        self.assertEqual(h["shoal-part-digest"],
                         content_etag(parts[2]).strip('"'))
        self.assertEqual(files_under(self.parts_dir),
                         ["pending/%s.2" % oid])
        self.assertEqual(metric(n, "shoal_stripe_parts_held"), 1)
        # The same part again: it is here already.
        st, _, _ = signed(n, "PUT", target, parts[2], sign_body=b"")
        self.assertEqual(st, 409)
        # Not readable before its commit.
        self.assertEqual(signed(n, "GET", target)[0], 404)
        # A commit whose manifest says other bytes: refused, kept pending.
        flipped = bytearray(data)
        flipped[2 * BLOCK] ^= 1  # a byte of part 2
        bad = manifest(oid, bytes(flipped), nodes)
        self.assertEqual(signed(n, "POST", target.rsplit("/", 1)[0] +
                                "/commit", bad)[0], 409)
        m = manifest(oid, data, nodes)
        commit = "/_/parts/%s/commit" % oid
        # Signed over other bytes than sent: 401.
        self.assertEqual(signed(n, "POST", commit, m,
                                sign_body=m + b" ")[0], 401)
        st, _, body = signed(n, "POST", commit, m)
        self.assertEqual(st, 200, body)
        self.assertEqual(files_under(self.parts_dir),
                         ["names/big.bin", "objects/%s.2" % oid,
                          "objects/%s.json" % oid])
        # A retried commit is fine.
        self.assertEqual(signed(n, "POST", commit, m)[0], 200)
        st, h, body = signed(n, "GET", target)
        self.assertEqual((st, body), (200, parts[2]))
        st, h, body = signed(n, "GET", target,
                             extra=["Range: bytes=65530-65540"])
        self.assertEqual((st, body), (206, parts[2][65530:]))
        self.assertEqual(h["content-range"], "bytes 65530-65535/65536")
        st, h, body = signed(n, "HEAD", target)
        self.assertEqual((st, int(h["content-length"]), body),
                         (200, len(parts[2]), b""))
        self.assertEqual(signed(n, "GET", target,
                                extra=["Range: bytes=999999-"])[0], 416)
        st, _, body = signed(n, "GET", "/_/parts/%s/manifest" % oid)
        self.assertEqual(st, 200)
        self.assertEqual(json.loads(body), json.loads(m))
        # The part's bytes are the store's use, gossiped.
        wait_for(lambda: used(n) == len(parts[2]) + trailer(len(parts[2])),
                 what="the use to count the part")
        st, _, body = signed(n, "DELETE", "/_/parts/%s" % oid)
        self.assertEqual(st, 200, body)
        self.assertEqual(files_under(self.parts_dir), [])
        self.assertEqual(metric(n, "shoal_stripe_parts_held"), 0)
        self.assertEqual(signed(n, "DELETE", "/_/parts/%s" % oid)[0], 200)
        self.assertEqual(signed(n, "GET", target)[0], 404)
        wait_for(lambda: used(n) == 0,
                 what="the use to drop")

    def test_bad_part_requests_are_refused_and_touch_nothing(self):
        n = self.store()
        # A file beside the parts directory that a path could reach.
        secret = os.path.join(n.config["state_dir"], "secret")
        with open(secret, "wb") as f:
            f.write(b"do not serve")
        oid = os.urandom(16).hex()
        for target, want in [
                ("/_/parts/%s/16" % oid, 404),
                ("/_/parts/%s/999" % oid, 404),
                ("/_/parts/%s/01" % oid, 400),
                ("/_/parts/%s/-1" % oid, 400),
                ("/_/parts/%s/1x" % oid, 400),
                ("/_/parts/%s/" % oid, 400),
                ("/_/parts/%s" % oid.upper(), 400),
                ("/_/parts/%s" % oid[:-1], 400),
                ("/_/parts/..%%2f..%%2fsecret", 400),
                ("/_/parts/%s/..%%2f..%%2f..%%2fsecret" % oid, 400),
                ("/_/parts/%s/%%2e%%2e" % oid, 400),
                ("/_/parts/", 400)]:
            st, _, body = signed(n, "GET", target)
            self.assertEqual(st, want, (target, body))
            self.assertNotIn(b"do not serve", body)
        # Methods that a path does not take.
        self.assertEqual(signed(n, "GET", "/_/parts/%s" % oid)[0], 405)
        self.assertEqual(signed(n, "PUT", "/_/parts/%s/commit" % oid,
                                b"x", sign_body=b"")[0], 405)
        # Unsigned, or signed with another key: 401, nothing stored.
        target = "/_/parts/%s/0" % oid
        raw = ("PUT %s HTTP/1.1\r\nHost: x\r\nConnection: close\r\n"
               "Content-Length: 3\r\n\r\nabc" % target).encode()
        self.assertIn(b" 401 ", n.raw(raw)[:20])
        # Chunked (a front's chunked upload): its length known at its end.
        raw = ("PUT %s HTTP/1.1\r\nHost: x\r\nConnection: close\r\n"
               "Shoal-Cluster: %s\r\nShoal-Signature: %s\r\n"
               "Transfer-Encoding: chunked\r\n\r\n3\r\nabc\r\n0\r\n\r\n" % (
                   target, CLUSTER, sign(b"", method="PUT",
                                         target=target))).encode()
        answer = n.raw(raw)
        self.assertIn(b" 201 ", answer[:20])
        self.assertIn(b"Shoal-Part-Size: 3\r\n", answer)
        self.assertEqual(signed(n, "DELETE", "/_/parts/%s" % oid)[0], 200)
        # A chunked part past the store's room: 507 once it is.
        raw = ("PUT %s HTTP/1.1\r\nHost: x\r\nConnection: close\r\n"
               "Shoal-Cluster: %s\r\nShoal-Signature: %s\r\n"
               "Transfer-Encoding: chunked\r\n\r\n" % (
                   target, CLUSTER, sign(b"", method="PUT",
                                         target=target))).encode()
        chunk = b"%x\r\n" % (1 << 18) + b"z" * (1 << 18) + b"\r\n"
        self.assertIn(b" 507 ", n.raw(raw + chunk * 5, shut=True)[:20])
        # A block the parts cannot have: 400 before the body.
        for block in ["65535", "67108865", "64KiB", ""]:
            st, _, _ = signed(n, "PUT", target, b"abc", sign_body=b"",
                              extra=["Shoal-Part-Block: " + block])
            self.assertEqual(st, 400, block)
        # More than the store's capacity (1 MiB): 507 before the body.
        st, _, _ = signed(n, "PUT", target, b"x" * (1 << 20 | 1),
                          sign_body=b"")
        self.assertEqual(st, 507)
        # Commits: no pending part, a manifest of another object, one
        # placing nothing here, garbage.
        data = os.urandom(1000)
        nodes = ["s%d" % i for i in range(6)]
        commit = "/_/parts/%s/commit" % oid
        self.assertEqual(signed(n, "POST", commit,
                                manifest(oid, data, nodes))[0], 404)
        other = os.urandom(16).hex()
        self.assertEqual(signed(n, "POST", commit,
                                manifest(other, data, nodes))[0], 400)
        self.assertEqual(signed(n, "POST", commit, manifest(
            oid, data, ["x%d" % i for i in range(6)]))[0], 400)
        self.assertEqual(signed(n, "POST", commit, b"{not json")[0], 400)
        self.assertEqual(files_under(self.parts_dir), [])
        with open(secret, "rb") as f:
            self.assertEqual(f.read(), b"do not serve")

    def test_a_part_cut_mid_body_leaves_nothing(self):
        n = self.store()
        oid = os.urandom(16).hex()
        target = "/_/parts/%s/0" % oid
        s = n.connect()
        s.sendall(("PUT %s HTTP/1.1\r\nHost: x\r\nShoal-Cluster: %s\r\n"
                   "Shoal-Signature: %s\r\nContent-Length: 200000\r\n\r\n"
                   % (target, CLUSTER, sign(b"", method="PUT",
                                            target=target))).encode()
                  + os.urandom(100000))
        wait_for(lambda: used(n) == 200000,
                 what="the announced part counted in the use")
        s.close()
        wait_for(lambda: files_under(self.parts_dir) == [] and
                 used(n) == 0,
                 what="the cut part to be gone")

    def test_pending_parts_are_swept_after_the_timeout(self):
        n = self.store(pending_timeout="1s")
        oid = os.urandom(16).hex()
        st, _, _ = signed(n, "PUT", "/_/parts/%s/3" % oid, b"abc" * 100,
                          sign_body=b"")
        self.assertEqual(st, 201)
        self.assertEqual(files_under(self.parts_dir),
                         ["pending/%s.3" % oid])
        start = time.time()
        wait_for(lambda: files_under(self.parts_dir) == [], timeout=10,
                 what="the pending part to be swept")
        self.assertGreater(time.time() - start, 0.3)
        wait_for(lambda: used(n) == 0,
                 what="the use to drop")
        self.assertEqual(metric(n, 'shoal_stripe_cleanups_total'
                                '{cause="swept"}'), 1)
        self.assertIn("removed 1 pending part", n.log())


def assemble(stores, oid, parts=6, block=BLOCK):
    """The object put back together from the committed parts on the
    stores' disks, and the nodes that hold them, by part index."""
    found = {}
    for s in stores:
        d = os.path.join(s.config["state_dir"], "parts", "objects")
        for f in os.listdir(d) if os.path.isdir(d) else []:
            if f.startswith(oid + ".") and not f.endswith(".json"):
                with open(os.path.join(d, f), "rb") as fh:
                    found[int(f.rsplit(".", 1)[1])] = (
                        s.name, part_bytes(fh.read()))
    out = bytearray()
    pos = [0] * parts
    i = 0
    while all(p in found for p in range(parts)):
        p = i % parts
        chunk = found[p][1][pos[p]:pos[p] + block]
        if not chunk:
            break
        out += chunk
        pos[p] += len(chunk)
        i += 1
    return bytes(out), {i: v[0] for i, v in found.items()}


class StripedPutTest(NodeTest):
    """One front (store: false) and six stores on loopback."""

    def cluster(self, stores=6, capacity="64MiB", http=None,
                **front_stripe):
        stripe = {"block": "64KiB", "min_size": "1"}
        stripe.update(front_stripe)
        self.stripe = stripe
        self.min_size = int(stripe["min_size"])  # in bytes in these tests
        self.front = self.node("front", cluster=cluster_settings(
            store=False), stripe=stripe, **({"http": http} if http else {}))
        self.stores = [self.node("s%d" % i, cluster=cluster_settings(
            seeds=[self.front], capacity=capacity),
            stripe=dict(stripe)) for i in range(stores)]
        self.wait_stores(stores)

    def wait_stores(self, n):
        def alive():
            ms = json.loads(self.front.curl("/_/cluster").body)["members"]
            return sum(1 for m in ms if m["state"] == "alive" and
                       m.get("store")) >= n
        wait_for(alive, what="%d stores alive at the front" % n)
        if n >= 6:
            # Members alive reach the workers' peer sets a moment later.
            wait_for(lambda: self.front.curl(
                "/warmup", method="PUT",
                data=b"w" * self.min_size).status == 201,
                what="a first striped upload")
            self.warmup = self.object_id("warmup")["id"]

    def leftovers(self, nodes=None, keep=()):
        """Part files on the stores, but the warm-up object's and those
        of the objects named in keep."""
        keep = ["warmup"] + list(keep)
        skip = [getattr(self, "warmup", "-")] + [
            self.object_id(k)["id"] for k in keep[1:]]
        out = []
        for s in nodes or self.stores:
            out += [s.name + ":" + f for f in files_under(
                os.path.join(s.config["state_dir"], "parts"))
                if not any(i in f for i in skip) and
                f not in ["names/" + k for k in keep]]
        return out

    def object_id(self, name):
        for f in os.listdir(os.path.join(self.front.config["state_dir"],
                                         "stripe", "manifests")):
            with open(os.path.join(self.front.config["state_dir"],
                                   "stripe", "manifests", f)) as fh:
                m = json.load(fh)
            if m["name"] == name:
                return m
        return None

    def test_sizes_are_striped_over_six_distinct_stores(self):
        self.cluster()
        sizes = [1, 5, 6, 7, BLOCK - 1, BLOCK, BLOCK + 1, 6 * BLOCK - 1,
                 6 * BLOCK, 6 * BLOCK + 1]
        sizes += [int.from_bytes(os.urandom(3), "big") % (20 * BLOCK)
                  for _ in range(4)]
        for size in sizes:
            data = os.urandom(size)
            name = "f-%d-%s" % (size, os.urandom(4).hex())
            r = self.front.curl("/" + name, method="PUT", data=data)
            self.assertEqual(r.status, 201, (size, r.body))
            self.assertEqual(r.header("etag"), content_etag(data))
            self.assertEqual(r.header("shoal-striped"), "6")
            m = self.object_id(name)
            self.assertIsNotNone(m, size)
            self.assertEqual(m["size"], size)
            self.assertEqual([p["size"] for p in m["parts"]],
                             part_sizes(size))
            got, holders = assemble(self.stores, m["id"])
            self.assertEqual(got, data, size)
            # Read back through the front, streamed from the six parts.
            r = self.front.curl("/" + name)
            self.assertEqual((r.status, r.body == data), (200, True), size)
            self.assertEqual(r.header("etag"), content_etag(data))
            # Six distinct stores, as the manifest says.
            self.assertEqual(len(set(holders.values())), 6)
            self.assertEqual([holders[i] for i in range(6)],
                             [p["node"] for p in m["parts"]])
        # Nothing pending anywhere, no journal left.
        self.assertEqual([f for f in self.leftovers() if ":objects/" not in
                          f and ":names/" not in f], [])
        self.assertEqual(os.listdir(os.path.join(
            self.front.config["state_dir"], "stripe", "journal")), [])
        # A store takes an upload too: one of the six parts is its own.
        s0 = self.stores[0]
        data = os.urandom(9 * BLOCK + 3)
        r = wait_for(lambda: (lambda r: r if r.status != 503 else None)(
            s0.curl("/at-a-store", method="PUT", data=data)),
            what="the store's peer set to know the others")
        self.assertEqual((r.status, r.header("shoal-striped")), (201, "6"),
                         r.body)
        sizes.append(len(data))
        with open(os.path.join(s0.config["state_dir"], "stripe", "names",
                               "at-a-store")) as f:
            m = json.load(f)
        self.assertIn("s0", [p["node"] for p in m["parts"]])
        self.assertEqual(assemble(self.stores, m["id"])[0], data)
        r = s0.curl("/at-a-store", headers=["Range: bytes=%d-" % BLOCK])
        self.assertEqual((r.status, r.body), (206, data[BLOCK:]))
        # POST / picks a name, striped the same.
        r = self.front.curl("/", method="POST", data=b"x" * 1000)
        self.assertEqual(r.status, 201, r.body)
        self.assertEqual(r.header("shoal-striped"), "6")
        # The stores' use grew by what they hold: the part files.
        total = sum(os.path.getsize(os.path.join(d, f))
                    for d in (os.path.join(s.config["state_dir"], "parts",
                                           "objects") for s in self.stores)
                    for f in os.listdir(d) if not f.endswith(".json"))
        self.assertEqual(total, sum(sizes) + 1000 + 1 + (len(sizes) + 2) * 6 * 24 +
                         4 * sum(-(-z // BLOCK) for z in sizes + [1000, 1]))
        wait_for(lambda: sum(used(s) for s in self.stores) == total,
                 what="the stores' use to count every part")
        wait_for(lambda: sum(metric(self.front, 'shoal_stripe_store_bytes'
                                    '{member="s%d",kind="used"}' % i)
                             for i in range(6)) == total,
                 what="the front's metrics to show every store's use")
        self.assertEqual(metric(self.front, 'shoal_stripe_store_bytes'
                                '{member="s0",kind="capacity"}'), 64 << 20)
        self.assertEqual(metric(self.front, 'shoal_stripe_store_bytes'
                                '{member="s0",kind="reserved"}'), 0)

    def warm(self, node):
        """Waits for the node's peer set to know every store (503 until
        then) with a first striped upload."""
        wait_for(lambda: node.curl("/warm-" + node.name, method="PUT",
                                   data=b"w" * self.min_size).status == 201,
                 what="%s's peer set to know the stores" % node.name)

    def test_two_striped_uploads_of_one_name_at_once_one_wins(self):
        # As for plain uploads (test_replication): the members' reservation
        # lets exactly one of them through, whatever order they cross in.
        self.cluster()
        a, b = self.front, self.stores[0]
        self.warm(b)
        reasons = [b"an upload of the name at another node began first",
                   b"the name is being uploaded at another node",
                   b"the name exists in the cluster"]
        for round_ in range(6):
            name = "/race-%d" % round_
            bodies = {x.name: os.urandom(3 * BLOCK + round_ + 1)
                      for x in (a, b)}
            results = {}

            def put(node):
                results[node.name] = node.curl(name, method="PUT",
                                               data=bodies[node.name])
            threads = [threading.Thread(target=put, args=(x,))
                       for x in (a, b)]
            for t in threads:
                t.start()
            for t in threads:
                t.join()
            got = sorted((r.status, n) for n, r in results.items())
            self.assertEqual([st for st, _ in got], [201, 409],
                             "round %d: %r" % (round_, got))
            winner, loser = results[got[0][1]], results[got[1][1]]
            self.assertEqual(winner.header("shoal-striped"), "6")
            self.assertTrue(any(x in loser.body for x in reasons),
                            loser.body)
            for x in (a, b):
                wait_for(lambda: x.curl(name).body == bodies[got[0][1]],
                         what="the winner's bytes at %s" % x.name)

    def test_ten_files_posted_are_read_back_at_another_node(self):
        # Random sizes, never a multiple of the block or of the parts,
        # most of them striped, POSTed to / at the front or a store, each
        # read back whole at a third node.
        min_size = 4 * BLOCK
        self.cluster(min_size=str(min_size))
        takers = [self.front, self.stores[1]]
        self.warm(self.stores[1])
        seed = int.from_bytes(os.urandom(4), "big")
        rng = random.Random(seed)
        for i in range(10):
            size = 0
            while size % BLOCK == 0 or size % 6 == 0:
                size = (rng.randrange(1, min_size) if i < 3 else
                        rng.randrange(min_size, 20 * BLOCK))
            data = rng.randbytes(size)
            why = "seed %d, file %d, %d bytes" % (seed, i, size)
            r = takers[i % 2].curl("/", method="POST", data=data)
            self.assertEqual(r.status, 201, (why, r.body))
            self.assertEqual(r.header("shoal-striped"),
                             "6" if size >= min_size else None, why)
            where = r.header("location")
            self.assertRegex(where, "^/[0-9a-f]{8}(-[0-9a-f]{4}){3}-"
                             "[0-9a-f]{12}$")
            reader = self.stores[2 + i % 4]
            got = wait_for(lambda: (lambda g: g if g.status == 200 else
                                    None)(reader.curl(where)),
                           what="%s at %s (%s)" % (where, reader.name, why))
            self.assertTrue(got.body == data, why)
            self.assertEqual(got.header("etag"), content_etag(data), why)

    def put_chunked(self, node, name, data, sizes, cut=False):
        """PUT of data in chunks of the given sizes (the last repeats);
        the answer, or with cut the socket after half of the chunk that
        passes the middle."""
        s = node.connect(timeout=20)
        s.sendall(("PUT /%s HTTP/1.1\r\nHost: x\r\nConnection: close\r\n"
                   "Transfer-Encoding: chunked\r\n\r\n" % name).encode())
        pos, i = 0, 0
        while pos < len(data):
            n = sizes[min(i, len(sizes) - 1)]
            piece = data[pos:pos + n]
            if cut and pos + len(piece) > len(data) // 2:
                s.sendall(b"%x\r\n" % len(piece) + piece[:len(piece) // 2])
                return s
            try:
                s.sendall(b"%x\r\n" % len(piece) + piece + b"\r\n")
            except OSError:  # answered early: the answer is there
                break
            pos, i = pos + len(piece), i + 1
        else:
            s.sendall(b"0\r\n\r\n")
        answer = recv_all(s)
        s.close()
        return answer

    def test_chunked_uploads_are_striped_once_past_min_size(self):
        min_size = 4 * BLOCK
        self.cluster(min_size=str(min_size))
        reader = self.stores[3]
        cases = [  # size, chunk sizes, striped
            (3 * BLOCK + 7, [1000], False),
            (min_size - 1, [min_size - 1], False),
            (min_size, [min_size], True),
            # A chunk that straddles min_size, then odd ones that
            # straddle the block boundaries.
            (9 * BLOCK + 13, [min_size - 10, 20, 10007], True),
            (13 * BLOCK + 5, [BLOCK + 1, 3 * BLOCK - 1, 777, 70001], True),
            (min_size + 1, [2, min_size - 2, 1], True)]
        for k, (size, sizes, striped) in enumerate(cases):
            data = os.urandom(size)
            name = "chunked-%d" % k
            answer = self.put_chunked(self.front, name, data, sizes)
            why = (size, sizes, answer[:300])
            self.assertIn(b" 201 ", answer[:20], why)
            self.assertIn(("ETag: %s\r\n" % content_etag(data)).encode(),
                          answer, why)
            self.assertEqual(b"Shoal-Striped: 6\r\n" in answer, striped,
                             why)
            m = self.object_id(name)
            self.assertEqual(m is not None, striped, why)
            if striped:
                self.assertEqual((m["size"], [p["size"] for p in
                                              m["parts"]]),
                                 (size, part_sizes(size)), why)
                self.assertEqual(m["digest"], content_etag(data).strip('"'))
                self.assertEqual(assemble(self.stores, m["id"])[0], data)
            got = wait_for(lambda: (lambda g: g if g.status == 200 else
                                    None)(reader.curl("/" + name)),
                           what="%s at %s" % (name, reader.name))
            self.assertTrue(got.body == data, why)
            self.assertEqual(got.header("etag"), content_etag(data))
        self.assertEqual([f for f in self.leftovers() if ":objects/" not in
                          f and ":names/" not in f], [])
        self.assertEqual(metric(self.front, "shoal_stripe_reserved_bytes"),
                         0)
        # Nothing of the plain beginnings stays at the front.
        self.assertEqual(os.listdir(os.path.join(self.front.config["root"],
                                                 ".shoal-tmp")), [])

    def test_a_chunked_client_cut_mid_chunk_leaves_nothing(self):
        self.cluster(min_size=str(2 * BLOCK), capacity="2MiB",
                     http={"body_timeout": "1s"})
        s = self.put_chunked(self.front, "cut-chunked",
                             os.urandom(40 * BLOCK), [50000], cut=True)
        wait_for(lambda: sum(used(st) for st in self.stores) > 1,
                 what="parts announced at the stores")
        s.close()
        start = time.time()
        wait_for(lambda: self.leftovers() == [] and
                 sum(used(st) for st in self.stores) ==
                 stored(self.min_size),
                 what="every part of the cut upload to be gone")
        self.assertLess(time.time() - start, 1.0 * SLOW)
        wait_for(lambda: os.listdir(os.path.join(
            self.front.config["state_dir"], "stripe", "journal")) == [],
            what="the journal entry to go")
        self.assertEqual(self.object_id("cut-chunked"), None)
        self.assertEqual(self.front.curl("/cut-chunked").status, 404)
        self.assertEqual(metric(self.front, "shoal_stripe_reserved_bytes"),
                         0)
        # A client that stalls mid-chunk past http.body_timeout: 408, and
        # nothing stays.
        s = self.put_chunked(self.front, "stalled", os.urandom(20 * BLOCK),
                             [30000], cut=True)
        s.settimeout(10 * SLOW)
        self.assertIn(b" 408 ", recv_all(s)[:20])
        wait_for(lambda: self.leftovers() == [] and
                 sum(used(st) for st in self.stores) ==
                 stored(self.min_size),
                 what="every part of the stalled upload to be gone")
        self.assertEqual(metric(self.front, 'shoal_stripe_cleanups_total'
                                '{cause="timeout"}'), 1)
        # More than the six stores hold (2 MiB each): 507 when a part
        # reaches its store's room, and nothing stays.
        answer = self.put_chunked(self.front, "too-big", os.urandom(
            16 << 20), [100000])
        self.assertIn(b" 507 ", answer[:20], answer[:200])
        self.assertIn(b"no room", answer)
        self.assertEqual(metric(self.front, 'shoal_stripe_cleanups_total'
                                '{cause="store_failed"}'), 1)
        self.assertEqual(metric(self.front, 'shoal_stripe_cleanups_total'
                                '{cause="client_gone"}'), 1)
        wait_for(lambda: self.leftovers() == [] and
                 sum(used(st) for st in self.stores) ==
                 stored(self.min_size),
                 what="every part of the refused upload to be gone")
        self.assertEqual(metric(self.front, "shoal_stripe_reserved_bytes"),
                         0)

    def test_a_store_added_while_uploads_run_takes_parts(self):
        # Uploads one after another at the front while a seventh store
        # joins: each is stored or refused cleanly, each stored one reads
        # back, and the newcomer (the emptiest) is among the stores of the
        # uploads started once the front sees it alive. No rebalancing:
        # its moves would fill the newcomer up to the others, and then
        # ties, not fills, would choose (test_rebalance.py tests it).
        self.cluster(rebalance_rate=0)
        rng = random.Random()
        done = []  # (name, data, status, started after s6 was alive)
        state = {"alive": None, "stop": False}

        def uploads():
            deadline = time.time() + 30 * SLOW
            for i in range(80):
                if state["stop"] or time.time() > deadline:
                    return
                data = rng.randbytes(rng.randrange(1, 8 * BLOCK))
                after = state["alive"] is not None
                r = self.front.curl("/during-%d" % i, method="PUT",
                                    data=data)
                done.append(("during-%d" % i, data, r, after))
        t = threading.Thread(target=uploads)
        t.start()
        try:
            wait_for(lambda: len(done) >= 3, what="the first uploads")
            new = self.node("s6", cluster=cluster_settings(
                seeds=[self.front], capacity="64MiB"),
                stripe=dict(self.stripe))

            def seen():
                ms = json.loads(self.front.curl("/_/cluster").body)
                return any(m["name"] == "s6" and m["state"] == "alive"
                           for m in ms["members"])
            wait_for(seen, what="s6 alive at the front")
            state["alive"] = time.time()

            def took():
                return sum(1 for name, _, r, after in done
                           if after and r.status == 201 and "s6" in
                           [p["node"] for p in
                            self.object_id(name)["parts"]]) >= 3
            wait_for(took, timeout=20, what="uploads with a part on s6")
        finally:
            state["stop"] = True
            t.join()
        first_on_s6 = None
        for name, data, r, after in done:
            self.assertIn(r.status, (201, 503), (name, r.body))
            if r.status == 503:
                self.assertTrue(r.header("retry-after"), name)
                self.assertEqual(self.object_id(name), None)
                continue
            self.assertEqual(r.header("etag"), content_etag(data), name)
            nodes = [p["node"] for p in self.object_id(name)["parts"]]
            self.assertEqual(len(set(nodes)), 6, name)
            if after and first_on_s6 is None and "s6" in nodes:
                first_on_s6 = name
            # Every stored object reads back, at the newcomer too (once
            # the catalogue reached it).
            for reader in (self.stores[1], new):
                got = wait_for(lambda: (lambda g: g if g.status != 404
                                        else None)(reader.curl("/" + name)),
                               what="%s at %s" % (name, reader.name))
                self.assertEqual((got.status, got.body == data),
                                 (200, True), (name, reader.name))
        # s6 takes parts soon after it is seen (not necessarily of every
        # later upload: the fills the front knows come by gossip, and the
        # newcomer's lead over the others is a few small uploads).
        later = [n for n, _, r, a in done if a and r.status == 201]
        first = later.index(first_on_s6)
        self.assertLessEqual(first, 10, "uploads after s6 was alive that "
                             "left it out: %d" % first)

    def test_fewer_stores_with_room_than_parts_is_503(self):
        self.cluster(stores=5)
        # Each answer is 503; the count grows as the peer set learns the
        # members the front knows.
        r = wait_for(lambda: (lambda r: r if b"5 store nodes have room" in
                                        r.body else None)(self.front.curl(
                                            "/big", method="PUT",
                                            data=b"y" * 5000)),
                     what="the five stores counted")
        self.assertEqual(r.status, 503, r.body)
        self.assertTrue(r.header("retry-after"))
        self.assertEqual(self.leftovers(), [])
        self.assertEqual(self.front.curl("/big").status, 404)
        # Chunked: the same once its body passed min_size, and the plain
        # beginning goes too.
        answer = self.put_chunked(self.front, "big-chunked", b"z" * 5000,
                                  [3000])
        self.assertIn(b" 503 ", answer[:20], answer)
        self.assertIn(b"Retry-After: 5\r\n", answer)
        self.assertEqual(self.leftovers(), [])
        self.assertEqual(self.front.curl("/big-chunked").status, 404)
        wait_for(lambda: os.listdir(os.path.join(
            self.front.config["root"], ".shoal-tmp")) == [],
            what="the plain beginning to go")

    def put_slowly(self, name, size, first):
        """A PUT whose first `first` bytes are sent; returns the socket.
        (Connection: close: an answer that comes once the whole body did
        would otherwise keep the connection, and recv_all wait it out.)"""
        s = self.front.connect()
        s.sendall(("PUT /%s HTTP/1.1\r\nHost: x\r\nConnection: close\r\n"
                   "Content-Length: %d\r\n\r\n" % (name, size)).encode() +
                  os.urandom(first))
        return s

    def test_a_client_cut_mid_body_leaves_nothing_on_any_store(self):
        self.cluster()
        s = self.put_slowly("cut", 40 * BLOCK, 13 * BLOCK + 5)
        # The parts are on their way to all six stores.
        wait_for(lambda: sum(used(st) for st in self.stores) > 1,
                 what="parts announced at the stores")
        self.assertGreater(metric(self.front, "shoal_stripe_reserved_bytes"),
                           0)
        s.close()
        wait_for(lambda: self.leftovers() == [] and
                 sum(used(st) for st in self.stores) == WARM_USED,
                 what="every part of the cut upload to be gone")
        wait_for(lambda: os.listdir(os.path.join(
            self.front.config["state_dir"], "stripe", "journal")) == [],
            what="the journal entry to go")
        self.assertEqual(self.object_id("cut"), None)
        self.assertEqual(metric(self.front, "shoal_stripe_reserved_bytes"),
                         0)
        self.assertEqual(metric(self.front, 'shoal_stripe_cleanups_total'
                                '{cause="client_gone"}'), 1)
        self.assertEqual(metric(self.front,
                                'shoal_stripe_uploads_total{result="failed"}'),
                         1)

    def assert_failed_for_the_store(self, victim):
        """The upload of "victim" failed for the death of the store
        victim: the other stores drop their parts, no object is kept, one
        cleanup is counted for a failed store."""
        alive = [st for st in self.stores if st is not victim]
        wait_for(lambda: self.leftovers(alive) == [],
                 what="the other stores to drop their parts")
        self.assertEqual(self.object_id("victim"), None)
        self.assertEqual(metric(self.front, 'shoal_stripe_cleanups_total'
                                '{cause="store_failed"}'), 1)

    def test_a_store_killed_mid_upload_fails_it_and_leaves_nothing(self):
        self.cluster()
        s = self.put_slowly("victim", 60 * BLOCK, 12 * BLOCK)
        wait_for(lambda: all(used(st) > 1 for st in self.stores),
                 what="parts announced at every store")
        victim = self.stores[2]
        victim.kill_all()
        try:
            s.sendall(os.urandom(48 * BLOCK))
            s.shutdown(socket.SHUT_WR)  # no lingering for more
        except OSError:
            pass
        s.settimeout(20 * SLOW)
        answer = recv_all(s)
        self.assertRegex(answer[:12], rb"HTTP/1.1 5\d\d")
        self.assert_failed_for_the_store(victim)

    def test_a_store_killed_mid_chunked_upload_fails_it_and_frees_the_name(
            self):
        # Seven stores: the upload takes six, the retry the six left.
        self.cluster(stores=7, min_size=str(2 * BLOCK))
        data = os.urandom(40 * BLOCK)
        chunks = [data[i:i + 50000] for i in range(0, len(data), 50000)]
        s = self.front.connect(timeout=20)
        s.sendall(b"PUT /victim HTTP/1.1\r\nHost: x\r\nConnection: close\r\n"
                  b"Transfer-Encoding: chunked\r\n\r\n")
        for c in chunks[:13]:
            s.sendall(b"%x\r\n%s\r\n" % (len(c), c))
        # Past min_size: its parts on their way, a file at six stores.
        takers = wait_for(lambda: (lambda t: t if len(t) == 6 else None)(
            [st for st in self.stores if self.leftovers([st])]),
            what="parts on their way to six stores")
        victim = takers[0]
        victim.kill_all()
        try:
            for c in chunks[13:]:
                s.sendall(b"%x\r\n%s\r\n" % (len(c), c))
            s.sendall(b"0\r\n\r\n")
            s.shutdown(socket.SHUT_WR)  # no lingering for more
        except OSError:
            pass        # answered and closed early: the answer is there
        answer = recv_all(s)
        # 502, the store named: "cut" when a send to it failed, "refused
        # or closed" when its end was read before any answer.
        self.assertRegex(answer, rb"^HTTP/1.1 502 Bad Gateway\r\n(.+\r\n)*"
                         rb"\r\nstore %s (cut the connection|refused or "
                         rb"closed before answering)\n$" %
                         victim.name.encode())
        # (A store that had its whole part when the upload failed is
        # asked to remove it once it answered, lest the part land after.)
        self.assert_failed_for_the_store(victim)
        self.assertEqual(metric(self.front, "shoal_stripe_reserved_bytes"),
                         0)
        # The name is free: once the front no longer has the victim
        # alive, the same upload is stored on the six others.
        wait_for(lambda: states(self.front).get(victim.name) != "alive",
                 what="the victim suspected at the front")
        r = self.front.curl("/victim", method="PUT", data=data)
        self.assertEqual(r.status, 201, r.body)
        self.assertEqual(sorted(p["node"] for p in self.object_id(
            "victim")["parts"]), sorted(st.name for st in self.stores
                                      if st is not victim))
        self.assertEqual(self.front.curl("/victim").body, data)

    def test_reads_ranges_and_any_node_and_a_bad_part_cuts(self):
        self.cluster()
        data = os.urandom(13 * BLOCK + 777)
        r = self.front.curl("/obj.bin", method="PUT", data=data)
        self.assertEqual(r.status, 201, r.body)
        etag = r.header("etag")
        # Ranges across block and part boundaries, suffixes, the end.
        for first, last in [(0, 0), (BLOCK - 1, BLOCK), (BLOCK - 3,
                            5 * BLOCK + 2), (6 * BLOCK - 1, 6 * BLOCK),
                            (100, 12 * BLOCK), (13 * BLOCK, len(data) - 1),
                            (len(data) - 1, len(data) + 50)]:
            r = self.front.curl("/obj.bin", headers=[
                "Range: bytes=%d-%d" % (first, last)])
            self.assertEqual(r.status, 206, (first, last))
            self.assertEqual(r.body, data[first:last + 1], (first, last))
            self.assertEqual(r.header("etag"), etag)
        r = self.front.curl("/obj.bin", headers=["Range: bytes=-10"])
        self.assertEqual((r.status, r.body), (206, data[-10:]))
        r = self.front.curl("/obj.bin", headers=["Range: bytes=%d-" %
                                                 len(data)])
        self.assertEqual(r.status, 416)
        r = self.front.curl("/obj.bin", method="HEAD")
        self.assertEqual((r.status, int(r.header("content-length"))),
                         (200, len(data)))
        r = self.front.curl("/obj.bin", headers=["If-None-Match: " + etag])
        self.assertEqual(r.status, 304)
        # At another node: found through the members, the same bytes and
        # ETag.
        r = self.stores[4].curl("/obj.bin")
        self.assertEqual((r.status, r.body == data, r.header("etag")),
                         (200, True, etag))
        # The catalogue knows it, striped, everywhere: the name is taken
        # at every node, and nobody pulls a replica of it.
        wait_for(lambda: self.stores[5].curl(
            "/obj.bin", method="PUT", data=b"other").status == 409,
            what="the name known at another node")
        # ... which keeps no copy of it: the stores hold it (a copy of
        # the first read would be in place by the end of the second).
        r = self.stores[4].curl("/obj.bin")
        self.assertEqual((r.status, r.body == data), (200, True))
        self.assertEqual(os.listdir(self.stores[4].root), [".shoal-tmp"])
        # A part changed on a store's disk: the read is cut, never a
        # whole 200 with wrong bytes.
        m = self.object_id("obj.bin")
        holder = next(s for s in self.stores if s.name ==
                      m["parts"][3]["node"])
        path = os.path.join(holder.config["state_dir"], "parts", "objects",
                            "%s.3" % m["id"])
        with open(path, "r+b") as f:
            f.seek(10)
            b = f.read(1)
            f.seek(10)
            f.write(bytes([b[0] ^ 0xff]))
        r = self.front.curl("/obj.bin")
        self.assertNotEqual(r.rc, 0, "curl took a cut body for a whole one")
        self.assertLess(len(r.body), len(data))
        with open(path, "r+b") as f:
            f.seek(10)
            f.write(b)
        self.assertEqual(self.front.curl("/obj.bin").body, data)
        # The front down: every store holds the manifest, and serves.
        self.front.kill_all()
        dead = next(s for s in self.stores if s.name ==
                    m["parts"][1]["node"])
        reader = next(s for s in self.stores if s is not dead)
        r = reader.curl("/obj.bin", headers=["Range: bytes=%d-" % BLOCK])
        self.assertEqual((r.status, r.body), (206, data[BLOCK:]))
        # A store down: cut as well (or refused before the head).
        dead.kill_all()
        r = reader.curl("/obj.bin")
        self.assertTrue(r.rc != 0 or r.status >= 500, r.status)
        self.assertNotEqual(r.body, data)

    def test_the_front_killed_mid_upload_cleans_up_at_restart(self):
        self.cluster()
        kept = os.urandom(3 * BLOCK)
        self.assertEqual(self.front.curl("/kept", method="PUT",
                                         data=kept).status, 201)
        s = self.put_slowly("orphan", 40 * BLOCK, 20 * BLOCK)
        wait_for(lambda: all(used(st) > 1 for st in self.stores),
                 what="parts announced at every store")
        children = self.front.child_pids()
        self.front.kill_all()
        s.close()
        wait_for(lambda: not any(pid_alive(p) for p in children),
                 what="the front's processes to be gone")
        journal = os.path.join(self.front.config["state_dir"], "stripe",
                               "journal")
        self.assertEqual(len(os.listdir(journal)), 1)
        self.front.start()
        wait_for(lambda: self.leftovers(keep=["kept"]) == [] and
                 os.listdir(journal) == [], timeout=20,
                 what="the journal's replay to remove every part")
        # Logged once the entry's removal is back on the agent's loop.
        wait_for(lambda: "cut short earlier are gone" in self.front.log(),
                 what="the replay's log line")
        self.assertEqual(metric(self.front, 'shoal_stripe_cleanups_total'
                                '{cause="journal"}'), 1)
        # What was stored is announced again (the catalogue starts empty)
        # and read as before.
        self.assertIn("2 striped objects held here announced",
                      self.front.log())
        self.assertEqual(self.front.curl("/kept").body, kept)


class ParityTest(NodeTest):
    """One front and eight stores, six data parts and two parity parts."""

    cluster = StripedPutTest.cluster
    wait_stores = StripedPutTest.wait_stores
    object_id = StripedPutTest.object_id
    put_chunked = StripedPutTest.put_chunked
    leftovers = StripedPutTest.leftovers

    def parity_cluster(self):
        # No scrubber: a part these tests corrupt and then mend by hand
        # would be reported, marked missing for good (no ninth store to
        # rebuild it on), and count as a lost part (test_heal.py heals).
        self.cluster(stores=8, parity=2, scrub_rate="0")

    def holder(self, m, part):
        return next(s for s in self.stores if s.name ==
                    m["parts"][part]["node"])

    def reads_right(self, name, data):
        r = self.front.curl("/" + name)
        self.assertEqual((r.status, r.body == data), (200, True), name)
        first, last = BLOCK - 3, min(len(data), 7 * BLOCK + 2) - 1
        if first <= last:
            r = self.front.curl("/" + name, headers=[
                "Range: bytes=%d-%d" % (first, last)])
            self.assertEqual((r.status, r.body == data[first:last + 1]),
                             (206, True), name)

    def test_lost_and_corrupt_parts_are_rebuilt_on_read(self):
        self.parity_cluster()
        objects = {}
        for size in [BLOCK, 6 * BLOCK - 1, 6 * BLOCK + 1, 20 * BLOCK + 5]:
            name = "p-%d" % size
            objects[name] = os.urandom(size)
            r = self.front.curl("/" + name, method="PUT",
                                data=objects[name])
            self.assertEqual(r.status, 201, r.body)
            self.assertEqual(r.header("shoal-striped"), "6")
            self.assertIsNone(r.header("shoal-degraded"))
            m = self.object_id(name)
            self.assertEqual((m["parity"], "missing" in m), (2, False))
            self.assertEqual(len({p["node"] for p in m["parts"]}), 8)
            self.assertEqual([p["size"] for p in m["parts"]],
                             part_sizes(size) + [part_sizes(size)[0]] * 2)
            self.assertEqual(assemble(self.stores, m["id"])[0],
                             objects[name])
            self.reads_right(name, objects[name])
        # A chunked body: its size, and its last row's parity, known only
        # at its end; a whole last block and a short one.
        for size in [13 * BLOCK, 13 * BLOCK + 5]:
            name = "c-%d" % size
            objects[name] = os.urandom(size)
            answer = self.put_chunked(self.front, name, objects[name],
                                      [50000])
            self.assertIn(b" 201 ", answer[:20])
            m = self.object_id(name)
            self.assertEqual([p["size"] for p in m["parts"]],
                             part_sizes(size) + [part_sizes(size)[0]] * 2)
            self.reads_right(name, objects[name])
        # A byte flipped in a data part: the store refuses the part, the
        # read rebuilds it from parity and counts the corrupt block.
        big = self.object_id("p-%d" % (20 * BLOCK + 5))
        rot = self.holder(big, 2)
        path = os.path.join(rot.config["state_dir"], "parts", "objects",
                            "%s.2" % big["id"])
        with open(path, "r+b") as f:
            f.seek(BLOCK + 10)
            b = f.read(1)
            f.seek(BLOCK + 10)
            f.write(bytes([b[0] ^ 0x01]))
        self.reads_right(big["name"], objects[big["name"]])
        self.assertGreaterEqual(metric(
            rot, "shoal_stripe_corrupt_blocks_total"), 1)
        self.assertIn("block 1 is corrupt", rot.log())
        self.assertGreaterEqual(metric(
            self.front, 'shoal_stripe_degraded_reads_total'
            '{result="rebuilt"}'), 1)
        with open(path, "r+b") as f:
            f.seek(BLOCK + 10)
            f.write(b)
        # Two stores down: every object reads right. The one-block
        # object's parts 1 to 5 are empty: its lost parts are those.
        small = self.object_id("p-%d" % BLOCK)
        dead = [self.holder(small, 1), self.holder(small, 2)]
        for s in dead:
            s.kill_all()
        for name, data in objects.items():
            self.reads_right(name, data)
        # Once gossip has them dead (until then an upload is stored
        # degraded), fewer stores than parts and parity: 503.
        wait_for(lambda: b"8 are needed" in self.front.curl(
            "/more-" + os.urandom(4).hex(), method="PUT",
            data=b"m" * 100).body, what="a 503 for too few stores")
        # A third: objects with three parts lost fail loudly, never a
        # whole 200; the small one has lost only empty parts.
        self.holder(small, 3).kill_all()
        self.reads_right(small["name"], objects[small["name"]])
        r = self.front.curl("/" + big["name"])
        self.assertTrue(r.rc != 0 or r.status >= 500, r.status)
        self.assertLess(len(r.body), len(objects[big["name"]]))
        self.assertGreaterEqual(metric(
            self.front, 'shoal_stripe_degraded_reads_total'
            '{result="cut"}'), 1)

    def journal(self):
        """The stores of the uploads under way, in part order, by name."""
        d = os.path.join(self.front.config["state_dir"], "stripe",
                         "journal")
        out = {}
        for f in os.listdir(d):
            try:
                with open(os.path.join(d, f)) as fh:
                    e = json.load(fh)
            except (OSError, ValueError):
                continue    # going, or being written
            out[e["name"]] = [n for n, _ in e["stores"]]
        return out

    def pending_bytes(self):
        """The bytes of the parts on their way, at every store."""
        return sum(os.path.getsize(os.path.join(
            st.config["state_dir"], "parts", f.split(":", 1)[1]))
            for st in self.stores for f in self.leftovers([st]))

    def test_a_store_killed_mid_upload_leaves_it_degraded(self):
        # A sized upload and a chunked one (its parts' sizes known only
        # at its end), both cut by the death of a store whose data block
        # of their second row is half received: the parity counts that
        # block whole, its bytes at their places.
        self.parity_cluster()
        objects = {"degraded": os.urandom(30 * BLOCK + 7),
                   "degraded-chunked": os.urandom(30 * BLOCK + 5)}
        data, cdata = objects["degraded"], objects["degraded-chunked"]
        s = self.front.connect()
        s.sendall(("PUT /degraded HTTP/1.1\r\nHost: x\r\nConnection: "
                   "close\r\nContent-Length: %d\r\n\r\n" %
                   len(data)).encode())
        c = self.front.connect(timeout=20)
        c.sendall(b"PUT /degraded-chunked HTTP/1.1\r\nHost: x\r\n"
                  b"Connection: close\r\nTransfer-Encoding: chunked\r\n"
                  b"\r\n3e8\r\n" + cdata[:1000] + b"\r\n")
        stores = wait_for(lambda: (lambda j: j if len(j) == 2 else None)(
            self.journal()), what="both uploads under way")
        # A store with data part i of one, j of the other.
        i, j = next((i, stores["degraded-chunked"].index(n))
                    for i, n in enumerate(stores["degraded"][:6])
                    if n in stores["degraded-chunked"][:6])
        victim = next(st for st in self.stores
                      if st.name == stores["degraded"][i])
        half = [(6 + i) * BLOCK + 1000, (6 + j) * BLOCK + 1000]
        s.sendall(data[:half[0]])
        for k in range(1000, half[1], 50000):
            piece = cdata[k:min(k + 50000, half[1])]
            c.sendall(b"%x\r\n%s\r\n" % (len(piece), piece))
        # Every whole block at its store: each row's first, parity
        # included, and the second's up to the half one.
        wait_for(lambda: self.pending_bytes() == (16 + i + j) * BLOCK,
                 what="the whole blocks at the stores")
        victim.kill_all()
        # Both go on without it before the rest of their half blocks.
        wait_for(lambda: all(re.search(
            r"upload of %s \(\w+\) goes on without part %d:" % (n, p),
            self.front.log()) for n, p in (("degraded", i),
                                           ("degraded-chunked", j))),
            what="both uploads going on without the victim")
        s.sendall(data[half[0]:])
        for k in range(half[1], len(cdata), 50000):
            piece = cdata[k:k + 50000]
            c.sendall(b"%x\r\n%s\r\n" % (len(piece), piece))
        c.sendall(b"0\r\n\r\n")
        for sock, name in ((s, "degraded"), (c, "degraded-chunked")):
            sock.settimeout(20 * SLOW)
            answer = recv_all(sock)
            self.assertRegex(answer[:12], rb"HTTP/1.1 201", name)
            self.assertIn(b"\r\nShoal-Degraded: 1\r\n", answer, name)
            m = self.object_id(name)
            self.assertEqual(m["missing"], [stores[name].index(
                victim.name)], name)
            self.reads_right(name, objects[name])
        self.assertEqual(metric(self.front, 'shoal_stripe_uploads_total'
                                '{result="degraded"}'), 2)
