#!/bin/sh
# xenops-alert.sh: tells xenops what the HA stack saw (node lost or back, fencing, resources moving).
#
# Pacemaker (1.1.15+): an alert agent. Pacemaker sets CRM_alert_kind (node, fencing, resource,
# attribute), CRM_alert_node, CRM_alert_desc, CRM_alert_rc, CRM_alert_task, CRM_alert_rsc... in the
# environment and runs the agent with no arguments:
#   pcs alert create path=/usr/local/lib/xenops/xenops-alert.sh id=xenops
#
# heartbeat v1 (haresources): a resource script placed at the end of each resource group; heartbeat
# calls it with start when the group starts on this node and with stop when it leaves:
#   ics2 drbddisk::internet xendomains::internet xenops-alert.sh
# (install it as /etc/ha.d/resource.d/xenops-alert.sh).
#
# Posts JSON to the xenops webhook signed with HMAC-SHA256 over "TIMESTAMP.BODY"; same configuration
# as the DRBD handler (/etc/xenops/hook.conf: XENOPS_URL, XENOPS_CLUSTER, XENOPS_NODE,
# XENOPS_SECRET_FILE). Always exits 0 (status: 0 when the group runs here, 3 when not, for heartbeat).
# Needs: POSIX sh, od, openssl, curl. The secret is never put on a command line.

conf=${XENOPS_HOOK_CONF:-/etc/xenops/hook.conf}
# shellcheck disable=SC1090
[ -r "$conf" ] && . "$conf"

word() { printf '%s' "$1" | tr -cd 'A-Za-z0-9._-' | cut -c1-63; }
text() { printf '%s' "$1" | tr -cd 'A-Za-z0-9._:/@ ,=+()-' | cut -c1-200; }
log() { command -v logger >/dev/null 2>&1 && logger -t xenops-hook -- "$*"; }

state_dir=${XENOPS_STATE_DIR:-/var/run/xenops}
action=${1:-}
case "$action" in
  status | monitor)
    # heartbeat asks whether "the resource" runs here: it does while the group holds the marker.
    [ -f "$state_dir/group-active" ] && exit 0
    exit 3
    ;;
  start) mkdir -p "$state_dir" 2>/dev/null && : >"$state_dir/group-active" ;;
  stop) rm -f "$state_dir/group-active" ;;
esac

if [ -z "${XENOPS_URL:-}" ] || [ -z "${XENOPS_CLUSTER:-}" ] || [ ! -r "${XENOPS_SECRET_FILE:-/etc/xenops/webhook.secret}" ]; then
  log "not configured (XENOPS_URL, XENOPS_CLUSTER, secret file); alert not reported"
  exit 0
fi

secret_file=${XENOPS_SECRET_FILE:-/etc/xenops/webhook.secret}
node=$(word "${XENOPS_NODE:-$(uname -n)}")
cluster=$(word "$XENOPS_CLUSTER")

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

if [ -n "${CRM_alert_kind:-}" ]; then
  event=$(printf '%s' "$CRM_alert_kind" | tr -cd 'a-z0-9-' | cut -c1-40)
  peer=$(word "${CRM_alert_node:-}")
  details=""
  for var in CRM_alert_kind CRM_alert_node CRM_alert_desc CRM_alert_rc CRM_alert_task CRM_alert_rsc CRM_alert_status CRM_alert_target_rc CRM_alert_timestamp; do
    eval "value=\${$var:-}"
    # shellcheck disable=SC2154
    [ -n "$value" ] && details="$details${details:+,}\"$var\":\"$(text "$value")\""
  done
elif [ "$action" = start ] || [ "$action" = stop ]; then
  event=resource
  peer=$node
  details="\"action\":\"$action\",\"desc\":\"resource group ${action}ed by heartbeat on $node\""
else
  exit 0
fi

body="{\"cluster\":\"$cluster\",\"node\":\"$node\",\"source\":\"ha\",\"event\":\"$event\""
[ -n "$peer" ] && body="$body,\"peer\":\"$peer\""
body="$body,\"details\":{$details}}"

ts=$(date +%s)
sig=$(printf '%s.%s' "$ts" "$body" | hmac_sha256 "$secret_file")
curl -fsS --connect-timeout 2 --max-time 4 \
  -H 'Content-Type: application/json' \
  -H "X-Xenops-Timestamp: $ts" \
  -H "X-Xenops-Cluster: $cluster" \
  -H "X-Xenops-Node: $node" \
  -H "X-Xenops-Signature: sha256=$sig" \
  --data-binary "$body" "$XENOPS_URL" >/dev/null 2>&1 || log "could not report $event to $XENOPS_URL"
exit 0
