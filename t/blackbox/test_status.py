"""GET /_/status, the operators' page, in a real browser: headless Chromium
(Debian's chromium and chromium-driver, driven over plain WebDriver
HTTP/JSON) loads the page of a 3-node gossiping cluster, sees every member
alive, then one member frozen (SIGSTOP) go suspect and then dead as the
page's script refreshes it, and keeps a screenshot in the build directory
(status.png beside the shoald binary). The server's own view (JavaScript
off) is read with curl. One member's name is markup, which both views
must show as text."""

import base64
import hashlib
import html.parser
import json
import os
import shutil
import signal
import subprocess
import time
import urllib.request

from machine import free_port
from shoal import NodeTest, SHOALD, SLOW, VALGRIND, wait_for

KEY = "s" * 24 + "-test-status-key-0123"
HOSTILE = "c<i>&amp;'x"		# a valid member name, and markup
SUSPECT_S, DEAD_S = 1, 2
# No proxy for loopback, whatever the environment says.
HTTP = urllib.request.build_opener(urllib.request.ProxyHandler({}))


def settings(seeds=()):
    return {"name": "status", "key": KEY,
            "seeds": ["127.0.0.1:%d" % s.port for s in seeds],
            "gossip_interval": "50ms", "suspect_after": "%ds" % SUSPECT_S,
            "dead_after": "%ds" % DEAD_S}


def shot_path():
    build = "build" if VALGRIND else os.path.dirname(SHOALD)
    return os.path.join(build, "status.png")


class Rows(html.parser.HTMLParser):
    """The member rows of the server's view: data-name -> data-state, and
    every start tag seen inside the members' table body."""

    def __init__(self):
        super().__init__()
        self.states = {}
        self.tags = []
        self.inside = False

    def handle_starttag(self, tag, attrs):
        a = dict(attrs)
        if tag == "tbody" and a.get("id") == "members":
            self.inside = True
        elif self.inside:
            self.tags.append(tag)
            if tag == "tr":
                self.states[a["data-name"]] = a["data-state"]

    def handle_endtag(self, tag):
        if tag == "tbody":
            self.inside = False


class WebDriver:
    """The few WebDriver commands the test needs, over HTTP/JSON."""

    def __init__(self, tmp):
        self.port = free_port()
        self.log = open(os.path.join(tmp, "chromedriver.log"), "wb")
        self.proc = subprocess.Popen(
            ["chromedriver", "--port=%d" % self.port],
            stdout=self.log, stderr=self.log, start_new_session=True)
        self.session = None
        wait_for(self.ready, timeout=10, what="chromedriver")
        caps = {"browserName": "chrome", "goog:chromeOptions": {
            "binary": shutil.which("chromium"),
            "args": ["--headless=new", "--no-sandbox", "--disable-gpu",
                     "--disable-dev-shm-usage", "--no-first-run",
                     "--window-size=420,1500",
                     "--user-data-dir=" + os.path.join(tmp, "chromium")]}}
        self.session = self.call("POST", "/session", {
            "capabilities": {"alwaysMatch": caps}})["sessionId"]

    def ready(self):
        try:
            return self.call("GET", "/status")["ready"]
        except OSError:
            return False

    def call(self, method, path, body=None):
        data = None if body is None else json.dumps(body).encode()
        req = urllib.request.Request(
            "http://127.0.0.1:%d%s" % (self.port, path), data=data,
            method=method, headers={"Content-Type": "application/json"})
        with HTTP.open(req, timeout=30 * SLOW) as r:
            return json.loads(r.read())["value"]

    def command(self, method, what, body=None):
        return self.call(method, "/session/%s/%s" % (self.session, what),
                         body)

    def go(self, url):
        self.command("POST", "url", {"url": url})

    def script(self, js):
        return self.command("POST", "execute/sync",
                            {"script": js, "args": []})

    def screenshot(self, path):
        png = base64.b64decode(self.command("GET", "screenshot"))
        with open(path, "wb") as f:
            f.write(png)
        return png

    def quit(self):
        try:
            if self.session:
                self.call("DELETE", "/session/%s" % self.session)
        finally:
            self.proc.terminate()
            self.proc.wait(10)
            self.log.close()


# What the page shows now, as the browser sees it.
VIEW = """
var rows = {}, events = [], req = document.querySelector(
  '#requests tr[data-key="requests"]');
document.querySelectorAll('#members tr').forEach(function (tr) {
  rows[tr.dataset.name] = [tr.dataset.state, tr.cells[0].textContent];
});
document.querySelectorAll('#events li[data-member]').forEach(function (li) {
  events.push([li.dataset.member, li.dataset.to]);
});
return {rows: rows, events: events,
        updated: document.getElementById('updated').textContent,
        markup: document.querySelectorAll('#members i, #events i').length,
        names: document.getElementById('cat-names').textContent,
        bytes: document.getElementById('cat-bytes').textContent,
        rate: req.cells[2].textContent};
"""


class StatusPageTest(NodeTest):
    def cluster(self):
        a = self.node(name="a", cluster=settings())
        b = self.node(name="b", cluster=settings([a]))
        c = self.node(name=HOSTILE, cluster=settings([a]))
        nodes = (a, b, c)

        def all_alive():
            r = a.curl("/_/cluster")
            if r.status != 200:
                return False
            m = json.loads(r.body)["members"]
            return sorted((x["name"], x["state"]) for x in m) == [
                ("b", "alive"), (HOSTILE, "alive")]
        wait_for(all_alive, timeout=10, what="a sees b and c alive")
        return nodes

    def server_view(self, a):
        """The page with JavaScript off (curl) lists the members."""
        r = a.curl("/_/status")
        self.assertEqual(r.status, 200)
        self.assertTrue(r.header("Content-Type").startswith("text/html"))
        body = r.body.decode()
        # Nothing from elsewhere, and no script but the page's own.
        csp = r.header("Content-Security-Policy")
        self.assertIn("default-src 'none'", csp)
        script = body.split("<script>")[1].split("</script>")[0]
        self.assertIn("script-src 'sha256-%s'" % base64.b64encode(
            hashlib.sha256(script.encode()).digest()).decode(), csp)
        rows = Rows()
        rows.feed(body)
        self.assertEqual(rows.states, {"a": "alive", "b": "alive",
                                       HOSTILE: "alive"})
        # The hostile name is text: escaped, never a tag.
        self.assertIn("c&lt;i&gt;&amp;amp;&#39;x", body)
        self.assertNotIn(HOSTILE, body)
        self.assertNotIn("i", rows.tags)
        # Two joins are among the recent events, in the JSON too.
        events = json.loads(a.curl("/_/cluster").body)["events"]
        self.assertIn({"member": "b", "from": "new", "to": "alive"},
                      [{k: e[k] for k in ("member", "from", "to")}
                       for e in events])
        self.assertIn('data-member="b" data-to="alive"', body)
        # HEAD: the same head, no body; other methods: 405.
        h = a.curl("/_/status", method="HEAD")
        self.assertEqual(h.status, 200)
        self.assertNotIn(b"<html", h.body)  # curl -I: the head alone
        self.assertEqual(a.curl("/_/status", method="POST", data=b"x").status,
                         405)

    def test_a_node_in_no_cluster_shows_its_requests(self):
        alone = self.node(name="alone")
        r = alone.curl("/_/status")
        self.assertEqual(r.status, 200)
        self.assertIn(b"in no cluster", r.body)
        self.assertIn(b'data-key="requests"', r.body)
        self.assertNotIn(b'id="members"', r.body)

    def test_the_page_shows_a_frozen_member_suspect_then_dead(self):
        """Without JavaScript first (curl), then in the browser (skipped,
        with the reason, when Chromium is not installed)."""
        a, b, c = self.cluster()
        self.server_view(a)
        self.assertEqual(a.curl("/hello.txt", method="PUT",
                                data=b"x" * 3072).status, 201)
        for tool in ("chromium", "chromedriver"):
            if shutil.which(tool) is None:
                self.skipTest("%s is not installed: the Debian packages "
                              "chromium and chromium-driver are (make deps "
                              "installs them as root)" % tool)
        wd = WebDriver(self.tmp)
        self.addCleanup(wd.quit)
        wd.go(a.url("/_/status"))
        seen = {}

        def look():
            seen.update(wd.script(VIEW))
            return seen

        # The script has run (a rate needs two answers), all are alive.
        wait_for(lambda: look()["updated"].startswith("updated ") and
                 look()["rate"] not in ("\u2014", ""),
                 timeout=10, what="the page's script refreshing")
        self.assertEqual({n: s for n, (s, _) in seen["rows"].items()},
                         {"a": "alive", "b": "alive", HOSTILE: "alive"})
        self.assertTrue(seen["rows"][HOSTILE][1].startswith(HOSTILE))
        self.assertEqual(seen["markup"], 0)
        self.assertEqual((seen["names"], seen["bytes"]), ("1", "3.0 KiB"))
        self.assertGreater(float(seen["rate"]), 0)  # its own refreshes

        # b frozen: the page shows it suspect, then dead.
        pids = [b.master_pid()] + b.child_pids()
        for pid in pids:
            os.kill(pid, signal.SIGSTOP)
        try:
            t0 = time.time()
            states = []

            def b_is(state):
                s = look()["rows"]["b"][0]
                if not states or states[-1] != s:
                    states.append(s)
                return s == state
            wait_for(lambda: b_is("dead"),
                     timeout=SUSPECT_S + DEAD_S + 4,
                     what="b dead on the page")
            took = time.time() - t0
            self.assertEqual(states, ["alive", "suspect", "dead"])
            self.assertGreater(took, SUSPECT_S + DEAD_S - 0.5)
            self.assertIn(["b", "suspect"], seen["events"])
            self.assertIn(["b", "dead"], seen["events"])
            self.assertEqual(seen["rows"]["a"][0], "alive")
            png = wd.screenshot(shot_path())
            self.assertTrue(png.startswith(b"\x89PNG\r\n"))
            print("\n  b dead on the page %.1f s after SIGSTOP; "
                  "screenshot %s" % (took, shot_path()))
        finally:
            for pid in pids:
                os.kill(pid, signal.SIGCONT)
