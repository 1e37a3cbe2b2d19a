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
# Configuration: /etc/xenops/hook.conf (POSIX sh variable assignments), or the same variables in the
# environment:
#   XENOPS_URL=https://xenops.example.org:8089/xenops/event
#   XENOPS_CLUSTER=lab
#   XENOPS_NODE=ics1                         (default: uname -n)
#   XENOPS_SECRET_FILE=/etc/xenops/webhook.secret   (this node's own key; mode 0600, owned by root)
# Needs: POSIX sh, od, openssl, curl. The secret is never put on a command line.

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

secret_file=${XENOPS_SECRET_FILE:-/etc/xenops/webhook.secret}
node=$(word "${XENOPS_NODE:-$(uname -n)}")
cluster=$(word "$XENOPS_CLUSTER")
event=$(printf '%s' "$handler" | tr -cd 'a-z0-9-' | cut -c1-40)
resource=$(word "${DRBD_RESOURCE:-}")

# HMAC-SHA256 (hex) of stdin, keyed with the first line of the file $1. The key never reaches a
# command line (where other local users could read it in /proc): od reads it from a pipe, and the
# shell's printf builtin writes the padded key blocks (RFC 2104) in front of the data hashed by
# `openssl dgst`, which is given no key at all.
hmac_sha256() {
  key=$(head -n 1 "$1")
  len=$(printf "%s" "$key" | wc -c)
  if [ $((len)) -gt 64 ]; then
    bytes=$(printf '%s' "$key" | openssl dgst -sha256 -binary | od -An -v -tu1)
  else
    bytes=$(printf '%s' "$key" | od -An -v -tu1)
  fi
  key=
  ipad=
  opad=
  n=0
  for b in $bytes; do
    i=$((b ^ 54))
    o=$((b ^ 92))
    ipad="$ipad\\$((i / 64))$((i / 8 % 8))$((i % 8))"
    opad="$opad\\$((o / 64))$((o / 8 % 8))$((o % 8))"
    n=$((n + 1))
  done
  while [ "$n" -lt 64 ]; do
    ipad="$ipad\\066"
    opad="$opad\\134"
    n=$((n + 1))
  done
  # shellcheck disable=SC2059
  { printf "$opad"; { printf "$ipad"; cat; } | openssl dgst -sha256 -binary; } | openssl dgst -sha256 | sed 's/^.*= *//'
}

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
  ts=$(date +%s)
  sig=$(printf '%s.%s' "$ts" "$body" | hmac_sha256 "$secret_file")
  if curl -fsS --connect-timeout 2 --max-time 4 \
    -H 'Content-Type: application/json' \
    -H "X-Xenops-Timestamp: $ts" \
    -H "X-Xenops-Cluster: $cluster" \
    -H "X-Xenops-Node: $node" \
    -H "X-Xenops-Signature: sha256=$sig" \
    --data-binary "$body" "$XENOPS_URL" >/dev/null 2>&1; then
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
