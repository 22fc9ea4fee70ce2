"""The agent: the one child of the master beside the workers that does the
node's periodic work (today the sweeper). One per node, named
shoald-agent, replaced when it dies and on SIGHUP, stopped with the node;
saved copies expire through it."""

import os
import pwd
import re
import signal
import unittest

import fakepeer
from shoal import AGENT_COMM, comm, pid_alive, proc_uid, wait_for


def ppid(pid):
    with open("/proc/%d/stat" % pid) as f:
        return int(f.read().rsplit(")", 1)[1].split()[1])


def agents(node):
    """The master's children named as the agent, zombies left out."""
    return [p for p in node.child_pids()
            if comm(p) == AGENT_COMM and pid_alive(p)]


def sockets(pid):
    out = []
    for fd in os.listdir("/proc/%d/fd" % pid):
        try:
            link = os.readlink("/proc/%d/fd/%s" % (pid, fd))
        except OSError:
            continue
        if link.startswith("socket:"):
            out.append(link)
    return out


def metric(node, name):
    for line in node.curl("/_/metrics").body.decode().splitlines():
        if line.startswith(name + " "):
            return float(line.split()[-1])
    return None


def logged_by(node, message):
    """The pids of the processes that logged a line ending in `message`
    (their ident is the word before the level)."""
    return [int(m.group(1)) for m in re.finditer(
        r"shoald\[(\d+)\] \S+ (\w+)(?: \d+)? \w+: %s$" % re.escape(message),
        node.log(), re.M)]


def new_agent(node, old):
    """Waits for an agent other than `old`; returns its pid."""
    return wait_for(lambda: (lambda a: a if a not in (None, old) else None)(
        node.agent_pid()), timeout=15, what="a new agent")


class AgentTest(fakepeer.FakePeerTest):
    def test_one_agent_beside_the_workers(self):
        n = self.node(workers=2)
        self.assertEqual(len(agents(n)), 1, n.child_pids())
        a = n.agent_pid()
        self.assertEqual(agents(n), [a])
        self.assertEqual(comm(a), "shoald-agent")
        self.assertEqual(ppid(a), n.master_pid())
        self.assertEqual(len(n.worker_pids()), 2)
        self.assertNotIn(a, n.worker_pids())
        self.assertEqual(sorted(n.worker_pids() + [a]), n.child_pids())
        # The gauge counts the workers, not the agent.
        self.assertEqual(metric(n, "shoal_workers"), 2)
        # It serves nothing: the workers hold the listen socket, not it.
        self.assertEqual(sockets(a), [])
        self.assertNotEqual(sockets(n.worker_pids()[0]), [])

    def test_killed_agent_is_replaced_and_the_node_serves(self):
        n = self.node(workers=2)
        n.put_file("f", "data\n")
        workers = n.worker_pids()
        old = n.agent_pid()
        os.kill(old, signal.SIGKILL)
        new = new_agent(n, old)
        self.assertNotEqual(new, old)
        self.assertEqual(ppid(new), n.master_pid())
        wait_for(lambda: agents(n) == [new], what="one agent")
        for _ in range(20):
            self.assertEqual(n.curl("/f").body, b"data\n")
        # The workers were not touched.
        self.assertEqual(n.worker_pids(), workers)
        log = n.log()
        self.assertIn("agent (pid %d) killed by signal 9" % old, log)
        self.assertIn("starting a new agent in", log)
        self.assertEqual(metric(n, "shoal_workers"), 2)
        self.assertEqual(metric(n, "shoal_worker_restarts_total"), 0)

    def test_sighup_replaces_the_agent_with_the_workers(self):
        n = self.node(workers=2)
        n.put_file("f", "x")
        old_agent = n.agent_pid()
        old_workers = n.worker_pids()
        n.signal_master(signal.SIGHUP)
        new = new_agent(n, old_agent)
        wait_for(lambda: not pid_alive(old_agent), timeout=15,
                 what="the old agent gone")
        for w in old_workers:
            wait_for(lambda: not pid_alive(w), timeout=15,
                     what="old worker gone")
        self.assertEqual(agents(n), [new])
        self.assertEqual(ppid(new), n.master_pid())
        wait_for(lambda: len(n.worker_pids()) == 2, what="two workers")
        self.assertFalse(set(n.worker_pids()) & set(old_workers))
        self.assertEqual(n.curl("/f").status, 200)
        # The old one was told to drain: its end is no failure.
        self.assertNotIn("agent (pid %d)" % old_agent, n.log())

    def test_sigterm_stops_the_agent_too(self):
        n = self.node(workers=2)
        children = n.child_pids()
        agent = n.agent_pid()
        self.assertIn(agent, children)
        self.assertEqual(n.stop(signal.SIGTERM), 0)
        for p in children:
            wait_for(lambda: not pid_alive(p), what="child %d gone" % p)
        self.assertFalse(pid_alive(n.master_pid()))

    def test_agent_dies_with_the_master(self):
        n = self.node()
        agent = n.agent_pid()
        os.kill(n.master_pid(), signal.SIGKILL)
        n.proc.wait()
        wait_for(lambda: not pid_alive(agent), timeout=10,
                 what="the agent gone with its master")

    def test_the_agent_sweeps(self):
        p = self.fake(fakepeer.serve_files({"f": b"v1"}))
        n = self.node(peers=[p.port], ttl="1s")
        agent = n.agent_pid()
        self.assertEqual(n.curl("/f").body, b"v1")
        wait_for(lambda: self.saved(n, "f"), what="the copy")
        wait_for(lambda: not self.saved(n, "f"), timeout=5,
                 what="the sweeper removing the copy")
        wait_for(lambda: logged_by(n, "removed 1 expired copy"),
                 what="the sweeper's line")
        self.assertEqual(logged_by(n, "removed 1 expired copy"), [agent])
        self.assertRegex(n.log(), r"shoald\[%d\] \S+ agent info: removed 1 "
                         r"expired copy" % agent)

    def test_sweeping_resumes_after_the_agent_is_killed(self):
        p = self.fake(fakepeer.serve_files({"f": b"v1"}))
        n = self.node(peers=[p.port], ttl="2s")
        self.assertEqual(n.curl("/f").body, b"v1")
        wait_for(lambda: self.saved(n, "f"), what="the copy")
        old = n.agent_pid()
        os.kill(old, signal.SIGKILL)
        new = new_agent(n, old)
        wait_for(lambda: not self.saved(n, "f"), timeout=10,
                 what="the new agent removing the copy")
        wait_for(lambda: logged_by(n, "removed 1 expired copy"),
                 what="the sweeper's line")
        self.assertEqual(logged_by(n, "removed 1 expired copy"), [new])
        self.assertEqual(metric(n, 'shoal_index_entries{kind="copy"}'), 0)
        # Fetched again, and swept again by the same agent.
        self.assertEqual(n.curl("/f").body, b"v1")
        wait_for(lambda: self.saved(n, "f"), what="the copy again")
        wait_for(lambda: not self.saved(n, "f"), timeout=10,
                 what="the copy removed again")
        self.assertEqual(p.count(), 2)

    def test_the_first_agent_tidies_the_index_before_workers_serve(self):
        n = self.node_that_lost_a_copy()
        # Already there when the node first answers: the workers started
        # after the agent's pass.
        message = "index: dropped 1 record of copies no longer in %s" % (
            n.root)
        self.assertEqual(logged_by(n, message), [n.agent_pid()], n.log())
        # A reload does not walk the index again.
        old = n.agent_pid()
        n.signal_master(signal.SIGHUP)
        new_agent(n, old)
        wait_for(lambda: n.log().count("reloaded:") == 1, timeout=15,
                 what="the reload")
        self.assertEqual(len(logged_by(n, message)), 1)

    @unittest.skipUnless(os.geteuid() == 0, "needs root to drop privileges")
    def test_agent_drops_to_user_sweeps_and_dies_with_the_master(self):
        nobody = pwd.getpwnam("nobody")
        p = self.fake(fakepeer.serve_files({"f": b"v1"}))
        n = self.node(start=False, user="nobody", peers=[p.port], ttl="1s")
        for d in (self.tmp, n.dir):
            os.chmod(d, 0o755)
        # The user saves copies into ROOT, and its agent removes them.
        os.chown(n.root, nobody.pw_uid, nobody.pw_gid)
        n.start()
        agent = n.agent_pid()
        self.assertEqual(proc_uid(agent), nobody.pw_uid)
        self.assertEqual(n.curl("/f").body, b"v1")
        wait_for(lambda: self.saved(n, "f"), what="the copy")
        wait_for(lambda: not self.saved(n, "f"), timeout=5,
                 what="the agent removing the copy")
        wait_for(lambda: logged_by(n, "removed 1 expired copy") == [agent],
                 what="the agent's line")
        # A change of user clears the death signal: the agent sets it
        # after dropping privileges.
        os.kill(n.master_pid(), signal.SIGKILL)
        n.proc.wait()
        try:
            wait_for(lambda: not pid_alive(agent), timeout=10,
                     what="the agent gone with its master")
        finally:
            try:
                os.killpg(n.proc.pid, signal.SIGKILL)
            except ProcessLookupError:
                pass
