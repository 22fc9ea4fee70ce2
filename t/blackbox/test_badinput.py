"""Bad input: one test per row of shared/BADINPUT.md ("Request framing",
"Header syntax", "Request line and names", "Ranges and conditions" and the
download half of "Slow and stuck clients"), plus rows of our own that guard
the edges of the same rules.

Every row sends its exact bytes on a fresh connection, followed by a valid
pipelined canary request ("GET /f" with "Connection: close"):

  - a "+close" verdict (and every framing fault: once the framing of a
    request is in doubt, nothing after it can be parsed) must come back
    alone, with the connection closed: the canary is never answered;
  - any other verdict may either close or go on and answer the canary,
    which must then be the plain 200 of /f (a smuggled or misparsed
    remainder would show up as a second answer of another kind);
  - a 4xx or 5xx carries a one-line text/plain reason.

After every test the node must still serve /f with the same worker (a
crash that the master quietly replaced is a failure too).

G = "GET /f HTTP/1.1\\r\\nHost: h\\r\\n",
P = "PUT /f HTTP/1.1\\r\\nHost: h\\r\\n".
"""

import os
import re
import select
import socket
import struct
import time
import unittest

from shoal import (NodeTest, SLOW, parse_responses, recv_all, recv_at_least,
                   recv_closed, recv_to_eof, wait_for)

G = b"GET /f HTTP/1.1\r\nHost: h\r\n"
P = b"PUT /f HTTP/1.1\r\nHost: h\r\n"
# PUT to a name that does not exist, for rows about the body itself: an
# upload to an existing name may be refused (409) before its body is read.
P_NEW = b"PUT /up HTTP/1.1\r\nHost: h\r\n"
CANARY = b"GET /f HTTP/1.1\r\nHost: h\r\nConnection: close\r\n\r\n"

# The 1000-byte file the rows use; it holds neither secret marker below.
DATA = (bytes(range(256)) * 4)[:1000]
SECRET = b"SECRET-outside-root-7f3a9c"
PASSWD = b"root:"

# Default limits (conf/shoal.yaml): line lengths exclude the CRLF; the head
# size includes every CRLF up to and including the empty line.
MAX_REQUEST_LINE = 8192
MAX_HEADER_LINE = 8192
MAX_HEADERS = 100
MAX_HEADER_SIZE = 65536

LOG_FAULT_RE = re.compile(r" (error|warn): ")


def node_settings(**settings):
    """Starts the test's node with these settings (e.g. http={...})."""
    def mark(fn):
        fn.node_settings = settings
        return fn
    return mark


def pad_headers(nbytes, prefix=b"X-Pad"):
    """Header lines (CRLFs included) totalling exactly nbytes, none longer
    than 8000 bytes."""
    out = []
    i = 0
    while nbytes > 0:
        name = b"%s-%03d: " % (prefix, i)
        take = min(nbytes, 8002)
        if nbytes - take and nbytes - take < len(name) + 3:
            take -= 100         # leave room for a last, short line
        value_len = take - len(name) - 2
        assert value_len >= 1, nbytes
        out.append(name + b"v" * value_len + b"\r\n")
        nbytes -= take
        i += 1
    return b"".join(out)


class BadInputTest(NodeTest):
    def setUp(self):
        super().setUp()
        settings = getattr(getattr(self, self._testMethodName),
                           "node_settings", {})
        self.n = self.node(start=False, workers=1, **settings)
        self.n.put_file("f", DATA)
        # Secrets outside ROOT, where the traversal rows would land:
        # ROOT/.. (the node's directory) and ROOT/../.. (the test's).
        for d in (self.n.dir, self.tmp):
            for name in ("x", "secret", "passwd"):
                with open(os.path.join(d, name), "wb") as f:
                    f.write(SECRET + b"\n")
        self.n.start()
        self.workers = self.n.worker_pids()
        self.assertEqual(len(self.workers), 1)

    def tearDown(self):
        try:
            if self.n.proc is not None:
                self.assertIsNone(self.n.proc.poll(),
                                  "the master died:\n" + self.n.log())
                self.assertEqual(self.n.worker_pids(), self.workers,
                                 "the worker was replaced:\n" + self.n.log())
                r = self.n.curl("/f")
                self.assertEqual(r.status, 200, "the node stopped serving")
                self.assertEqual(r.body, DATA)
        finally:
            super().tearDown()

    # -- helpers --------------------------------------------------------
    def exchange(self, data, timeout=4):
        """Sends data on a fresh connection and reads until the node closes
        it. Returns (bytes, closed); closed is False on a timeout."""
        s = self.n.connect(timeout=timeout)
        try:
            s.sendall(data)
        except (BrokenPipeError, ConnectionResetError):
            pass
        out, closed = recv_closed(s)
        s.close()
        return out, closed

    def parse(self, out):
        try:
            return parse_responses(out)
        except (ValueError, IndexError) as e:
            self.fail("unparsable answer (%s): %r" % (e, out[:400]))

    def assert_reason(self, r, what=""):
        """A 4xx/5xx answer has a one-line text/plain reason."""
        self.assertTrue((r.header("content-type") or "").startswith(
            "text/plain"), "%s: %r" % (what, r))
        self.assertTrue(r.body.endswith(b"\n") and r.body.count(b"\n") == 1
                        and len(r.body) > 1, "%s: %r" % (what, r))

    def verdict(self, data, statuses, close=False, what=""):
        """Sends data + CANARY; checks the first answer is one of statuses
        and what follows it (see the module comment). Returns the
        responses and the raw bytes."""
        if isinstance(statuses, int):
            statuses = (statuses,)
        what = what or repr(data[:120])
        out, closed = self.exchange(data + CANARY)
        self.assertTrue(closed, "%s: the node did not close the connection;"
                        " got %r" % (what, out[:300]))
        rs = self.parse(out)
        self.assertTrue(rs, "%s: no answer at all" % what)
        self.assertIn(rs[0].status, statuses, "%s: %r" % (what, rs[0]))
        if rs[0].status >= 400:
            self.assert_reason(rs[0], what)
        if close:
            self.assertEqual(len(rs), 1, "%s: answered after a +close "
                             "verdict: %r" % (what, rs))
        else:
            self.assertLessEqual(len(rs), 2, "%s: %r" % (what, rs))
            if len(rs) == 2:
                self.assertEqual((rs[1].status, rs[1].body), (200, DATA),
                                 "%s: the canary was misanswered" % what)
        return rs, out

    def verdicts(self, name, values, request, statuses, close=False):
        """verdict() of request(v) for each v of values, as the subtest
        name=v (its first 40 bytes)."""
        for v in values:
            with self.subTest(**{name: v[:40]}):
                self.verdict(request(v), statuses, close=close)

    def ok(self, data, what=""):
        """data must be served as a plain GET /f, and so must the canary."""
        out, closed = self.exchange(data + CANARY)
        self.assertTrue(closed, what)
        rs = self.parse(out)
        self.assertEqual([(r.status, r.body) for r in rs],
                         [(200, DATA), (200, DATA)], "%s: %r" % (what, rs))
        return rs

    def chunked_body_row(self, body):
        """PUT with a bad chunked body: 400 +close; nothing may appear
        under the name, and no temporary file may stay."""
        self.verdict(P_NEW + b"Transfer-Encoding: chunked\r\n\r\n" + body,
                     (400,), close=True, what=repr(body))
        self.assertFalse(os.path.exists(os.path.join(self.n.root, "up")))
        wait_for(lambda: os.listdir(os.path.join(self.n.root,
                                                 ".shoal-tmp")) == [],
                 what="the temporary file removed")

    def assert_no_secret(self, out, what):
        self.assertNotIn(SECRET, out, what)
        self.assertNotIn(SECRET[:8], out, what)
        self.assertNotIn(PASSWD, out, what)

    def worker_fds(self):
        return len(os.listdir("/proc/%d/fd" % self.workers[0]))

    def stable_fds(self):
        """The worker's descriptor count once it stops changing."""
        last = self.worker_fds()
        deadline = time.time() + 3 * SLOW
        while time.time() < deadline:
            time.sleep(0.1)
            now = self.worker_fds()
            if now == last:
                return now
            last = now
        return last

    # == Request framing (smuggling) ====================================
    def test_framing_cl_and_te_together_400_close(self):
        self.verdicts("hdrs", (
            b"Content-Length: 5\r\nTransfer-Encoding: chunked\r\n",
            b"Transfer-Encoding: chunked\r\nContent-Length: 5\r\n"),
            lambda hdrs: P + hdrs + b"\r\n0\r\n\r\n", 400, close=True)

    def test_framing_two_content_lengths_400_close(self):
        self.verdicts("hdrs", (b"Content-Length: 5\r\nContent-Length: 5\r\n",
                               b"Content-Length: 5\r\nContent-Length: 6\r\n",
                               b"Content-Length: 5\r\ncontent-length: 5\r\n",
                               b"Content-Length: 5, 5\r\n"),
                      lambda hdrs: P + hdrs + b"\r\nhello!", 400, close=True)

    def test_framing_malformed_content_length_400(self):
        for v in (b"4 2", b"+5", b"0x0d", b"-1", b"99999999999999999999999",
                  b"", b"5.0", b"1e3", b"\xb5"):
            for req in (P, G):
                with self.subTest(value=v, method=req[:3]):
                    self.verdict(req + b"Content-Length: " + v +
                                 b"\r\n\r\nhello", 400, close=True)

    @node_settings(upload={"max_size": 1000})
    def test_framing_content_length_over_upload_max_size_413(self):
        # Head only: the answer must come before any of the body is sent.
        s = self.n.connect(timeout=4)
        s.sendall(P_NEW + b"Content-Length: 1001\r\n\r\n")
        s.settimeout(2 * SLOW)
        out = s.recv(65536)
        rs = self.parse(out)
        self.assertEqual(rs[0].status, 413, rs)
        self.assert_reason(rs[0])
        self.assertFalse(os.path.exists(os.path.join(self.n.root, "up")))

    def test_framing_te_chunked_twice_400(self):
        self.verdicts("hdrs", (b"Transfer-Encoding: chunked, chunked\r\n",
                               b"Transfer-Encoding: chunked\r\n"
                               b"Transfer-Encoding: chunked\r\n",
                               b"Transfer-Encoding: gzip\r\n"
                               b"Transfer-Encoding: chunked\r\n"),
                      lambda hdrs: P + hdrs + b"\r\n0\r\n\r\n", 400,
                      close=True)

    def test_framing_te_unsupported_coding_501(self):
        self.verdicts("te", (b"identity", b"gzip, chunked", b"xchunked",
                             b"chunked, gzip"),
                      lambda te: P + b"Transfer-Encoding: " + te +
                      b"\r\n\r\n0\r\n\r\n", (501, 400), close=True)

    def test_framing_te_in_http10_400(self):
        for method in (b"PUT", b"GET"):
            with self.subTest(method=method):
                self.verdict(method + b" /f HTTP/1.0\r\nHost: h\r\n"
                             b"Transfer-Encoding: chunked\r\n\r\n0\r\n\r\n",
                             400, close=True)

    def test_framing_chunk_size_overflow_400_close(self):
        self.chunked_body_row(b"FFFFFFFFFFFFFFED\r\nabcd\r\n0\r\n\r\n")

    def test_framing_chunk_size_not_hex_400_close(self):
        self.chunked_body_row(b"Z\r\nabcd\r\n0\r\n\r\n")

    def test_framing_chunk_size_line_bare_lf_400_close(self):
        self.chunked_body_row(b"4\nabcd\r\n0\r\n\r\n")

    def test_framing_chunk_data_longer_than_size_400_close(self):
        self.chunked_body_row(b"4\r\nSEE-THIS\r\n0\r\n\r\n")

    # Our own: a body on a GET, which the node does not read, must never
    # be parsed as the next request.
    def test_framing_get_body_is_not_smuggled_as_a_request(self):
        smuggled = b"GET /smuggled HTTP/1.1\r\nHost: h\r\n\r\n"
        rs, _ = self.verdict(G + b"Content-Length: %d\r\n\r\n" % len(smuggled)
                             + smuggled, 200)
        self.assertEqual(rs[0].body, DATA)

    def test_framing_get_chunked_body_is_not_smuggled_as_a_request(self):
        smuggled = b"GET /smuggled HTTP/1.1\r\nHost: h\r\n\r\n"
        body = b"%x\r\n%s\r\n0\r\n\r\n" % (len(smuggled), smuggled)
        rs, _ = self.verdict(G + b"Transfer-Encoding: chunked\r\n\r\n" + body,
                             (200, 400))
        if rs[0].status == 200:
            self.assertEqual(rs[0].body, DATA)

    def test_framing_get_with_content_length_zero_keeps_the_connection(self):
        self.ok(G + b"Content-Length: 0\r\n\r\n")

    # == Header syntax ==================================================
    def test_header_folded_400(self):
        self.verdict(G + b"X: a\r\n b\r\n\r\n", 400)
        self.verdict(G + b"X: a\r\n\tb\r\n\r\n", 400)

    def test_header_first_line_starting_with_space_400(self):
        self.verdict(b"GET /f HTTP/1.1\r\n Host: h\r\n\r\n", 400)
        self.verdict(b"GET /f HTTP/1.1\r\n X: a\r\nHost: h\r\n\r\n", 400)

    def test_header_space_before_colon_400(self):
        self.verdict(G + b"Transfer-Encoding : chunked\r\n\r\n0\r\n\r\n", 400)
        self.verdict(G + b"X\t: a\r\n\r\n", 400)

    def test_header_slash_in_field_name_400(self):
        self.verdict(G + b"X/Y: a\r\n\r\n", 400)

    def test_header_empty_field_name_400(self):
        self.verdict(G + b": a\r\n\r\n", 400)

    def test_header_line_without_colon_400(self):
        self.verdict(G + b"X-No-Colon\r\n\r\n", 400)

    def test_header_obs_text_in_field_name_400(self):
        self.verdict(G + b"X\xe9: a\r\n\r\n", 400)

    def test_header_bare_cr_400(self):
        self.verdicts("fields", (b"X: a\rB: c\r\n", b"X: a\r\r\n"),
                      lambda fields: G + fields + b"\r\n", 400)

    def test_header_control_byte_in_value_400(self):
        self.verdicts("byte", (b"\x00", b"\x01", b"\x0b", b"\x0c", b"\x1b",
                               b"\x7f"),
                      lambda c: G + b"X: a" + c + b"b\r\n\r\n", 400)

    def test_header_http11_without_host_400(self):
        self.verdict(b"GET /f HTTP/1.1\r\n\r\n", 400)

    def test_header_two_hosts_400(self):
        # G has one Host already.
        for host in (b"h", b"other"):
            self.verdict(G + b"Host: " + host + b"\r\n\r\n", 400)

    def test_header_bad_host_400(self):
        self.verdicts("host", (b"h\x01x", b"h\x00", b"h h", b"h/x", b"u@h",
                               b""),
                      lambda host: b"GET /f HTTP/1.1\r\nHost: " + host +
                      b"\r\n\r\n", 400)

    def test_header_bare_lf_line_endings_400(self):
        self.verdict(b"GET /f HTTP/1.1\nHost: h\n\n", 400)
        self.verdict(G + b"X: a\n\r\n", 400)

    def test_header_obs_text_in_value_accepted(self):
        self.ok(G + b"X-Name: caf\xe9 \xff\x80\r\n\r\n")

    def test_header_tab_and_spaces_in_value_accepted(self):
        self.ok(G + b"X-Tab: a\tb  c\t\r\nX-Empty:\r\n\r\n")

    def test_request_line_too_long_414(self):
        self.verdict(b"GET /" + b"a" * 10000 + b" HTTP/1.1\r\nHost: h\r\n\r\n",
                     414)

    def test_request_line_too_long_refused_before_its_end_414(self):
        # No CRLF ever: the node must not wait for one.
        s = self.n.connect(timeout=4)
        s.sendall(b"GET /" + b"a" * 20000)
        s.settimeout(3 * SLOW)
        out = b""
        try:
            while b"\r\n\r\n" not in out:
                b = s.recv(65536)
                if not b:
                    break
                out += b
        except socket.timeout:
            pass
        self.assertTrue(out.startswith(b"HTTP/1.1 414 "), out[:300])

    def test_request_line_at_limit_accepted_one_over_414(self):
        def line(n):
            q = b"a" * (n - len(b"GET /f? HTTP/1.1"))
            r = b"GET /f?" + q + b" HTTP/1.1"
            self.assertEqual(len(r), n)
            return r + b"\r\nHost: h\r\n\r\n"
        self.ok(line(MAX_REQUEST_LINE), "request line at the limit")
        self.verdict(line(MAX_REQUEST_LINE + 1), 414)

    def test_header_line_too_long_431(self):
        self.verdict(G + b"X-Long: " + b"a" * 20000 + b"\r\n\r\n", (431, 400))

    def test_header_line_at_limit_accepted_one_over_431(self):
        def line(n):
            h = b"X-Long: " + b"a" * (n - 8)
            self.assertEqual(len(h), n)
            return G + h + b"\r\n\r\n"
        self.ok(line(MAX_HEADER_LINE), "header line at the limit")
        self.verdict(line(MAX_HEADER_LINE + 1), (431, 400))

    def test_too_many_headers_431(self):
        self.verdict(G + b"".join(b"X-%d: a\r\n" % i for i in range(500)) +
                     b"\r\n", (431, 400))

    def test_100_headers_accepted_101_headers_431(self):
        # Host counts: G has one header line already.
        def many(n):
            return G + b"".join(b"X-%d: a\r\n" % i
                                for i in range(n - 1)) + b"\r\n"
        self.ok(many(MAX_HEADERS), "100 header lines")
        self.verdict(many(MAX_HEADERS + 1), (431, 400))

    def test_head_at_max_header_size_accepted_one_over_431(self):
        def head(total):
            h = G + pad_headers(total - len(G) - 2) + b"\r\n"
            self.assertEqual(len(h), total)
            return h
        self.ok(head(MAX_HEADER_SIZE), "a head of exactly 64 KiB")
        self.verdict(head(MAX_HEADER_SIZE + 1), (431, 400))

    def test_huge_head_of_many_legal_lines_431(self):
        self.verdict(G + pad_headers(200000) + b"\r\n", (431, 400))

    # == Request line and names =========================================
    def test_request_line_without_version_400(self):
        self.verdict(b"GET /\r\n", 400)
        self.verdict(b"GET /f\r\n", 400)

    def test_request_line_unknown_versions_400_or_505(self):
        self.verdicts("version", (b"HTTP/1.2", b"HTTP/2.0", b"HTTP/0.9",
                                  b"HTTP/3.0"),
                      lambda v: b"GET /f " + v + b"\r\nHost: h\r\n\r\n",
                      (505, 400))

    def test_request_line_malformed_versions_400(self):
        self.verdicts("version", (b"http/1.1", b"HTTP/1.10", b"HTTP/01.1",
                                  b"HTTP/1", b"HTTP/1.1x", b"HTTP/1.a",
                                  b"HTTP 1.1", b"HTTP/1.1/"),
                      lambda v: b"GET /f " + v + b"\r\nHost: h\r\n\r\n", 400)

    def test_request_line_asterisk_target_400(self):
        self.verdict(b"GET * HTTP/1.1\r\nHost: h\r\n\r\n", 400)

    def test_request_line_relative_target_400(self):
        self.verdict(b"GET f HTTP/1.1\r\nHost: h\r\n\r\n", 400)

    def test_request_line_two_spaces_400(self):
        self.verdict(b"GET  /f HTTP/1.1\r\nHost: h\r\n\r\n", 400)
        self.verdict(b"GET /f  HTTP/1.1\r\nHost: h\r\n\r\n", 400)

    def test_request_line_tab_instead_of_space_400(self):
        self.verdict(b"GET\t/f HTTP/1.1\r\nHost: h\r\n\r\n", 400)
        self.verdict(b"GET /f\tHTTP/1.1\r\nHost: h\r\n\r\n", 400)

    def test_request_line_leading_or_trailing_space_400(self):
        self.verdict(b" GET /f HTTP/1.1\r\nHost: h\r\n\r\n", 400)
        self.verdict(b"GET /f HTTP/1.1 \r\nHost: h\r\n\r\n", 400)

    def test_request_line_control_or_raw_8bit_byte_in_target_400(self):
        self.verdicts("byte", (b"\x7f", b"\x01", b"\x80", b"\xff"),
                      lambda c: b"GET /f" + c +
                      b"g HTTP/1.1\r\nHost: h\r\n\r\n", (400, 404))

    def test_request_line_absolute_form_is_not_proxied(self):
        # Served as the local /f (RFC 9112 3.2.2) or refused; never fetched
        # from the named host, never a byte from outside ROOT.
        rs, _ = self.verdict(b"GET http://h/f HTTP/1.1\r\nHost: h\r\n\r\n",
                             (200, 400))
        if rs[0].status == 200:
            self.assertEqual(rs[0].body, DATA)
        for target in (b"http://h/../secret", b"http://127.0.0.1:1/f",
                       b"file:///etc/passwd"):
            with self.subTest(target=target):
                rs, out = self.verdict(b"GET " + target +
                                       b" HTTP/1.1\r\nHost: h\r\n\r\n",
                                       (400, 404, 200))
                if rs[0].status == 200:
                    self.assertEqual(rs[0].body, DATA, target)
                self.assert_no_secret(out, target)

    def test_request_line_too_many_empty_lines_first_400(self):
        self.ok(b"\r\n" + G + b"\r\n", "one CRLF before a request")
        self.verdict(b"\r\n" * 1000 + G + b"\r\n", 400, close=True)

    def test_request_line_method_too_long_400_or_501(self):
        self.verdict(b"A" * 100 + b" /f HTTP/1.1\r\nHost: h\r\n\r\n",
                     (400, 501))

    def test_http10_without_host_is_served(self):
        out, closed = self.exchange(b"GET /f HTTP/1.0\r\n\r\n")
        self.assertTrue(closed)
        rs = self.parse(out)
        self.assertEqual([(r.status, r.body) for r in rs], [(200, DATA)])

    def test_traversal_targets_400_or_404_never_outside_root(self):
        targets = [b"/../etc/passwd", b"/%2e%2e/x", b"/.%2e/x",
                   b"/%2e%2e%2fetc%2fpasswd", b"/..%5c..%5cx",
                   b"//etc/passwd", b"/%00x", b"/x%", b"/x%1",
                   # ours
                   b"/%2E%2E/x", b"/..", b"/.", b"/%2e", b"/%2e%2e",
                   b"/%2e%2e%2f%2e%2e%2fx", b"/%2e%2e%2fsecret",
                   b"/..%2fsecret", b"/..%2f..%2fsecret", b"/%2fetc%2fpasswd",
                   b"/%252e%252e%252fsecret", b"/..%00/x", b"/x/../secret",
                   b"/f/../../secret", b"/%c0%ae%c0%ae/secret",
                   b"/_/../secret", b"/_/..%2fsecret", b"/_/%2e%2e/secret",
                   b"/_/../../etc/passwd", b"/x%zz", b"/%", b"/%%30"]
        for t in targets:
            with self.subTest(target=t):
                rs, out = self.verdict(b"GET " + t +
                                       b" HTTP/1.1\r\nHost: h\r\n\r\n",
                                       (400, 404))
                self.assert_no_secret(out, t)
                # HEAD too: its headers must not tell the secret's size.
                out, _ = self.exchange(b"HEAD " + t + b" HTTP/1.1\r\n"
                                       b"Host: h\r\nConnection: close\r\n\r\n")
                self.assertRegex(out, rb"^HTTP/1\.1 40[04] ", t)

    def test_name_too_long_or_with_encoded_slash_400(self):
        self.verdicts("target", (b"/" + b"a" * 256, b"/" + b"%61" * 256,
                                 b"/a%2fb", b"/a%2Fb", b"/a%0ab", b"/a%7fb"),
                      lambda t: b"GET " + t + b" HTTP/1.1\r\nHost: h\r\n\r\n",
                      400)

    def test_hidden_names_400_or_404(self):
        os.makedirs(os.path.join(self.n.root, ".shoal"), exist_ok=True)
        self.n.put_file(".anything", SECRET)
        self.n.put_file(".shoal/inside", SECRET)
        for t in (b"/.shoal", b"/.anything", b"/%2eanything", b"/%2Eanything",
                  b"/.shoal/inside", b"/.shoal%2finside",
                  b"/%2eshoal%2finside"):
            with self.subTest(target=t):
                rs, out = self.verdict(b"GET " + t +
                                       b" HTTP/1.1\r\nHost: h\r\n\r\n",
                                       (400, 404))
                self.assert_no_secret(out, t)
        listing = self.n.curl("/").body
        self.assertNotIn(b".anything", listing)
        self.assertNotIn(b".shoal", listing)

    def test_symlink_inside_root_pointing_outside_403_or_404(self):
        os.symlink(os.path.join(self.tmp, "secret"),
                   os.path.join(self.n.root, "link"))
        os.symlink("/etc/passwd", os.path.join(self.n.root, "pw"))
        os.symlink(self.tmp, os.path.join(self.n.root, "dirlink"))
        for t in (b"/link", b"/pw", b"/dirlink", b"/dirlink%2fsecret"):
            for method in (b"GET", b"HEAD"):
                with self.subTest(target=t, method=method):
                    out, closed = self.exchange(
                        method + b" " + t + b" HTTP/1.1\r\nHost: h\r\n"
                        b"Connection: close\r\n\r\n")
                    self.assertTrue(closed)
                    self.assertRegex(out, rb"^HTTP/1\.1 (403|404|400) ", t)
                    self.assert_no_secret(out, t)

    def test_methods_trace_delete_options_405_with_allow(self):
        for m in (b"TRACE", b"DELETE", b"OPTIONS"):
            with self.subTest(method=m):
                rs, out = self.verdict(m + b" /f HTTP/1.1\r\nHost: h\r\n"
                                       b"X-Echo: cookie=abc123\r\n\r\n", 405)
                allow = rs[0].header("allow") or ""
                self.assertIn("GET", allow, m)
                self.assertNotIn(m.decode(), allow)
                # TRACE must not echo the request back (XST).
                self.assertNotIn(b"abc123", out, m)
        self.assertTrue(os.path.exists(os.path.join(self.n.root, "f")))

    def test_unknown_method_501(self):
        rs, _ = self.verdict(b"FOO /f HTTP/1.1\r\nHost: h\r\n\r\n", (501, 405))
        if rs[0].status == 405:
            self.assertTrue(rs[0].header("allow"))

    def test_lowercase_method_is_unknown_501(self):
        # Methods are case-sensitive (RFC 9110 9.1).
        self.verdict(b"get /f HTTP/1.1\r\nHost: h\r\n\r\n", (501, 405, 400))

    def test_connect_authority_form_400_or_405(self):
        self.verdict(b"CONNECT h:80 HTTP/1.1\r\nHost: h:80\r\n\r\n",
                     (400, 405), close=False)

    # == Ranges and conditions (a 1000-byte file) =======================
    def range_row(self, spec):
        out, closed = self.exchange(G + b"Range: " + spec + b"\r\n\r\n" +
                                    CANARY)
        self.assertTrue(closed)
        rs = self.parse(out)
        self.assertEqual(len(rs), 2, rs)
        self.assertEqual((rs[1].status, rs[1].body), (200, DATA))
        return rs[0]

    def partial_row(self, spec, first, last):
        """A Range answered 206 with the bytes first..last of the file."""
        r = self.range_row(spec)
        self.assertEqual(r.status, 206)
        self.assertEqual(r.header("content-range"),
                         "bytes %d-%d/1000" % (first, last))
        self.assertEqual(r.body, DATA[first:last + 1])

    def test_range_first_nine_bytes_206(self):
        self.partial_row(b"bytes=0-8", 0, 8)

    def test_range_suffix_206(self):
        self.partial_row(b"bytes=-10", 990, 999)

    def test_range_past_the_end_is_clamped_206(self):
        self.partial_row(b"bytes=990-1990", 990, 999)

    def test_range_unsatisfiable_416(self):
        for spec in (b"bytes=100000-", b"bytes=1000-", b"bytes=-0",
                     b"bytes=18446744073709551615-"):
            with self.subTest(spec=spec):
                r = self.range_row(spec)
                self.assertEqual(r.status, 416, r)
                self.assertEqual(r.header("content-range"), "bytes */1000")
                self.assert_reason(r)

    def test_if_none_match_etag_304_no_body(self):
        etag = self.n.curl("/f").header("etag")
        self.assertTrue(etag)
        out, closed = self.exchange(G + b"If-None-Match: " + etag.encode() +
                                    b"\r\n\r\n" + CANARY)
        self.assertTrue(closed)
        head, _, rest = out.partition(b"\r\n\r\n")
        self.assertTrue(head.startswith(b"HTTP/1.1 304 "), out[:300])
        # Not one byte between the 304's head and the canary's answer.
        self.assertTrue(rest.startswith(b"HTTP/1.1 200 "), rest[:100])
        rs = self.parse(out)
        self.assertEqual([r.status for r in rs], [304, 200])
        self.assertEqual(rs[0].header("etag"), etag)

    # ours
    def test_range_last_byte_206(self):
        self.partial_row(b"bytes=999-999", 999, 999)

    def test_range_malformed_or_overflowing_is_ignored_200(self):
        for spec in (b"bytes=5-2", b"bytes=0-99999999999999999999999",
                     b"bytes=-99999999999999999999999", b"bytes=--5",
                     b"bytes= 0-8", b"bytes=0-8,", b"bytes=0x0-8",
                     b"bytes=", b"bytes=-", b"bytes=" + b"9" * 5000 + b"-"):
            with self.subTest(spec=spec[:40]):
                r = self.range_row(spec)
                # A server may always ignore a Range it does not like; a
                # 206 must still be a whole, consistent range.
                self.assertIn(r.status, (200, 206, 416), r)
                if r.status == 200:
                    self.assertEqual(r.body, DATA)
                elif r.status == 206:
                    m = re.match(r"bytes (\d+)-(\d+)/1000$",
                                 r.header("content-range") or "")
                    self.assertTrue(m, r)
                    a, b = int(m.group(1)), int(m.group(2))
                    self.assertEqual(r.body, DATA[a:b + 1])

    def test_range_with_matching_if_none_match_is_304(self):
        etag = self.n.curl("/f").header("etag")
        out, closed = self.exchange(G + b"Range: bytes=0-8\r\n"
                                    b"If-None-Match: " + etag.encode() +
                                    b"\r\n\r\n" + CANARY)
        self.assertTrue(closed)
        self.assertEqual([r.status for r in self.parse(out)], [304, 200])

    # == Slow and stuck clients (downloads) =============================
    @node_settings(http={"header_timeout": "1s"})
    def test_trickling_headers_408_at_header_timeout(self):
        # Five bytes a second: the timeout covers the whole head, so a
        # trickle that never pauses for long must still be cut off.
        head = G + b"X-Slow: " + b"a" * 200 + b"\r\n\r\n"
        s = self.n.connect(timeout=4)
        start = time.time()
        answered_at = None
        for byte in head:
            try:
                s.sendall(bytes([byte]))
            except (BrokenPipeError, ConnectionResetError):
                answered_at = time.time()
                break
            if select.select([s], [], [], 0.2)[0]:
                answered_at = time.time()
                break
            if time.time() - start > 4 * SLOW:
                break
        self.assertIsNotNone(answered_at, "the node waited for the trickle")
        out = recv_all(s)
        elapsed = answered_at - start
        self.assertGreater(elapsed, 0.8, "answered before the timeout: %r" %
                           out[:200])
        self.assertLess(elapsed, 1 + 1.5 * SLOW)
        if out:
            rs = self.parse(out)
            self.assertEqual([r.status for r in rs], [408], out[:300])
            self.assert_reason(rs[0])

    def test_300_idle_connections_while_another_client_is_served(self):
        # The open-file cache keeps a descriptor of each file served:
        # serve it once before counting.
        self.assertEqual(self.n.curl("/f").status, 200)
        base = self.stable_fds()
        idle = []
        for i in range(300):
            s = self.n.connect(timeout=4)
            if i % 2:
                s.sendall(b"GET /f HTTP/1.1\r\nHo")   # a head begun
            idle.append(s)
        wait_for(lambda: self.worker_fds() >= base + 300, timeout=4,
                 what="the worker to accept 300 connections")
        start = time.time()
        r = self.n.curl("/f", timeout=4)
        elapsed = time.time() - start
        self.assertEqual((r.status, r.body), (200, DATA))
        self.assertLess(elapsed, 1.0 * SLOW, "served only after %.2fs" %
                        elapsed)
        # An idle connection with half a head can still finish it.
        s = idle[1]
        s.sendall(b"st: h\r\nConnection: close\r\n\r\n")
        out = recv_to_eof(s)
        self.assertEqual([(x.status, x.body) for x in self.parse(out)],
                         [(200, DATA)])
        for s in idle:
            s.close()
        wait_for(lambda: self.worker_fds() <= base, timeout=4,
                 what="the worker to close the 300 connections (from %d, "
                 "now %d)" % (base, self.worker_fds()))

    def test_two_pipelined_requests_in_one_packet_answered_in_order(self):
        s = self.n.connect(timeout=4)
        s.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
        s.sendall(G + b"\r\n" + G + b"Range: bytes=0-8\r\n"
                  b"Connection: close\r\n\r\n")
        out = recv_to_eof(s)
        rs = self.parse(out)
        self.assertEqual([r.status for r in rs], [200, 206])
        self.assertEqual(rs[0].body, DATA)
        self.assertEqual(rs[1].body, DATA[:9])

    def test_disconnect_mid_download_no_fd_leak_no_error_lines(self):
        big = os.urandom(64 << 20)
        self.n.put_file("big", big)
        self.assertEqual(self.n.curl("/f").status, 200)    # warm up
        # The open-file cache keeps one descriptor of "big" once served.
        self.assertEqual(self.n.curl("/big", "-r", "0-0").status, 206)
        base = self.stable_fds()
        log_from = len(self.n.log())
        for i in range(10):
            s = socket.create_connection(("127.0.0.1", self.n.port),
                                         timeout=4 * SLOW)
            s.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 65536)
            s.sendall(b"GET /big HTTP/1.1\r\nHost: h\r\n\r\n")
            recv_at_least(s, 256 << 10)
            if i % 2:
                # Abort with a reset rather than a FIN.
                s.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER,
                             struct.pack("ii", 1, 0))
            s.close()
        r = self.n.curl("/f")
        self.assertEqual((r.status, r.body), (200, DATA))
        wait_for(lambda: self.worker_fds() <= base, timeout=4,
                 what="the worker's descriptors back to %d (now %d)" %
                 (base, self.worker_fds()))
        new = self.n.log()[log_from:]
        faults = [l for l in new.splitlines() if LOG_FAULT_RE.search(l)]
        self.assertEqual(faults, [], new[-3000:])

    # ours
    def test_request_cut_short_by_eof_gets_no_answer(self):
        for part in (b"", b"GET /f HTTP/1.1\r\nHo", b"GET /f HTTP/1.1\r\n"):
            with self.subTest(part=part):
                s = self.n.connect(timeout=4)
                if part:
                    s.sendall(part)
                s.shutdown(socket.SHUT_WR)
                out = recv_to_eof(s)
                # Nothing, or a 400 for the half head, then the close.
                self.assertTrue(out == b"" or out.startswith(b"HTTP/1.1 400"),
                                out[:200])


if __name__ == "__main__":
    unittest.main()
