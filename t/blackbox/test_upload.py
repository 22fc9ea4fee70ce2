"""Uploads: PUT or POST at any node; names unique across the cluster; nothing
half-written ever visible; nothing left behind by a client that leaves."""

import hashlib
import http.client
import os
import re
import shutil
import signal
import socket
import threading
import time
import unittest

import fakepeer
from shoal import NodeTest, SLOW, SmallDiskTest, content_etag, \
    has_xattrs, parse_head, parse_responses, pid_alive, recv_all, wait_for
from test_cluster import cluster_settings


def tmp_files(node):
    return os.listdir(os.path.join(node.root, ".shoal-tmp"))


def files_under(root):
    """Every regular file under ROOT (hidden ones too), with contents."""
    out = {}
    for d, _, names in os.walk(root):
        for n in names:
            p = os.path.join(d, n)
            with open(p, "rb") as f:
                out[os.path.relpath(p, root)] = f.read()
    return out


def answer_to_expect(node, name, length):
    """The first bytes node answers to the head of a PUT of /name, length
    bytes long, that waits for 100 Continue (no byte of the body sent)."""
    s = node.connect()
    s.sendall(b"PUT /%s HTTP/1.1\r\nHost: h\r\nContent-Length: %d\r\n"
              b"Expect: 100-continue\r\n\r\n" % (name, length))
    return s.recv(4096)


def write_then_read(node, method, target, size, headers=None):
    """Sends a whole body of `size` bytes before reading anything, as
    http.client does; returns (status, reason, body) of the answer. A node
    that closed without reading the body would make this raise
    BrokenPipeError or ConnectionResetError instead."""
    c = http.client.HTTPConnection(node.host, node.port, timeout=30)
    try:
        c.request(method, target, body=b"\0" * size, headers=headers or {})
        r = c.getresponse()
        return r.status, r.reason, r.read()
    finally:
        c.close()


class UploadTest(NodeTest):
    def setUp(self):
        super().setUp()
        self.n = self.node()

    def put(self, name, data, *args, node=None, method="PUT", headers=()):
        return (node or self.n).curl("/" + name, *args, method=method,
                                     data=data, headers=list(headers))

    def test_put_stores_and_get_returns_the_same_bytes_and_etag(self):
        data = os.urandom(100000)
        r = self.put("f.bin", data)
        self.assertEqual(r.status, 201)
        self.assertEqual(r.header("location"), "/f.bin")
        etag = r.header("etag")
        self.assertRegex(etag, r'^"[0-9a-f]{32}"$')
        g = self.n.curl("/f.bin")
        self.assertEqual((g.status, g.body), (200, data))
        self.assertEqual(g.header("etag"), etag)
        self.assertEqual(tmp_files(self.n), [])

    def test_etag_is_the_xxh3_128_of_the_bytes(self):
        # Two bodies of one size: two ETags, each the content's digest,
        # the same from the upload, GET and HEAD (and after a restart:
        # it is recorded beside the file, not computed from its inode).
        a, b = os.urandom(70000), os.urandom(70000)
        ra, rb = self.put("a.bin", a), self.put("b.bin", b)
        self.assertEqual((ra.status, rb.status), (201, 201))
        self.assertEqual(ra.header("etag"), content_etag(a))
        self.assertEqual(rb.header("etag"), content_etag(b))
        self.assertNotEqual(ra.header("etag"), rb.header("etag"))
        self.assertEqual(self.put("e", b"").header("etag"),
                         content_etag(b""))
        self.assertEqual(content_etag(b"abc"),
                         '"06b05ab6733a618578af5f94892f3950"')
        for name, data in (("a.bin", a), ("b.bin", b)):
            for method in ("GET", "HEAD"):
                r = self.n.curl("/" + name, method=method)
                self.assertEqual(r.status, 200)
                self.assertEqual(r.header("etag"), content_etag(data))
        if not has_xattrs(os.path.join(self.n.root, "a.bin")):
            self.skipTest("no user xattrs under %s" % self.n.root)
        self.n.stop()
        self.n.start()
        self.assertEqual(self.n.curl("/a.bin").header("etag"),
                         content_etag(a))

    def test_post_to_a_name(self):
        r = self.put("p.txt", b"posted", method="POST")
        self.assertEqual(r.status, 201)
        self.assertEqual(self.n.curl("/p.txt").body, b"posted")

    def test_post_to_root_picks_a_uuid(self):
        r = self.n.curl("/", method="POST", data=b"anonymous")
        self.assertEqual(r.status, 201)
        loc = r.header("location")
        self.assertRegex(loc, r"^/[0-9a-f]{8}-[0-9a-f]{4}-4[0-9a-f]{3}-"
                              r"[89ab][0-9a-f]{3}-[0-9a-f]{12}$")
        self.assertEqual(self.n.curl(loc).body, b"anonymous")
        other = self.n.curl("/", method="POST", data=b"x").header("location")
        self.assertNotEqual(loc, other)

    def test_put_to_root_is_405(self):
        r = self.n.curl("/", method="PUT", data=b"x")
        self.assertEqual(r.status, 405)
        self.assertIn("POST", r.header("allow"))

    def test_empty_upload(self):
        r = self.put("empty", b"")
        self.assertEqual(r.status, 201)
        self.assertEqual(os.path.getsize(os.path.join(self.n.root, "empty")),
                         0)

    def test_chunked_upload(self):
        data = os.urandom(700000)
        r = self.put("ch.bin", data, headers=["Transfer-Encoding: chunked"])
        self.assertEqual(r.status, 201)
        self.assertEqual(self.n.curl("/ch.bin").body, data)

    def test_expect_100_continue_large_upload(self):
        data = os.urandom(3 << 20)
        # curl sends Expect: 100-continue for bodies this large.
        r = self.put("big.bin", data, "-v")
        self.assertEqual(r.status, 201)
        self.assertEqual(self.n.curl("/big.bin").body, data)

    def test_existing_name_is_409_and_untouched(self):
        self.n.put_file("taken", "original")
        r = self.put("taken", b"replacement")
        self.assertEqual(r.status, 409)
        self.assertEqual(self.n.curl("/taken").body, b"original")

    def test_bad_names_are_400(self):
        for name in ("..%2fx", ".hidden", "a%00b", "%2e%2e", "x%"):
            r = self.put(name, b"x")
            self.assertEqual(r.status, 400, name)
        self.assertEqual(self.put("_/health", b"x").status, 405)
        self.assertEqual(files_under(self.n.root), {})

    def test_no_length_is_411(self):
        # Without a length the request has no body, so the connection
        # stays open for the next one: the client ends it.
        out = self.n.raw(b"PUT /f HTTP/1.1\r\nHost: h\r\n\r\n", shut=True)
        self.assertTrue(out.startswith(b"HTTP/1.1 411"), out)

    def test_content_range_is_refused(self):
        out = self.n.raw(b"PUT /f HTTP/1.1\r\nHost: h\r\nContent-Length: 3\r\n"
                         b"Content-Range: bytes 0-2/10\r\n\r\nabc")
        status = int(out.split(b" ")[1])
        self.assertIn(status, (400, 501))
        self.assertFalse(os.path.exists(os.path.join(self.n.root, "f")))

    def pipelined_get_after(self, put, name):
        """put (an upload of "hello" as /name) and a GET of it sent at
        once: 201, then the file."""
        out = self.n.raw(put + b"GET /" + name + b" HTTP/1.1\r\nHost: h\r\n"
                         b"Connection: close\r\n\r\n")
        rs = parse_responses(out)
        self.assertEqual([r.status for r in rs], [201, 200])
        self.assertEqual(rs[1].body, b"hello")

    def test_pipelined_request_after_an_upload(self):
        self.pipelined_get_after(b"PUT /pp HTTP/1.1\r\nHost: h\r\n"
                                 b"Content-Length: 5\r\n\r\nhello", b"pp")

    def test_pipelined_request_after_a_chunked_upload(self):
        self.pipelined_get_after(b"PUT /pc HTTP/1.1\r\nHost: h\r\n"
                                 b"Transfer-Encoding: chunked\r\n\r\n"
                                 b"5\r\nhello\r\n0\r\n\r\n", b"pc")

    def test_client_disconnect_mid_body_leaves_nothing(self):
        marker = b"MARKER-" + os.urandom(8).hex().encode()
        s = self.n.connect()
        s.sendall(b"PUT /gone HTTP/1.1\r\nHost: h\r\nContent-Length: 1000000"
                  b"\r\n\r\n" + marker * 1000)
        time.sleep(0.3)
        s.close()
        wait_for(lambda: tmp_files(self.n) == [], what="temporary removed")
        self.assertFalse(os.path.exists(os.path.join(self.n.root, "gone")))
        for name, content in files_under(self.n.root).items():
            self.assertNotIn(marker, content, name)
        # The name is free again.
        self.assertEqual(self.put("gone", b"second try").status, 201)

    def test_chunked_over_the_limit_is_413_and_leaves_nothing(self):
        self.n.stop()
        n = self.node(name="b", upload={"max_size": 1000})
        r = n.curl("/c", method="PUT", data=os.urandom(5000),
                   headers=["Transfer-Encoding: chunked"])
        self.assertEqual(r.status, 413)
        wait_for(lambda: tmp_files(n) == [], what="temporary removed")
        self.assertFalse(os.path.exists(os.path.join(n.root, "c")))

    def test_body_timeout_is_408(self):
        self.n.stop()
        n = self.node(name="b", http={"body_timeout": "500ms"})
        s = n.connect()
        s.sendall(b"PUT /slow HTTP/1.1\r\nHost: h\r\nContent-Length: 100"
                  b"\r\n\r\nonly a bit")
        out = recv_all(s)
        self.assertTrue(out.startswith(b"HTTP/1.1 408"), out)
        wait_for(lambda: tmp_files(n) == [], what="temporary removed")
        self.assertFalse(os.path.exists(os.path.join(n.root, "slow")))

    def test_two_uploads_of_one_name_at_once(self):
        # The first holds the name with half a body; the second is refused.
        s = self.n.connect()
        s.sendall(b"PUT /race HTTP/1.1\r\nHost: h\r\nContent-Length: 10\r\n"
                  b"\r\nhalf-")
        time.sleep(0.3)
        self.assertEqual(self.put("race", b"other").status, 409)
        s.sendall(b"body!")
        status, _, _ = parse_head(s.recv(4096))
        self.assertEqual(status, 201)
        self.assertEqual(self.n.curl("/race").body, b"half-body!")

    def test_ten_concurrent_uploads_of_one_name(self):
        self.n.stop()
        n = self.node(name="b", workers=2)
        results = []
        lock = threading.Lock()
        bodies = [os.urandom(200000) for _ in range(10)]

        def up(i):
            r = n.curl("/same", method="PUT", data=bodies[i])
            with lock:
                results.append((r.status, i))
        threads = [threading.Thread(target=up, args=(i,)) for i in range(10)]
        for t in threads:
            t.start()
        for t in threads:
            t.join()
        statuses = sorted(st for st, _ in results)
        self.assertEqual(statuses, [201] + [409] * 9)
        winner = [i for st, i in results if st == 201][0]
        self.assertEqual(n.curl("/same").body, bodies[winner])
        self.assertEqual(tmp_files(n), [])

    def test_metrics(self):
        self.put("m1", b"abc")
        self.put("m1", b"abc")
        text = self.n.curl("/_/metrics").body.decode()
        self.assertIn('shoal_uploads_total{outcome="created"} 1', text)
        self.assertIn('shoal_uploads_total{outcome="conflict"} 1', text)
        self.assertIn("shoal_upload_received_bytes_total 3", text)


class UploadAccessTest(NodeTest):
    def test_disabled_is_403(self):
        n = self.node(upload={"enabled": False})
        r = n.curl("/f", method="PUT", data=b"x")
        self.assertEqual(r.status, 403)
        self.assertFalse(os.path.exists(os.path.join(n.root, "f")))

    def test_token(self):
        n = self.node(upload={"token": "s3cret"})
        r = n.curl("/f", method="PUT", data=b"x")
        self.assertEqual(r.status, 401)
        self.assertEqual(r.header("www-authenticate"), "Bearer")
        for bad in ("Bearer wrong", "Bearer s3cre", "Bearer s3cretX",
                    "Basic s3cret", "s3cret"):
            r = n.curl("/f", method="PUT", data=b"x",
                       headers=["Authorization: " + bad])
            self.assertEqual(r.status, 401, bad)
        r = n.curl("/f", method="PUT", data=b"x",
                   headers=["Authorization: Bearer s3cret"])
        self.assertEqual(r.status, 201)
        # Reading needs no token.
        self.assertEqual(n.curl("/f").body, b"x")

    def test_size_limit_413_before_the_body(self):
        n = self.node(upload={"max_size": 1000})
        out = answer_to_expect(n, b"big", 1001)
        self.assertTrue(out.startswith(b"HTTP/1.1 413"), out)
        self.assertNotIn(b"100 Continue", out)
        self.assertEqual(n.curl("/ok", method="PUT",
                                data=b"x" * 1000).status, 201)

    def test_expect_continue_refused_name_answers_at_once(self):
        n = self.node()
        n.put_file("taken", "x")
        out = answer_to_expect(n, b"taken", 5)
        self.assertTrue(out.startswith(b"HTTP/1.1 409"), out)


class EarlyAnswerTest(NodeTest):
    """An answer sent before the body is read reaches a client that writes
    its whole body (64 MiB) first: the node reads and drops the body after
    answering, bounded by time, not bytes."""

    def test_refusals_reach_a_client_that_writes_first(self):
        n = self.node(upload={"token": "s3cret", "max_size": "64MiB"},
                      cluster=cluster_settings())
        n.put_file("taken", "x")
        auth = {"Authorization": "Bearer s3cret"}
        size = 64 << 20
        cases = [
            ("PUT", "/new", size, {}, 401, "Unauthorized",
             b"a valid upload token is required\n"),
            ("PUT", "/new", size + 1, auth, 413, "Content Too Large",
             b"larger than upload.max_size\n"),
            ("PUT", "/taken", size, auth, 409, "Conflict", None),
            ("POST", "/_/gossip", size, {}, 413, "Content Too Large",
             b"gossip body too large\n"),
            ("POST", "/_/gossip", size, {"Shoal-Cluster": "elsewhere"}, 403,
             "Forbidden", b"another cluster\n"),
        ]
        for method, target, length, headers, status, reason, body in cases:
            what = "%s %s" % (method, target)
            got = write_then_read(n, method, target, length, headers)
            self.assertEqual(got[:2], (status, reason), what)
            if body is not None:
                self.assertEqual(got[2], body, what)
            self.assertEqual(n.curl("/_/health").status, 200, what)
        self.assertFalse(os.path.exists(os.path.join(n.root, "new")))
        self.assertEqual(tmp_files(n), [])


class ClusterUploadTest(NodeTest):
    def test_16mib_upload_read_back_through_another_node(self):
        b = self.node(name="b")
        a = self.node(name="a", peers=[b.port])
        data = os.urandom(16 << 20)
        r = b.curl("/big.bin", method="PUT", data=data)
        self.assertEqual(r.status, 201)
        g = a.curl("/big.bin")
        self.assertEqual((g.status, g.rc), (200, 0))
        self.assertEqual(hashlib.sha256(g.body).digest(),
                         hashlib.sha256(data).digest())
        self.assertEqual(g.header("etag"), r.header("etag"))

    def test_name_held_by_a_peer_is_409_and_not_stored(self):
        b = self.node(name="b")
        a = self.node(name="a", peers=[b.port])
        b.put_file("theirs", "b's")
        out = answer_to_expect(a, b"theirs", 4)
        self.assertTrue(out.startswith(b"HTTP/1.1 409"), out)
        self.assertFalse(os.path.exists(os.path.join(a.root, "theirs")))
        wait_for(lambda: tmp_files(a) == [], what="reservation dropped")

    def test_unreachable_peers_do_not_block_an_upload(self):
        hole = fakepeer.FakePeer(fakepeer.never_answer)
        try:
            a = self.node(name="a", peers=[fakepeer.refused_port(),
                                           hole.port], peer_timeout="500ms")
            r = a.curl("/f", method="PUT", data=b"data")
            self.assertEqual(r.status, 201)
        finally:
            hole.close()

    def test_killed_mid_upload_leaves_no_partial_file(self):
        a = self.node(name="a")
        s = a.connect()
        s.sendall(b"PUT /partial HTTP/1.1\r\nHost: h\r\nContent-Length: "
                  b"10000000\r\n\r\n" + b"p" * 500000)
        wait_for(lambda: tmp_files(a) != [], what="the upload under way")
        workers = a.worker_pids()
        os.killpg(a.proc.pid, signal.SIGKILL)
        a.proc.wait()
        # The workers hold the listen socket until they are gone.
        for w in workers:
            wait_for(lambda: not pid_alive(w), what="worker gone")
        self.assertFalse(os.path.exists(os.path.join(a.root, "partial")))
        a.start()
        self.assertEqual(tmp_files(a), [])
        self.assertIn("removed 1 temporary file", a.log())
        self.assertEqual(a.curl("/partial").status, 404)


class DiskFullTest(SmallDiskTest):
    def test_disk_full_mid_body_is_507_and_leaves_nothing(self):
        root = os.path.join(self.mnt, "root")
        os.mkdir(root)
        n = self.node(root=root, state_dir=os.path.join(self.tmp, "st"))
        n.put_file("keep", "precious")
        # Declared small enough to pass the free-space check, then more
        # arrives in chunks than the disk holds.
        r = n.curl("/fill", method="PUT", data=os.urandom(3 << 20),
                   headers=["Transfer-Encoding: chunked"])
        self.assertEqual(r.status, 507)
        wait_for(lambda: tmp_files(n) == [], what="temporary removed")
        self.assertFalse(os.path.exists(os.path.join(root, "fill")))
        self.assertEqual(n.curl("/keep").body, b"precious")
        # The space is back: a small upload works.
        self.assertEqual(n.curl("/small", method="PUT",
                                data=b"fits").status, 201)

    def test_disk_full_while_saving_a_copy(self):
        # The client still gets every byte; nothing half-written stays.
        root = os.path.join(self.mnt, "root")
        os.mkdir(root)
        body = os.urandom(3 << 20)
        holder = fakepeer.FakePeer(fakepeer.serve_files({"big": body}))
        try:
            n = self.node(root=root, state_dir=os.path.join(self.tmp, "st"),
                          peers=[holder.port])
            n.put_file("keep", "precious")
            r = n.curl("/big")
            self.assertEqual((r.status, r.rc), (200, 0))
            self.assertEqual(r.body, body)
            wait_for(lambda: tmp_files(n) == [], what="temporary removed")
            self.assertFalse(os.path.exists(os.path.join(root, "big")))
            self.assertEqual(n.curl("/keep").body, b"precious")
            self.assertIn("saving big", n.log())
        finally:
            holder.close()

    def test_507_reaches_a_client_that_writes_first(self):
        root = os.path.join(self.mnt, "root")
        os.mkdir(root)
        n = self.node(root=root, state_dir=os.path.join(self.tmp, "st"))
        st, reason, _ = write_then_read(n, "PUT", "/huge", 64 << 20)
        self.assertEqual((st, reason), (507, "Insufficient Storage"))
        self.assertEqual(n.curl("/_/health").status, 200)
        self.assertEqual(tmp_files(n), [])

    def test_declared_length_over_free_space_is_507_at_once(self):
        root = os.path.join(self.mnt, "root")
        os.mkdir(root)
        n = self.node(root=root, state_dir=os.path.join(self.tmp, "st"))
        s = n.connect()
        s.sendall(b"PUT /huge HTTP/1.1\r\nHost: h\r\nContent-Length: 10000000"
                  b"\r\nExpect: 100-continue\r\n\r\n")
        out = s.recv(4096)
        self.assertTrue(out.startswith(b"HTTP/1.1 507"), out)
