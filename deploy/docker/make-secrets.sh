#!/bin/sh
# Creates deploy/secrets/ for compose.yaml: random passwords, and Mosquitto's password file
# (hashed with mosquitto_passwd: the local one, or the eclipse-mosquitto image's without one).
# Keeps files that exist: run it again after deleting one to make a new one.
set -eu
cd "$(dirname "$0")/.."
# The folder is private (0700); the files in it are 0644 because compose bind-mounts each one
# into its container, where users other than yours (postgres, grafana, labwire) must read them.
mkdir -p secrets
chmod 700 secrets
for name in pg-password grafana-pg-password grafana-admin-password mqtt-bridge-password mqtt-operator-password mqtt-viewer-password; do
  [ -s "secrets/$name" ] || (umask 022 && head -c 24 /dev/urandom | base64 | tr -d '/+=' > "secrets/$name")
done
# labwire's tokens for the monitor container: "<role> <token> <name>" per line (docs/security.md).
if [ ! -s secrets/labwire-tokens ]; then
  (umask 022 && for role in admin operator; do
    printf '%s %s %s\n' "$role" "$(head -c 24 /dev/urandom | base64 | tr -d '/+=')" "compose-$role"
  done > secrets/labwire-tokens)
fi
if [ ! -s secrets/mosquitto-passwd ]; then
  (umask 022 && : > secrets/mosquitto-passwd)
  for user in bridge:mqtt-bridge-password operator:mqtt-operator-password viewer:mqtt-viewer-password; do
    if command -v mosquitto_passwd >/dev/null 2>&1; then
      mosquitto_passwd -b secrets/mosquitto-passwd "${user%%:*}" "$(cat "secrets/${user#*:}")"
    else
      docker run --rm -v "$PWD/secrets:/s" eclipse-mosquitto:2 \
        mosquitto_passwd -b /s/mosquitto-passwd "${user%%:*}" "$(cat "secrets/${user#*:}")"
    fi
  done
fi
echo "secrets in $PWD/secrets"
