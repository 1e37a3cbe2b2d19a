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
# Posts JSON to the xenops webhook signed with HMAC-SHA256 over "TIMESTAMP.BODY" through
# xenops-hook.sh (installed beside this script), with the DRBD handler's configuration
# (/etc/xenops/hook.conf). Always exits 0 (status: 0 when the group runs here, 3 when not, for heartbeat).
# Needs: POSIX sh, od, openssl, curl. The secret is never put on a command line.

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

# The shared part (configuration, signing, posting): beside this script when installed, or in
# contrib/lib/ in a checkout.
here=$(dirname "$0")
for lib in "${XENOPS_HOOK_LIB:-}" "$here/xenops-hook.sh" "$here/../lib/xenops-hook.sh" /usr/local/lib/xenops/xenops-hook.sh; do
  [ -n "$lib" ] && [ -r "$lib" ] && break
  lib=
done
if [ -z "$lib" ]; then
  command -v logger >/dev/null 2>&1 && logger -t xenops-hook -- "xenops-hook.sh not found; alert not reported"
  exit 0
fi
# shellcheck disable=SC1090
. "$lib"

if ! xenops_configured; then
  log "not configured (XENOPS_URL, XENOPS_CLUSTER, secret file); alert not reported"
  exit 0
fi

node=$(word "${XENOPS_NODE:-$(uname -n)}")
cluster=$(word "$XENOPS_CLUSTER")

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

post_event "$body" || log "could not report $event to $XENOPS_URL"
exit 0
