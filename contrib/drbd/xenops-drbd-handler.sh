#!/bin/sh
# xenops-drbd-handler.sh: tells xenops that a DRBD handler ran on this node.
#
# Usage (from the handlers section of a DRBD resource, see contrib/README.md):
#   xenops-drbd-handler.sh HANDLER [EXIT-STATUS-OF-THE-REAL-HANDLER]
# HANDLER: split-brain | pri-lost-after-sb | fence-peer | before-resync-target | after-resync-target
#          (any other handler name is reported as such).
#
# DRBD runs handlers with DRBD_RESOURCE, DRBD_PEER (8.x) / DRBD_PEERS (9), DRBD_MINOR and addresses in
# the environment. This script POSTs them as JSON to the xenops webhook, signed with HMAC-SHA256 over
# "TIMESTAMP.BODY" (header X-Xenops-Signature: sha256=HEX; X-Xenops-Cluster and X-Xenops-Node name the
# node whose key signed it), one event per DRBD peer, and always exits 0 (or the status given as
# the second argument), so it never changes what DRBD does. It gives up after a few seconds: DRBD waits
# for some handlers (before-resync-target) and must not wait on the network.
#
# Configuration: /etc/xenops/hook.conf, read by xenops-hook.sh (installed beside this script), which
# names the variables. Needs: POSIX sh, od, openssl, curl. The secret is never put on a command line.

handler=${1:-unknown}
passthrough=${2:-0}

# The shared part (configuration, signing, posting): beside this script when installed, or in
# contrib/lib/ in a checkout.
here=$(dirname "$0")
for lib in "${XENOPS_HOOK_LIB:-}" "$here/xenops-hook.sh" "$here/../lib/xenops-hook.sh" /usr/local/lib/xenops/xenops-hook.sh; do
  [ -n "$lib" ] && [ -r "$lib" ] && break
  lib=
done
if [ -z "$lib" ]; then
  command -v logger >/dev/null 2>&1 && logger -t xenops-hook -- "xenops-hook.sh not found; $handler not reported"
  exit "$passthrough"
fi
# shellcheck disable=SC1090
. "$lib"

if ! xenops_configured; then
  log "not configured (XENOPS_URL, XENOPS_CLUSTER, secret file); $handler not reported"
  exit "$passthrough"
fi

node=$(word "${XENOPS_NODE:-$(uname -n)}")
cluster=$(word "$XENOPS_CLUSTER")
event=$(printf '%s' "$handler" | tr -cd 'a-z0-9-' | cut -c1-40)
resource=$(word "${DRBD_RESOURCE:-}")

details="\"handler_status\":\"$(text "$passthrough")\""
for var in DRBD_MINOR DRBD_VOLUME DRBD_PEERS DRBD_PEER_ADDRESS DRBD_PEER_AF DRBD_MY_ADDRESS DRBD_MY_AF DRBD_PEER_NODE_ID DRBD_CSTATE; do
  eval "value=\${$var:-}"
  # shellcheck disable=SC2154
  [ -n "$value" ] && details="$details,\"$var\":\"$(text "$value")\""
done

# Posts one event (about peer $1, or none when empty).
report() {
  body="{\"cluster\":\"$cluster\",\"node\":\"$node\",\"source\":\"drbd\",\"event\":\"$event\""
  [ -n "$resource" ] && body="$body,\"resource\":\"$resource\""
  [ -n "$1" ] && body="$body,\"peer\":\"$1\""
  body="$body,\"details\":{$details}}"
  if post_event "$body"; then
    log "reported $event${resource:+ of $resource}${1:+ (peer $1)}"
  else
    log "could not report $event${resource:+ of $resource}${1:+ (peer $1)} to $XENOPS_URL"
  fi
}

# DRBD 8 names one peer (DRBD_PEER); DRBD 9 may list several (DRBD_PEERS, space separated): one event
# per peer, each naming one node.
peers=$(printf '%s' "${DRBD_PEER:-${DRBD_PEERS:-}}" | tr -s ' ,\t' '   ')
sent=0
for p in $peers; do
  p=$(word "$p")
  [ -n "$p" ] || continue
  report "$p"
  sent=1
done
[ "$sent" = 1 ] || report ""
exit "$passthrough"
