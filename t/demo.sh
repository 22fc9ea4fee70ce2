#!/bin/sh
# The demo cluster of `make run`: nodes a, b and c on 127.0.0.1:8081-8083,
# each serving its own directory under var/, in the foreground. They find
# each other by gossip (the cluster "demo"; b and c name a as their seed,
# conf/demo/*.yaml). Ctrl-C (or SIGTERM) stops all three cleanly.
set -eu
cd "$(dirname "$0")/.."
bin=build/shoald

seed() {
	dir=$1; shift
	mkdir -p "$dir"
	while [ $# -gt 1 ]; do
		[ -e "$dir/$1" ] || printf '%s\n' "$2" > "$dir/$1"
		shift 2
	done
}
seed var/a hello.txt "Hello from node a." a.txt "This file lives on a."
seed var/b b.txt "This file lives on b."
seed var/c c.txt "This file lives on c."
[ -e var/c/only-on-c.bin ] || head -c 65536 /dev/urandom > var/c/only-on-c.bin

for n in a b c; do
	$bin -t -c conf/demo/$n.yaml >/dev/null
done

pids=""
stop() {
	trap - INT TERM
	echo "demo: stopping" >&2
	# shellcheck disable=SC2086
	kill -TERM $pids 2>/dev/null || true
	wait
	exit 0
}
trap stop INT TERM

for n in a b c; do
	$bin -f -c conf/demo/$n.yaml &
	pids="$pids $!"
done
echo "demo: nodes a, b, c on http://127.0.0.1:8081 8082 8083, cluster \"demo\" (Ctrl-C stops)" >&2
wait
