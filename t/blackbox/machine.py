"""What the black-box tests (shoal.py) and the bench (t/bench/bench.py)
both ask of the machine: loopback ports for the servers they start, the
names of processes, and the two hashes of shoald's own (its content
digest, its rendezvous ranking) computed with the libxxhash shoald links
with (Debian's python has no xxhash module). Standard library only."""

import ctypes
import ctypes.util
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


class _XXH128(ctypes.Structure):
    _fields_ = [("low64", ctypes.c_uint64), ("high64", ctypes.c_uint64)]


_xxh = None


def _lib():
    global _xxh
    if _xxh is None:
        _xxh = ctypes.CDLL(ctypes.util.find_library("xxhash") or
                           "libxxhash.so.0")
        _xxh.XXH3_64bits.restype = ctypes.c_uint64
        _xxh.XXH3_64bits.argtypes = [ctypes.c_char_p, ctypes.c_size_t]
        _xxh.XXH3_64bits_withSeed.restype = ctypes.c_uint64
        _xxh.XXH3_64bits_withSeed.argtypes = [ctypes.c_char_p,
                                              ctypes.c_size_t,
                                              ctypes.c_uint64]
        _xxh.XXH3_128bits.restype = _XXH128
        _xxh.XXH3_128bits.argtypes = [ctypes.c_char_p, ctypes.c_size_t]
    return _xxh


def content_digest(data):
    """shoald's content digest of `data` (core/digest.h): its XXH3-128 in
    32 lowercase hex digits, high half first."""
    h = _lib().XXH3_128bits(bytes(data), len(data))
    return "%016x%016x" % (h.high64, h.low64)


def ranking(name, nodes):
    """nodes (names) heaviest first for `name`, as cluster/place.c ranks
    them: XXH3-64 of the name seeded with XXH3-64 of the node's name, ties
    by the node's name."""
    lib, n = _lib(), name.encode()

    def weight(node):
        b = node.encode()
        return lib.XXH3_64bits_withSeed(n, len(n), lib.XXH3_64bits(b, len(b)))
    return sorted(nodes, key=lambda node: (-weight(node), node.encode()))
