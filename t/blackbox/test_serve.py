"""Serving ROOT: GET, HEAD, ranges, conditionals, listing, endpoints,
keep-alive and pipelining, as a user sees them with curl and sockets."""

import json
import os
import socket
import time

from shoal import (NodeTest, parse_head, parse_responses, recv_all, SLOW,
                   wait_for)


class ServeTest(NodeTest):
    def setUp(self):
        super().setUp()
        self.n = self.node(start=False)
        self.data = bytes(range(256)) * 4 + b"tail"   # 1028 bytes
        self.n.put_file("bin.dat", self.data)
        self.n.put_file("hello.txt", "hello\n")
        self.n.put_file("empty", b"")
        self.n.start()

    def test_get_binary_file(self):
        r = self.n.curl("/bin.dat")
        self.assertEqual(r.status, 200)
        self.assertEqual(r.body, self.data)
        self.assertEqual(r.header("content-length"), str(len(self.data)))
        self.assertEqual(r.header("content-type"), "application/octet-stream")
        self.assertEqual(r.header("accept-ranges"), "bytes")
        self.assertRegex(r.header("etag"), r'^"[0-9a-f]{32}"$')
        self.assertTrue(r.header("last-modified").endswith(" GMT"))
        self.assertTrue(r.header("date").endswith(" GMT"))
        self.assertTrue(r.header("server").startswith("shoal/"))

    def test_content_type_by_extension(self):
        r = self.n.curl("/hello.txt")
        self.assertEqual(r.status, 200)
        self.assertEqual(r.body, b"hello\n")
        self.assertEqual(r.header("content-type"), "text/plain; charset=utf-8")

    def test_empty_file(self):
        r = self.n.curl("/empty")
        self.assertEqual(r.status, 200)
        self.assertEqual(r.body, b"")
        self.assertEqual(r.header("content-length"), "0")

    def test_large_file_byte_for_byte(self):
        big = os.urandom(8 << 20)
        self.n.put_file("big.bin", big)
        r = self.n.curl("/big.bin")
        self.assertEqual(r.status, 200)
        self.assertEqual(len(r.body), len(big))
        self.assertEqual(r.body, big)

    def test_head_has_headers_no_body(self):
        r = self.n.curl("/bin.dat", method="HEAD")
        self.assertEqual(r.status, 200)
        self.assertEqual(r.header("content-length"), str(len(self.data)))
        get = self.n.curl("/bin.dat")
        self.assertEqual(r.header("etag"), get.header("etag"))

    def test_head_on_raw_socket_sends_no_body(self):
        out = self.n.raw(b"HEAD /hello.txt HTTP/1.1\r\nHost: t\r\n"
                         b"Connection: close\r\n\r\n")
        status, headers, rest = parse_head(out)
        self.assertEqual(status, 200)
        self.assertEqual(headers["content-length"], "6")
        self.assertEqual(rest, b"")

    def test_missing_file_is_404(self):
        r = self.n.curl("/nope.txt")
        self.assertEqual(r.status, 404)
        self.assertEqual(r.header("content-type"), "text/plain; charset=utf-8")
        self.assertEqual(r.body.count(b"\n"), 1)

    def test_directory_is_not_a_file(self):
        os.mkdir(os.path.join(self.n.root, "sub"))
        self.assertEqual(self.n.curl("/sub").status, 404)

    def test_symlink_is_not_followed(self):
        outside = os.path.join(self.tmp, "secret")
        with open(outside, "w") as f:
            f.write("secret\n")
        os.symlink(outside, os.path.join(self.n.root, "link"))
        os.symlink("hello.txt", os.path.join(self.n.root, "inside-link"))
        for name in ("/link", "/inside-link"):
            r = self.n.curl(name)
            self.assertIn(r.status, (403, 404))
            self.assertNotIn(b"secret", r.body)
        listing = self.n.curl("/").body.split(b"\n")
        self.assertNotIn(b"link", listing)

    def test_ranges(self):
        n = len(self.data)
        cases = [
            ("bytes=0-8", 206, 0, 9),
            ("bytes=-10", 206, n - 10, n),
            ("bytes=1000-5000", 206, 1000, n),
            ("bytes=5-", 206, 5, n),
        ]
        for spec, status, a, b in cases:
            r = self.n.curl("/bin.dat", headers=["Range: " + spec])
            self.assertEqual(r.status, status, spec)
            self.assertEqual(r.body, self.data[a:b], spec)
            self.assertEqual(r.header("content-range"),
                             "bytes %d-%d/%d" % (a, b - 1, n), spec)
            self.assertEqual(r.header("content-length"), str(b - a))

    def test_unsatisfiable_range(self):
        r = self.n.curl("/bin.dat", headers=["Range: bytes=100000-"])
        self.assertEqual(r.status, 416)
        self.assertEqual(r.header("content-range"), "bytes */%d" %
                         len(self.data))

    def test_ignored_ranges(self):
        # Several ranges and garbage are ignored: the whole file.
        for spec in ("bytes=0-1,5-6", "bytes=x-y", "items=0-5"):
            r = self.n.curl("/bin.dat", headers=["Range: " + spec])
            self.assertEqual(r.status, 200, spec)
            self.assertEqual(r.body, self.data)

    def test_head_ignores_range(self):
        r = self.n.curl("/bin.dat", method="HEAD",
                        headers=["Range: bytes=0-8"])
        self.assertEqual(r.status, 200)

    def test_if_range(self):
        etag = self.n.curl("/bin.dat").header("etag")
        r = self.n.curl("/bin.dat", headers=["Range: bytes=0-3",
                                             "If-Range: " + etag])
        self.assertEqual(r.status, 206)
        r = self.n.curl("/bin.dat", headers=["Range: bytes=0-3",
                                             'If-Range: "other"'])
        self.assertEqual(r.status, 200)
        self.assertEqual(r.body, self.data)

    def test_if_none_match(self):
        etag = self.n.curl("/bin.dat").header("etag")
        r = self.n.curl("/bin.dat", headers=["If-None-Match: " + etag])
        self.assertEqual(r.status, 304)
        self.assertEqual(r.body, b"")
        self.assertEqual(r.header("etag"), etag)
        r = self.n.curl("/bin.dat", headers=['If-None-Match: "x", W/' + etag])
        self.assertEqual(r.status, 304)
        r = self.n.curl("/bin.dat", headers=['If-None-Match: "nomatch"'])
        self.assertEqual(r.status, 200)

    def test_if_modified_since(self):
        lm = self.n.curl("/bin.dat").header("last-modified")
        r = self.n.curl("/bin.dat", headers=["If-Modified-Since: " + lm])
        self.assertEqual(r.status, 304)
        r = self.n.curl("/bin.dat", headers=[
            "If-Modified-Since: Sat, 01 Jan 2000 00:00:00 GMT"])
        self.assertEqual(r.status, 200)
        # If-None-Match wins over If-Modified-Since.
        r = self.n.curl("/bin.dat", headers=["If-Modified-Since: " + lm,
                                             'If-None-Match: "nomatch"'])
        self.assertEqual(r.status, 200)

    def test_etag_changes_with_content(self):
        before = self.n.curl("/hello.txt").header("etag")
        time.sleep(0.01)
        self.n.put_file("hello.txt", "changed\n")
        after = self.n.curl("/hello.txt")
        self.assertEqual(after.body, b"changed\n")
        self.assertNotEqual(before, after.header("etag"))

    def test_cached_files_never_go_stale(self):
        # The open-file cache must follow every change to ROOT at once.
        path = os.path.join(self.n.root, "hot.txt")
        for i in range(20):
            self.n.put_file("hot.txt", "version %d\n" % i)     # in place
            self.assertEqual(self.n.curl("/hot.txt").body,
                             b"version %d\n" % i)
            other = os.path.join(self.n.root, ".new")
            with open(other, "w") as f:
                f.write("renamed %d\n" % i)
            os.rename(other, path)                          # replaced
            self.assertEqual(self.n.curl("/hot.txt").body,
                             b"renamed %d\n" % i)
        os.unlink(path)                                     # removed
        self.assertEqual(self.n.curl("/hot.txt").status, 404)
        big = os.urandom(100000)                            # not inlined
        self.n.put_file("hot.bin", big)
        self.assertEqual(self.n.curl("/hot.bin").body, big)
        self.n.put_file("hot.bin", big[:5])
        self.assertEqual(self.n.curl("/hot.bin").body, big[:5])

    def test_listing_text_and_json(self):
        os.mkdir(os.path.join(self.n.root, "adir"))
        self.n.put_file(".hidden", "x")
        r = self.n.curl("/")
        self.assertEqual(r.status, 200)
        self.assertEqual(r.header("content-type"), "text/plain; charset=utf-8")
        self.assertEqual(r.body, b"bin.dat\nempty\nhello.txt\n")
        r = self.n.curl("/", headers=["Accept: application/json"])
        self.assertEqual(r.status, 200)
        self.assertEqual(r.header("content-type"), "application/json")
        self.assertEqual(json.loads(r.body), ["bin.dat", "empty", "hello.txt"])

    def test_percent_encoded_name(self):
        self.n.put_file("a b.txt", "space\n")
        r = self.n.curl("/a%20b.txt")
        self.assertEqual(r.status, 200)
        self.assertEqual(r.body, b"space\n")
        self.n.put_file("caf\u00e9", "utf8\n")
        self.assertEqual(self.n.curl("/caf%C3%A9").body, b"utf8\n")

    def test_query_is_ignored(self):
        self.assertEqual(self.n.curl("/hello.txt?x=1").body, b"hello\n")

    def test_health_and_metrics(self):
        r = self.n.curl("/_/health")
        self.assertEqual(r.status, 200)
        self.n.curl("/nope")
        r = self.n.curl("/_/metrics")
        self.assertEqual(r.status, 200)
        self.assertTrue(r.header("content-type").startswith("text/plain"))
        text = r.body.decode()
        self.assertIn('shoal_requests_total{method="GET",status="404"} 1',
                      text)
        self.assertIn("shoal_workers 1", text)
        self.assertIn("# TYPE shoal_sent_bytes_total counter", text)
        self.assertRegex(text, r"shoal_connections_open [1-9]")
        self.assertEqual(self.n.curl("/_/nothing").status, 404)

    def test_other_methods(self):
        for m in ("DELETE", "OPTIONS", "TRACE", "PATCH"):
            r = self.n.curl("/hello.txt", method=m)
            self.assertEqual(r.status, 405, m)
            self.assertEqual(r.header("allow"), "GET, HEAD, PUT, POST", m)
        r = self.n.curl("/hello.txt", method="FOO")
        self.assertEqual(r.status, 501)

    def test_keepalive_reuses_connection(self):
        s = self.n.connect()
        for _ in range(3):
            s.sendall(b"GET /hello.txt HTTP/1.1\r\nHost: t\r\n\r\n")
            buf = b""
            while not buf.endswith(b"hello\n"):
                chunk = s.recv(4096)
                self.assertTrue(chunk, "connection closed")
                buf += chunk
            self.assertTrue(buf.startswith(b"HTTP/1.1 200 OK\r\n"))
            self.assertNotIn(b"Connection: close", buf)

    def test_pipelining_in_one_packet(self):
        reqs = (b"GET /hello.txt HTTP/1.1\r\nHost: t\r\n\r\n"
                b"GET /nope HTTP/1.1\r\nHost: t\r\n\r\n"
                b"GET /bin.dat HTTP/1.1\r\nHost: t\r\nConnection: close\r\n\r\n")
        rs = parse_responses(self.n.raw(reqs))
        self.assertEqual([r.status for r in rs], [200, 404, 200])
        self.assertEqual(rs[0].body, b"hello\n")
        self.assertEqual(rs[2].body, self.data)

    def test_many_pipelined_requests(self):
        reqs = b"GET /hello.txt HTTP/1.1\r\nHost: t\r\n\r\n" * 200
        reqs += b"GET /hello.txt HTTP/1.1\r\nHost: t\r\nConnection: close\r\n\r\n"
        rs = parse_responses(self.n.raw(reqs))
        self.assertEqual(len(rs), 201)
        self.assertTrue(all(r.status == 200 and r.body == b"hello\n"
                            for r in rs))

    def test_http10_closes_by_default(self):
        out = self.n.raw(b"GET /hello.txt HTTP/1.0\r\n\r\n")
        status, headers, body = parse_head(out)
        self.assertEqual(status, 200)
        self.assertEqual(body, b"hello\n")
        # And keeps the connection when asked.
        s = self.n.connect()
        s.sendall(b"GET /hello.txt HTTP/1.0\r\nConnection: keep-alive\r\n\r\n")
        buf = b""
        while not buf.endswith(b"hello\n"):
            buf += s.recv(4096)
        self.assertIn(b"Connection: keep-alive", buf)
        s.sendall(b"GET /hello.txt HTTP/1.0\r\n\r\n")
        self.assertTrue(recv_all(s).startswith(b"HTTP/1.1 200"))

    def test_client_leaving_mid_download_is_harmless(self):
        self.n.put_file("big.bin", os.urandom(32 << 20))
        for _ in range(10):
            s = socket.create_connection(("127.0.0.1", self.n.port))
            s.sendall(b"GET /big.bin HTTP/1.1\r\nHost: t\r\n\r\n")
            s.recv(1000)
            s.close()
        r = self.n.curl("/hello.txt")
        self.assertEqual(r.status, 200)
        time.sleep(0.2 * SLOW)
        fds = os.listdir("/proc/%d/fd" % self.n.worker_pids()[0])
        self.assertLess(len(fds), 40, "descriptor leak: %d open" % len(fds))
        self.assertNotIn("error", self.n.log().lower().replace(
            "error_log", ""))


class TimeoutTest(NodeTest):
    def test_idle_keepalive_connection_is_closed(self):
        n = self.node(http={"keepalive_timeout": "300ms"})
        n.put_file("f", "x")
        s = n.connect()
        s.sendall(b"GET /f HTTP/1.1\r\nHost: t\r\n\r\n")
        time.sleep(1 * SLOW)
        data = recv_all(s)      # the response, then the close
        self.assertTrue(data.startswith(b"HTTP/1.1 200"))

    def test_slow_header_gets_408(self):
        n = self.node(http={"header_timeout": "500ms"})
        s = n.connect()
        s.sendall(b"GET /f HTTP/1.1\r\n")
        start = time.time()
        data = recv_all(s)
        self.assertTrue(data.startswith(b"HTTP/1.1 408"), data)
        self.assertLess(time.time() - start, 5 * SLOW)

    def test_connection_cap_answers_503(self):
        import select
        n = self.node(http={"max_connections": 2})
        held = []
        # A connection still closing (the readiness probe's) may count for
        # a moment: keep connecting until two are held open.
        for _ in range(10):
            s = n.connect()
            if not select.select([s], [], [], 0.2 * SLOW)[0]:
                held.append(s)
            if len(held) == 2:
                break
        self.assertEqual(len(held), 2)
        out = n.raw(b"GET /_/health HTTP/1.1\r\nHost: t\r\n\r\n")
        self.assertTrue(out.startswith(b"HTTP/1.1 503"), out)
        self.assertIn(b"too many connections", out)
        for s in held:
            s.close()
        wait_for(lambda: n.curl("/_/health").status == 200,
                 what="service after the held connections closed")
