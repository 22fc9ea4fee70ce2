"""What the black-box tests (shoal.py) and the bench (t/bench/bench.py)
both ask of the machine: loopback ports for the servers they start, and
the names of processes. Standard library only."""

import random
import socket


def free_port(taken=None, tries=200):
    """A loopback port nobody listens on right now, chosen below the
    kernel's ephemeral range: a port from that range could be taken by an
    outgoing connection before the server binds it (while a test restarts
    its node, or while the bench opens thousands). With `taken`, a set,
    never a port in it, and the one returned is added to it (servers
    started at once). Raises RuntimeError when none is found."""
    low = 32768
    try:
        with open("/proc/sys/net/ipv4/ip_local_port_range") as f:
            low = int(f.read().split()[0])
    except (OSError, ValueError):
        pass
    for _ in range(tries):
        port = random.randrange(max(1024, low - 12000), low)
        if taken is not None and port in taken:
            continue
        with socket.socket() as s:
            try:
                s.bind(("127.0.0.1", port))
            except OSError:
                continue
        if taken is not None:
            taken.add(port)
        return port
    raise RuntimeError("no free port below %d" % low)


def comm(pid):
    """The process's name (/proc/PID/comm), or None once it is gone."""
    try:
        with open("/proc/%d/comm" % pid) as f:
            return f.read().rstrip("\n")
    except OSError:
        return None
