#!/bin/sh
# The shoal image's entry point (Dockerfile). Without arguments it writes
# the node's configuration from the environment to /run/shoal/shoal.yaml
# and runs `shoald -f` on it, in the foreground, as the image's user. With
# arguments it runs them instead: `shoald -f -c /etc/shoal/shoal.yaml`
# runs a configuration mounted by the operator.
#
#   SHOAL_CLUSTER_KEY       the cluster's secret, 32..1024 bytes; or
#   SHOAL_CLUSTER_KEY_FILE  a file holding it (a compose or swarm secret)
#   SHOAL_CLUSTER           the cluster's name (default shoal)
#   SHOAL_SEEDS             members to join through, "host:port,..."
#   SHOAL_STORE             true or false: cluster.store (default true)
#   SHOAL_NODE              the node's name (default: the container's
#                           host name and the port, which docker makes
#                           unique)
#   SHOAL_ADVERTISE         how the others reach it (default: the
#                           container's address, port 8080)
#   SHOAL_STRIPE_MIN_SIZE   stripe.min_size: uploads at least this long
#                           are cut into parts on six stores (default
#                           shoald's, 64MiB)
set -eu

if [ $# -gt 0 ]; then
	exec "$@"
fi

run=/run/shoal
key=$run/cluster.key
conf=$run/shoal.yaml

umask 077
if [ -n "${SHOAL_CLUSTER_KEY_FILE:-}" ]; then
	# A mounted secret is often readable by all, which shoald refuses:
	# the node reads its own copy.
	cat "$SHOAL_CLUSTER_KEY_FILE" > "$key"
elif [ -n "${SHOAL_CLUSTER_KEY:-}" ]; then
	printf '%s' "$SHOAL_CLUSTER_KEY" > "$key"
else
	echo "shoal: set SHOAL_CLUSTER_KEY or SHOAL_CLUSTER_KEY_FILE" >&2
	exit 1
fi

advertise=${SHOAL_ADVERTISE:-$(hostname -i | cut -d' ' -f1):8080}
seeds=""
for s in $(echo "${SHOAL_SEEDS:-}" | tr ',' ' '); do
	seeds="$seeds${seeds:+, }\"$s\""
done

{
	[ -z "${SHOAL_NODE:-}" ] || echo "node: \"$SHOAL_NODE\""
	cat <<END
listen: "*:8080"
root: /var/lib/shoal/files
cluster:
  name: "${SHOAL_CLUSTER:-shoal}"
  key_file: $key
  seeds: [$seeds]
  advertise: "$advertise"
  store: ${SHOAL_STORE:-true}
END
	if [ -n "${SHOAL_STRIPE_MIN_SIZE:-}" ]; then
		printf 'stripe:\n  min_size: %s\n' "$SHOAL_STRIPE_MIN_SIZE"
	fi
} > "$conf"

exec shoald -f -c "$conf"
