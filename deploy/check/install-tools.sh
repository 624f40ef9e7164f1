#!/bin/sh
# Installs the validators deploy-check runs (Debian packages) when one is missing. nginx and
# HAProxy are daemons: Debian's postinst would start them system-wide on ports 80/443, so a
# temporary policy-rc.d (exit 101) tells invoke-rc.d to start nothing, as cyrus.py does.
set -eu
missing=
for tool in nginx haproxy docker-compose named-checkzone; do
  command -v "$tool" >/dev/null 2>&1 || missing=1
done
[ -n "$missing" ] || exit 0
policy=/usr/sbin/policy-rc.d
created=
if [ ! -e "$policy" ]; then
  printf '#!/bin/sh\nexit 101\n' > "$policy"
  chmod 755 "$policy"
  created=1
  trap 'rm -f "$policy"' EXIT
fi
apt-get update -q
DEBIAN_FRONTEND=noninteractive apt-get install -y -q --no-install-recommends nginx haproxy docker-compose bind9-utils
