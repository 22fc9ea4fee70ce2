"""Fake peers for black-box tests: small HTTP servers on loopback that
misbehave on purpose (refuse, black-hole, stall, cut, send garbage) or
answer slowly, and count the requests they get."""

import os
import socket
import threading
import time

from shoal import NodeTest, wait_for


class FakePeer:
    """A server on a free loopback port. `behave(conn, request_bytes)` is
    called in a thread for each request head received; it writes whatever
    it likes to conn. Requests are recorded in self.requests."""

    def __init__(self, behave):
        self.behave = behave
        self.requests = []
        self.lock = threading.Lock()
        self.sock = socket.socket()
        self.sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        self.sock.bind(("127.0.0.1", 0))
        self.sock.listen(128)
        self.port = self.sock.getsockname()[1]
        self.stopping = False
        self.conns = []
        self.thread = threading.Thread(target=self.serve, daemon=True)
        self.thread.start()

    def serve(self):
        while not self.stopping:
            try:
                conn, _ = self.sock.accept()
            except OSError:
                return
            self.conns.append(conn)
            threading.Thread(target=self.handle, args=(conn,),
                             daemon=True).start()

    def handle(self, conn):
        buf = b""
        conn.settimeout(30)
        try:
            while not self.stopping:
                while b"\r\n\r\n" not in buf:
                    chunk = conn.recv(65536)
                    if not chunk:
                        return
                    buf += chunk
                head, _, buf = buf.partition(b"\r\n\r\n")
                with self.lock:
                    self.requests.append(head)
                if self.behave(conn, head) == "close":
                    return
        except OSError:
            pass
        finally:
            try:
                conn.close()
            except OSError:
                pass

    def count(self):
        with self.lock:
            return len(self.requests)

    def close(self):
        self.stopping = True
        try:
            self.sock.shutdown(socket.SHUT_RDWR)
        except OSError:
            pass
        self.sock.close()
        for c in self.conns:
            try:
                c.shutdown(socket.SHUT_RDWR)
                c.close()
            except OSError:
                pass


def response(status, body=b"", headers=(), reason=None):
    reason = reason or {200: "OK", 404: "Not Found"}.get(status, "X")
    head = "HTTP/1.1 %d %s\r\n" % (status, reason)
    head += "".join(h + "\r\n" for h in headers)
    return head.encode() + b"\r\n" + body


def is_head(req):
    return req.startswith(b"HEAD ")


def serve_files(files, delay=0.0):
    """A well-behaved peer holding `files` (name -> bytes)."""
    def behave(conn, req):
        if delay:
            time.sleep(delay)
        name = req.split(b" ")[1][1:].decode()
        if name in files:
            body = files[name]
            conn.sendall(response(200, b"" if is_head(req) else body,
                                  ["Content-Length: %d" % len(body),
                                   'ETag: "0123456789abcdef0123456789abcdef"']))
        else:
            conn.sendall(response(404, b"no\n", ["Content-Length: 3"]))
    return behave


def never_answer(conn, req):
    time.sleep(60)
    return "close"


def garbage_status(conn, req):
    conn.sendall(b"HTTP/1.1 2OO OK\r\nContent-Length: 5\r\n\r\nhello")
    return "close"


def two_lengths(conn, req):
    conn.sendall(b"HTTP/1.1 200 OK\r\nContent-Length: 5\r\n"
                 b"Content-Length: 5\r\n\r\nhello")
    return "close"


def length_and_chunked(conn, req):
    conn.sendall(b"HTTP/1.1 200 OK\r\nContent-Length: 5\r\n"
                 b"Transfer-Encoding: chunked\r\n\r\n5\r\nhello\r\n0\r\n\r\n")
    return "close"


def no_framing(conn, req):
    conn.sendall(b"HTTP/1.1 200 OK\r\n\r\nhello")
    return "close"


def cut_body(size, sent):
    """Promises `size` bytes, sends `sent`, closes."""
    def behave(conn, req):
        conn.sendall(response(200, b"x" * sent,
                              ["Content-Length: %d" % size]))
        return "close"
    return behave


def stall_body(size, sent, stall=60):
    def behave(conn, req):
        conn.sendall(response(200, b"x" * sent,
                              ["Content-Length: %d" % size]))
        time.sleep(stall)
        return "close"
    return behave


def slow_first_byte(delay, body=b"slow"):
    def behave(conn, req):
        time.sleep(delay)
        conn.sendall(response(200, body, ["Content-Length: %d" % len(body)]))
    return behave


def chunked(body, pieces=3):
    def behave(conn, req):
        out = response(200, b"", ["Transfer-Encoding: chunked"])
        step = max(1, len(body) // pieces)
        for i in range(0, len(body), step):
            part = body[i:i + step]
            out += b"%x\r\n" % len(part) + part + b"\r\n"
        conn.sendall(out + b"0\r\n\r\n")
    return behave


def trickle(body, piece, pause, cut_at=None):
    """A peer that sends the head (Content-Length, ETag, Last-Modified) at
    once, then `body` in pieces of `piece` bytes every `pause` seconds;
    with `cut_at`, it closes after that many body bytes. The behaviour's
    `done` attribute is set (an Event) when the last piece has gone."""
    def behave(conn, req):
        conn.sendall(response(200, b"", [
            "Content-Length: %d" % len(body),
            'ETag: "00112233445566778899aabbccddeeff"',
            "Last-Modified: Tue, 01 Dec 2026 10:00:00 GMT"]))
        end = len(body) if cut_at is None else cut_at
        for i in range(0, end, piece):
            time.sleep(pause)
            conn.sendall(body[i:min(i + piece, end)])
        behave.done.set()
        return "close"
    behave.done = threading.Event()
    return behave


def refused_port():
    """A loopback port with nothing listening (connections are refused)."""
    s = socket.socket()
    s.bind(("127.0.0.1", 0))
    port = s.getsockname()[1]
    s.close()
    return port


class FakePeerTest(NodeTest):
    """A NodeTest whose fake peers (made with self.fake) are closed at the
    end of each test."""

    def setUp(self):
        super().setUp()
        self.fakes = []

    def tearDown(self):
        for f in self.fakes:
            f.close()
        super().tearDown()

    def fake(self, behave):
        f = FakePeer(behave)
        self.fakes.append(f)
        return f

    def saved(self, n, name):
        """True while node n holds the file `name` (a saved copy)."""
        return os.path.exists(os.path.join(n.root, name))

    def node_that_lost_a_copy(self):
        """A node that saved a copy of "f" from a fake peer and lost the
        file while it was stopped, started again: its index still records
        the copy."""
        p = self.fake(serve_files({"f": b"x"}))
        n = self.node(peers=[p.port], ttl="1h")
        n.curl("/f")
        wait_for(lambda: self.saved(n, "f"), what="the copy")
        n.stop()
        os.unlink(os.path.join(n.root, "f"))
        n.start()
        return n
