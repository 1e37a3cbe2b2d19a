# xenops-hook.sh: shared by the node-side hooks (drbd/xenops-drbd-handler.sh, ha/xenops-alert.sh).
# Sourced, never run: it reads the configuration and defines how a hook signs and posts one event.
#
# Configuration: /etc/xenops/hook.conf (POSIX sh variable assignments), or the same variables in the
# environment:
#   XENOPS_URL=https://xenops.example.org:8089/xenops/event
#   XENOPS_CLUSTER=lab
#   XENOPS_NODE=ics1                                (default: uname -n)
#   XENOPS_SECRET_FILE=/etc/xenops/webhook.secret   (this node's own key; mode 0600, owned by root)
# Needs: POSIX sh, od, openssl, curl. The secret is never put on a command line.

xenops_conf=${XENOPS_HOOK_CONF:-/etc/xenops/hook.conf}
# shellcheck disable=SC1090
[ -r "$xenops_conf" ] && . "$xenops_conf"

# Only plain words reach the JSON: names are letters, digits, '.', '_' and '-' (xenops checks again).
word() { printf '%s' "$1" | tr -cd 'A-Za-z0-9._-' | cut -c1-63; }
text() { printf '%s' "$1" | tr -cd 'A-Za-z0-9._:/@ ,=+()-' | cut -c1-200; }

log() { command -v logger >/dev/null 2>&1 && logger -t xenops-hook -- "$*"; }

# True when the URL, the cluster and a readable key are all there.
xenops_configured() {
  [ -n "${XENOPS_URL:-}" ] && [ -n "${XENOPS_CLUSTER:-}" ] && [ -r "${XENOPS_SECRET_FILE:-/etc/xenops/webhook.secret}" ]
}

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

# Posts the JSON body $1 to the webhook, signed over "TIMESTAMP.BODY" with this node's key, naming the
# cluster and node whose key signed it. Gives up after 4 seconds: DRBD and the HA stack wait for some
# hooks and must not wait on the network. Returns curl's status.
post_event() {
  ts=$(date +%s)
  sig=$(printf '%s.%s' "$ts" "$1" | hmac_sha256 "${XENOPS_SECRET_FILE:-/etc/xenops/webhook.secret}")
  curl -fsS --connect-timeout 2 --max-time 4 \
    -H 'Content-Type: application/json' \
    -H "X-Xenops-Timestamp: $ts" \
    -H "X-Xenops-Cluster: $(word "$XENOPS_CLUSTER")" \
    -H "X-Xenops-Node: $(word "${XENOPS_NODE:-$(uname -n)}")" \
    -H "X-Xenops-Signature: sha256=$sig" \
    --data-binary "$1" "$XENOPS_URL" >/dev/null 2>&1
}
