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
# "TIMESTAMP.BODY" (header X-Xenops-Signature: sha256=HEX), and always exits 0 (or the status given as
# the second argument), so it never changes what DRBD does. It gives up after a few seconds: DRBD waits
# for some handlers (before-resync-target) and must not wait on the network.
#
# Configuration: /etc/xenops/hook.conf (POSIX sh variable assignments), or the same variables in the
# environment:
#   XENOPS_URL=https://xenops.example.org:8089/xenops/event
#   XENOPS_CLUSTER=lab
#   XENOPS_NODE=ics1                         (default: uname -n)
#   XENOPS_SECRET_FILE=/etc/xenops/webhook.secret   (mode 0600, owned by root)
# Needs: POSIX sh, openssl, curl.

handler=${1:-unknown}
passthrough=${2:-0}

conf=${XENOPS_HOOK_CONF:-/etc/xenops/hook.conf}
# shellcheck disable=SC1090
[ -r "$conf" ] && . "$conf"

# Only plain words reach the JSON: names are letters, digits, '.', '_' and '-' (xenops checks again).
word() { printf '%s' "$1" | tr -cd 'A-Za-z0-9._-' | cut -c1-63; }
text() { printf '%s' "$1" | tr -cd 'A-Za-z0-9._:/@ ,=+-' | cut -c1-200; }

log() { command -v logger >/dev/null 2>&1 && logger -t xenops-hook -- "$*"; }

if [ -z "${XENOPS_URL:-}" ] || [ -z "${XENOPS_CLUSTER:-}" ] || [ ! -r "${XENOPS_SECRET_FILE:-/etc/xenops/webhook.secret}" ]; then
  log "not configured (XENOPS_URL, XENOPS_CLUSTER, secret file); $handler not reported"
  exit "$passthrough"
fi

secret=$(head -n 1 "${XENOPS_SECRET_FILE:-/etc/xenops/webhook.secret}")
node=$(word "${XENOPS_NODE:-$(uname -n)}")
cluster=$(word "$XENOPS_CLUSTER")
event=$(printf '%s' "$handler" | tr -cd 'a-z0-9-' | cut -c1-40)
resource=$(word "${DRBD_RESOURCE:-}")
peer=$(word "${DRBD_PEER:-${DRBD_PEERS:-}}")
# DRBD 9 lists several peers, space separated: keep the first as "peer", all of them in details.
peer=${peer%% *}

body="{\"cluster\":\"$cluster\",\"node\":\"$node\",\"source\":\"drbd\",\"event\":\"$event\""
[ -n "$resource" ] && body="$body,\"resource\":\"$resource\""
[ -n "$peer" ] && body="$body,\"peer\":\"$peer\""
details="\"handler_status\":\"$(text "$passthrough")\""
for var in DRBD_MINOR DRBD_VOLUME DRBD_PEERS DRBD_PEER_ADDRESS DRBD_PEER_AF DRBD_MY_ADDRESS DRBD_MY_AF DRBD_PEER_NODE_ID DRBD_CSTATE; do
  eval "value=\${$var:-}"
  # shellcheck disable=SC2154
  [ -n "$value" ] && details="$details,\"$var\":\"$(text "$value")\""
done
body="$body,\"details\":{$details}}"

ts=$(date +%s)
sig=$(printf '%s.%s' "$ts" "$body" | openssl dgst -sha256 -hmac "$secret" | sed 's/^.*= *//')

if curl -fsS --connect-timeout 2 --max-time 4 \
  -H 'Content-Type: application/json' \
  -H "X-Xenops-Timestamp: $ts" \
  -H "X-Xenops-Signature: sha256=$sig" \
  --data-binary "$body" "$XENOPS_URL" >/dev/null 2>&1; then
  log "reported $event${resource:+ of $resource}"
else
  log "could not report $event${resource:+ of $resource} to $XENOPS_URL"
fi
exit "$passthrough"
