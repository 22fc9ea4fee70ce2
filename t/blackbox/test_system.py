"""Running as a system service: privilege drop, the systemd notification
protocol, and make install / uninstall."""

import os
import pwd
import re
import shutil
import signal
import socket
import subprocess
import tempfile
import unittest

from shoal import NodeTest, SLOW, proc_uid, wait_for

TOP = os.path.abspath(os.path.join(os.path.dirname(__file__), "..", ".."))


class PrivilegeTest(NodeTest):
    @unittest.skipUnless(os.geteuid() == 0, "needs root to drop privileges")
    def test_workers_drop_to_user_after_binding(self):
        nobody = pwd.getpwnam("nobody")
        n = self.node(start=False, workers=2, user="nobody")
        # The unprivileged workers must be able to reach ROOT.
        for d in (self.tmp, n.dir, n.root):
            os.chmod(d, 0o755)
        n.put_file("f", "served by nobody\n")
        os.chmod(os.path.join(n.root, "f"), 0o644)
        n.start()
        self.assertEqual(proc_uid(n.master_pid()), 0)
        workers = n.worker_pids()
        self.assertEqual(len(workers), 2)
        for w in workers:
            self.assertEqual(proc_uid(w), nobody.pw_uid)
        self.assertEqual(n.curl("/f").body, b"served by nobody\n")
        # The directories the node writes in belong to the user.
        st = os.stat(os.path.join(n.root, ".shoal-tmp"))
        self.assertEqual(st.st_uid, nobody.pw_uid)

    @unittest.skipUnless(os.geteuid() == 0, "needs root")
    def test_unknown_user_is_a_start_error(self):
        n = self.node(start=False, user="no-such-user-xyz")
        self.assert_start_fails(n, "no-such-user-xyz")


class NotifyTest(NodeTest):
    def recv(self, sock):
        try:
            return sock.recv(4096).decode()
        except socket.timeout:
            self.fail("no notification")

    def test_ready_reloading_stopping(self):
        path = os.path.join(self.tmp, "notify.sock")
        sock = socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM)
        sock.bind(path)
        sock.settimeout(15 * SLOW)
        self.sockets.append(sock)
        n = self.node(start=False)
        env = dict(os.environ, NOTIFY_SOCKET=path)
        n.start(env=env)
        msg = self.recv(sock)
        self.assertIn("READY=1", msg.split("\n"))
        n.signal_master(signal.SIGHUP)
        msg = self.recv(sock)
        lines = msg.split("\n")
        self.assertIn("RELOADING=1", lines)
        self.assertTrue(any(l.startswith("MONOTONIC_USEC=") and
                            l[15:].isdigit() for l in lines), msg)
        self.assertIn("READY=1", self.recv(sock).split("\n"))
        self.assertEqual(n.stop(), 0)
        self.assertIn("STOPPING=1", self.recv(sock).split("\n"))

    def test_abstract_socket(self):
        name = "shoal-test-%d" % os.getpid()
        sock = socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM)
        sock.bind("\0" + name)
        sock.settimeout(15 * SLOW)
        self.sockets.append(sock)
        n = self.node(start=False)
        n.start(env=dict(os.environ, NOTIFY_SOCKET="@" + name))
        self.assertIn("READY=1", self.recv(sock))


class InstallTest(unittest.TestCase):
    def test_install_and_uninstall_honour_prefix_and_destdir(self):
        with tempfile.TemporaryDirectory() as dest:
            def make(target):
                p = subprocess.run(["make", "-s", "-C", TOP, target,
                                    "PREFIX=/opt/shoal", "DESTDIR=" + dest],
                                   capture_output=True, text=True)
                self.assertEqual(p.returncode, 0, p.stdout + p.stderr)
            make("install")
            want = ["opt/shoal/sbin/shoald",
                    "opt/shoal/share/man/man8/shoald.8",
                    "opt/shoal/share/man/man5/shoal.yaml.5",
                    "opt/shoal/share/man/man7/shoal-cluster.7",
                    "opt/shoal/lib/systemd/system/shoald.service",
                    "opt/shoal/lib/sysusers.d/shoal.conf",
                    "etc/shoal/shoal.yaml",
                    "etc/shoal/shoal.yaml.example"]
            for f in want:
                self.assertTrue(os.path.exists(os.path.join(dest, f)), f)
            unit = open(os.path.join(
                dest, "opt/shoal/lib/systemd/system/shoald.service")).read()
            self.assertIn("ExecStart=/opt/shoal/sbin/shoald -f", unit)
            self.assertNotIn("@SBINDIR@", unit)
            self.assertTrue(os.access(os.path.join(
                dest, "opt/shoal/sbin/shoald"), os.X_OK))
            # The installed example configuration is valid.
            p = subprocess.run([os.path.join(dest, "opt/shoal/sbin/shoald"),
                                "-t", "-c", os.path.join(
                                    dest, "etc/shoal/shoal.yaml")],
                               capture_output=True, text=True)
            self.assertEqual(p.returncode, 0, p.stderr)
            make("uninstall")
            for f in want[:-2] + want[-1:]:
                self.assertFalse(os.path.exists(os.path.join(dest, f)), f)
            # The operator's configuration stays.
            self.assertTrue(os.path.exists(
                os.path.join(dest, "etc/shoal/shoal.yaml")))


class UnitSandboxTest(unittest.TestCase):
    def test_unit_sandboxing_exposure_is_low(self):
        # systemd's own rating of the shipped unit: 0 (locked down) to 10.
        if shutil.which("systemd-analyze") is None:
            self.skipTest("systemd-analyze is not installed")
        with tempfile.TemporaryDirectory() as d:
            unit = os.path.join(d, "shoald.service")
            with open(os.path.join(TOP, "systemd", "shoald.service")) as f:
                text = f.read().replace("@SBINDIR@", "/usr/sbin")
            with open(unit, "w") as f:
                f.write(text)
            p = subprocess.run(["systemd-analyze", "security",
                                "--offline=true", unit],
                               capture_output=True, text=True, timeout=60)
        m = re.search(r"Overall exposure level for shoald.service: "
                      r"([0-9.]+)", p.stdout)
        if m is None and "offline" in p.stderr:
            self.skipTest("this systemd-analyze cannot rate a unit offline")
        self.assertIsNotNone(m, p.stdout[-500:] + p.stderr[-500:])
        self.assertLessEqual(float(m.group(1)), 2.0, p.stdout)
