#!/bin/sh
# make compose-check: the Dockerfile and docker-compose.yml, proved for
# real. Starts dockerd when it is not running (log: build/dockerd.log),
# makes a Debian 12 base image with debootstrap when none is here (from
# the mirror this machine's apt uses: no image registry is needed), builds
# the shoal image on it, brings the compose project up (one front, six
# stores), uploads a file through the front (striped: a part on each of
# the six stores) and reads it back through the front and at a store,
# scales the stores to seven (the next upload puts a part on the new
# one), and takes everything down again, volumes too, whatever failed. Skips, with the reason, only
# where dockerd cannot run. The packages (docker.io, docker-compose,
# debootstrap) are the Makefile's business.
#
#   SHOAL_BASE  a Debian 12 image to build on, instead of looking for one
set -eu
cd "$(dirname "$0")/../.."

project=shoalcheck$$
base_tag=shoal-base:bookworm
work=build/compose
started=$(date +%s)
dockerd_pid=""
up=""				# set once the project may have containers

say() { echo "compose-check: $*" >&2; }
fail() { say "FAIL: $*"; exit 1; }
compose() { docker-compose -p "$project" "$@"; }

# Runs "$@" until it succeeds or `seconds` pass.
wait_for() {
	seconds=$1; shift
	deadline=$(($(date +%s) + seconds))
	until "$@"; do
		[ "$(date +%s)" -lt "$deadline" ] || return 1
		sleep 1
	done
}

# --- dockerd -------------------------------------------------------------

start_dockerd() {
	docker info >/dev/null 2>&1 && return 0
	mkdir -p build
	say "starting dockerd (log: build/dockerd.log)"
	dockerd > build/dockerd.log 2>&1 &
	dockerd_pid=$!
	if ! wait_for 60 docker_up || ! kill -0 "$dockerd_pid" 2>/dev/null; then
		why=$(grep -E 'level=(fatal|error)' build/dockerd.log | tail -1)
		stop_dockerd
		trap - EXIT
		echo "compose-check: SKIP: dockerd cannot run here: ${why:-no answer in 60 s}"
		exit 0
	fi
}

# Up, or gone: a dockerd that exited is not waited for.
docker_up() {
	kill -0 "$dockerd_pid" 2>/dev/null || return 0
	docker info >/dev/null 2>&1
}

# Only the dockerd this script started: one that was running stays.
stop_dockerd() {
	[ -n "$dockerd_pid" ] || return 0
	kill -TERM "$dockerd_pid" 2>/dev/null || return 0
	wait_for 30 sh -c "! kill -0 $dockerd_pid 2>/dev/null" ||
	    kill -KILL "$dockerd_pid" 2>/dev/null || true
	dockerd_pid=""
}

# --- the base image --------------------------------------------------------

# The first Debian archive that this machine's apt takes bookworm from,
# in one-line (sources.list) or deb822 (*.sources) form.
debian_mirror() {
	cat /etc/apt/sources.list /etc/apt/sources.list.d/*.list 2>/dev/null |
	    awk '$1 == "deb" { sub(/\[[^]]*\] */, "");
	        if ($3 == "bookworm") { print $2; exit } }' | head -1 |
	    grep . && return 0
	cat /etc/apt/sources.list.d/*.sources 2>/dev/null | awk '
	    /^[ \t]*$/ { if (deb && suite) { print uri; exit } deb = suite = 0 }
	    $1 == "Types:" && / deb( |$)/ { deb = 1 }
	    $1 == "URIs:" { uri = $2 }
	    $1 == "Suites:" && / bookworm( |$)/ { suite = 1 }
	    END { if (deb && suite) print uri }' | head -1 | grep .
}

# A Debian 12 image present here: SHOAL_BASE, ours, or Docker's own.
find_base() {
	for image in ${SHOAL_BASE:-} $base_tag debian:bookworm-slim \
	    debian:bookworm debian:12; do
		if docker image inspect "$image" >/dev/null 2>&1; then
			echo "$image"
			return 0
		fi
	done
	return 1
}

make_base() {
	mirror=$(debian_mirror) || fail "no bookworm archive in /etc/apt/sources.list*"
	say "no Debian 12 image here: debootstrap from $mirror"
	rm -rf "$work/rootfs"
	mkdir -p "$work"
	debootstrap --variant=minbase bookworm "$work/rootfs" "$mirror" \
	    > "$work/debootstrap.log" 2>&1 ||
	    { tail -5 "$work/debootstrap.log" >&2; fail "debootstrap failed"; }
	rm -rf "$work"/rootfs/var/cache/apt/archives/*.deb \
	    "$work"/rootfs/var/lib/apt/lists/*
	tar -C "$work/rootfs" --numeric-owner -c . |
	    docker import --change 'CMD ["bash"]' - "$base_tag" >/dev/null ||
	    fail "docker import of the debootstrap tree failed"
	rm -rf "$work/rootfs"
	echo "$base_tag"
}

# --- the cluster ---------------------------------------------------------

# How many members the front sees alive, itself included.
alive() {
	curl -fsS "http://$front/_/cluster" 2>/dev/null | python3 -c '
import json, sys
c = json.load(sys.stdin)
print(sum(m["state"] == "alive" for m in [c["node"]] + c["members"]))' \
	    2>/dev/null || echo 0
}

has_alive() { [ "$(alive)" -eq "$1" ]; }

wait_alive() {
	wait_for 90 has_alive "$1" ||
	    fail "the front sees $(alive) members alive, not $1"
	say "the front sees $1 members alive"
}

# The body of GET /$name at store number $1, through docker exec: a read
# from inside the cluster network.
store_get() {
	compose exec -T --index="$1" store \
	    curl -fsS "http://127.0.0.1:8080/$name"
}

# A series of the front's /_/metrics (its value, or nothing).
front_metric() {
	curl -fsS "http://$front/_/metrics" |
	    awk -v k="$1" '$1 == k { print $2 + 0 }'
}

# The numbers, among stores 1 to $1, of the stores that hold part bytes.
stores_with_parts() {
	i=1 with=""
	while [ "$i" -le "$1" ]; do
		n=$(compose exec -T --index="$i" store \
		    curl -fsS http://127.0.0.1:8080/_/metrics |
		    awk '$1 == "shoal_stripe_part_bytes{state=\"disk\"}" \
		    { print $2 + 0 }')
		[ "${n:-0}" -gt 0 ] && with="$with${with:+ }$i"
		i=$((i + 1))
	done
	echo "$with"
}

# Whether "$@" writes the bytes uploaded, exactly.
gives_back() {
	"$@" > "$work/back" && cmp -s "$work/upload" "$work/back"
}

cleanup() {
	rc=$?
	trap - EXIT INT TERM
	if [ -n "$up" ]; then
		if [ $rc -ne 0 ]; then
			compose ps >&2 || true
			compose logs --tail=20 >&2 || true
		fi
		# down -v keeps the volume of a container that compose
		# recreated (it moves to the new one): each goes by name.
		vols=$(compose ps -q | xargs -r docker inspect \
		    -f '{{range .Mounts}}{{.Name}} {{end}}' 2>/dev/null) || true
		compose down -v --remove-orphans >/dev/null 2>&1 ||
		    say "down failed: see docker ps -a"
		for v in $vols; do
			docker volume rm "$v" >/dev/null 2>&1 || true
		done
	fi
	rm -f "$work/upload" "$work/back"
	stop_dockerd
	say "$([ $rc -eq 0 ] && echo passed || echo failed) in $(($(date +%s) - started)) s"
	exit $rc
}

# --- the run ---------------------------------------------------------------

trap cleanup EXIT
trap 'exit 130' INT TERM
start_dockerd
mkdir -p "$work"

base=$(find_base) || base=$(make_base)
say "base image $base ($(($(date +%s) - started)) s)"
export SHOAL_BASE="$base" SHOAL_PORT=127.0.0.1:0
compose build -q || fail "the image does not build"
say "image built ($(($(date +%s) - started)) s)"

up=1
compose up -d || fail "compose up failed"
front=$(compose port front 8080) || fail "the front publishes no port"
wait_alive 7

# A file above the compose file's stripe.min_size (1MiB) is cut into parts
# on six stores; its size is no multiple of a block nor of six.
head -c $((9 * 1048576 + 12345)) /dev/urandom > "$work/upload"
loc=$(curl -fsS -o /dev/null -w '%header{location}' \
    --data-binary @"$work/upload" "http://$front/") ||
    fail "the upload through the front failed"
name=${loc#/}
say "uploaded $name through the front"
gives_back curl -fsS "http://$front/$name" ||
    fail "the front does not give back the bytes sent"
gives_back store_get 3 || fail "store 3 does not give back the bytes sent"
say "read back through the front and at store 3: same bytes"
[ "$(front_metric 'shoal_stripe_uploads_total{result="ok"}')" = 1 ] ||
    fail "the front striped no upload"
[ "$(stores_with_parts 6)" = "1 2 3 4 5 6" ] ||
    fail "stores holding parts: $(stores_with_parts 6), not all six"
[ "$(front_metric 'shoal_stripe_part_bytes{state="disk"}')" = 0 ] ||
    fail "the front (store: false) holds part bytes"
say "striped: a part on each of the six stores, none on the front"

compose up -d --scale store=7 || fail "scaling to 7 stores failed"
wait_alive 8
gives_back store_get 7 ||
    fail "the new store does not give back the bytes sent"
say "read back at the new store 7: same bytes"
# The new store is the emptiest: the next upload puts a part on it.
head -c $((2 * 1048576 + 7)) /dev/urandom > "$work/upload"
loc=$(curl -fsS -o /dev/null -w '%header{location}' \
    --data-binary @"$work/upload" "http://$front/") ||
    fail "the second upload through the front failed"
name=${loc#/}
gives_back store_get 7 || fail "store 7 does not give back the second file"
case " $(stores_with_parts 7) " in
*" 7 "*) say "the next upload put a part on the new store 7" ;;
*) fail "the new store 7 took no part of the next upload" ;;
esac
