#!/bin/sh
# t/layers.sh - fails when a file of src/ or include/ reaches into a layer
# above its own, or includes a project header without naming its folder.
# The layers, lowest first (DESIGN.md, "Layers"); a file may include its
# own layer and those below it:
#   core event http store peer serve cluster stripe proc
# One more rule: the connection (serve/conn*.c) names no module that owns a
# connection (the router, relays, uploads, striped transfers); it calls
# the handlers they install.
set -eu
cd "$(dirname "$0")/.."

rank() {
	case "$1" in
	core) echo 0 ;; event) echo 1 ;; http) echo 2 ;; store) echo 3 ;;
	peer) echo 4 ;; serve) echo 5 ;; cluster) echo 6 ;; stripe) echo 7 ;;
	proc) echo 8 ;; *) echo 99 ;;
	esac
}

# Prints one line per include that breaks the rule.
violations() {
	for f in src/*/*.c src/*/*.h include/*/*.h; do
		[ -e "$f" ] || continue
		layer=$(echo "$f" | cut -d/ -f2)
		mine=$(rank "$layer")
		if [ "$mine" = 99 ]; then
			echo "$f: folder '$layer' is not a layer"
			continue
		fi
		grep -n '^#include "' "$f" | while IFS=: read -r n line; do
			inc=$(echo "$line" | sed 's/#include "\([^"]*\)".*/\1/')
			case "$inc" in
			*/*) ;;
			*) echo "$f:$n: #include \"$inc\" names no folder"
			   continue ;;
			esac
			if [ "$(rank "${inc%%/*}")" -gt "$mine" ]; then
				echo "$f:$n: $layer includes $inc, a layer above"
			fi
		done
	done
	# The connection knows its owners only through their handlers.
	for f in src/serve/conn.c src/serve/conn_*.c; do
		grep -n '^#include "serve/' "$f" | grep -v -e 'serve/conn\.h' \
		    -e 'serve/conn_int\.h' -e 'serve/server\.h' \
		    -e 'serve/accesslog\.h' |
		    sed "s|^|$f:|; s|\$| (a module that owns connections)|"
	done
}

out=$(violations)
if [ -n "$out" ]; then
	echo "$out"
	exit 1
fi
echo "layers: every include stays in its layer or below"
