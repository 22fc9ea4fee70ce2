#!/bin/sh
# t/bench/run.sh - the benchmark suite of shoal (make bench; not part of
# make check). Compares shoald with nginx on loopback; see t/bench/README.md.
#
# It builds nothing: `make bench` has built build/shoald already (or point
# SHOALD at another binary). It installs the Debian packages it needs when
# they are missing (as root), then hands over to t/bench/bench.py, which
# starts every server in a temporary directory, loads them with wrk for a
# bounded time, prints a table, and stops everything it started.
#
# Environment (all optional):
#   BENCH_ROUNDS=5       rounds per case (shoald and nginx alternate)
#   BENCH_SECONDS=5      length of each wrk run
#   BENCH_WARMUP=1       seconds of warm-up load before the rounds
#   BENCH_CASES=...      comma-separated subset of local-4k,local-64m,
#                        relay-4k,fanout,fanout-blackhole,fanout-scale,
#                        upload-1g,relay-64m-rss,gossip,catalogue-scale,
#                        spread,waiters,stripe,growth (all but growth by
#                        default)
#   BENCH_STRIPE_SIZE=1g       the file of stripe
#   BENCH_STRIPE_UPLOADS=100   its uploads of random sizes
#   BENCH_STRIPE_CAPACITY=4g   what each of its stores offers
#   BENCH_CPU_SERVER=0   CPU of the server under test (taskset)
#   BENCH_CPU_CLIENT=1   CPU of wrk
#   BENCH_CPU_PEER=1     CPU of the peer nodes in relay-4k and fanout
#   BENCH_NOPIN=1        do not pin anything
#   BENCH_PIN=both       the whole run twice: pinned, then unpinned (two
#                        tables, two result files)
#   BENCH_IO_THREADS=4   io_threads of the shoald under test
#   SHOALD=build/shoald  the binary to measure
#   BENCH_BLACKHOLE=accept,listen    black-hole kinds of fanout-blackhole
#   BENCH_UPLOAD_ROUNDS=3            rounds of upload-1g
#   BENCH_UPLOAD_SIZE=1g             its file
#   BENCH_UPLOAD_CLIENT=sendfile     or curl (curl -T)
#   BENCH_NGINX_BODY_BUFFER=256k     nginx's client_body_buffer_size there
#   BENCH_RELAY_ROUNDS=1             rounds of relay-64m-rss
#   BENCH_RELAY_SIZE=4g              its (sparse) file
#   BENCH_RELAY_RATE=20m             its client's pace, bytes per second
#   BENCH_RELAY_RCVBUF=64k           its client's SO_RCVBUF
#   BENCH_RELAY_NGINX=1              0: no nginx reference in relay-64m-rss
#   BENCH_FANOUT_PEERS=1,4,16,64     peer counts of fanout-scale
#   BENCH_WAITERS=5,50               concurrent clients of waiters
#   BENCH_WAITERS_SIZE=1g            its (sparse) file
#   BENCH_GOSSIP_NODES=64            nodes of the gossip case
#   BENCH_GOSSIP_REST=10             seconds it measures the cluster at rest
#   BENCH_GROWTH_FILES=1000000       files in the large ROOT of growth
#   BENCH_GROWTH_FILL=empty          or link (hard links to a few files)
set -eu

cd "$(dirname "$0")/../.."

# Debian packages needed besides what `make deps` installs already.
PKGS="nginx-light wrk python3 util-linux procps curl"

missing=""
for p in $PKGS; do
	dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q 'ok installed' ||
		missing="$missing $p"
done
if [ -n "$missing" ]; then
	if [ "$(id -u)" != 0 ]; then
		echo "t/bench: missing Debian packages; run as root:"
		echo "  apt-get install -y --no-install-recommends$missing"
		exit 1
	fi
	echo "t/bench: installing:$missing"
	# The nginx package would start a system nginx on port 80; a
	# policy-rc.d that says "no" keeps the install from starting any
	# service. Only ours is removed afterwards.
	ours=""
	if [ ! -e /usr/sbin/policy-rc.d ]; then
		printf '#!/bin/sh\nexit 101\n' >/usr/sbin/policy-rc.d
		chmod 755 /usr/sbin/policy-rc.d
		ours=1
	fi
	rc=0
	# $missing is a list of names: split on purpose.
	# shellcheck disable=SC2086
	apt-get update -q && DEBIAN_FRONTEND=noninteractive \
		apt-get install -y -q --no-install-recommends $missing || rc=$?
	[ -n "$ours" ] && rm -f /usr/sbin/policy-rc.d
	[ "$rc" = 0 ] || { echo "t/bench: apt-get failed ($rc)"; exit 1; }
fi

# Every shoald of the cluster cases (64 members, 2 processes each) takes
# an inotify instance per process for its open-file cache; Debian's
# default of 128 per user would turn the cache off on half of them, as an
# operator running that many nodes on one host would not leave it.
inotify=/proc/sys/fs/inotify/max_user_instances
if [ -w "$inotify" ] && [ "$(cat "$inotify")" -lt 1024 ]; then
	echo "t/bench: fs.inotify.max_user_instances $(cat "$inotify") -> 1024"
	echo 1024 >"$inotify"
fi

SHOALD="${SHOALD:-build/shoald}"
if [ ! -x "$SHOALD" ]; then
	echo "t/bench: $SHOALD is missing; run 'make bench' (it builds it)"
	exit 1
fi

if [ "${BENCH_PIN:-}" = both ]; then
	BENCH_NOPIN=0 python3 t/bench/bench.py --shoald "$SHOALD" "$@" || exit
	echo
	echo "t/bench: the same again, unpinned"
	echo
	BENCH_NOPIN=1 exec python3 t/bench/bench.py --shoald "$SHOALD" "$@"
fi
exec python3 t/bench/bench.py --shoald "$SHOALD" "$@"
