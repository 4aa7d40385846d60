#!/usr/bin/env bash
# Installs, from Debian's packages, the third-party peers the interop tests run against
# (see docs/interop.md). Services the packages ship are kept from starting: the tests
# start their own peers on loopback.
set -euo pipefail
export DEBIAN_FRONTEND=noninteractive
packages=(
  python3 python3-gssapi   # MIT GSS-API from Python: drives gss-ntlmssp and krb5
  gss-ntlmssp              # NTLMSSP mechanism for MIT GSS-API
  winbind                  # Samba's ntlm_auth
  python3-impacket         # impacket's NTLM
  openssl                  # openssl cms/verify: CMS SignedData and certificate interop (internal/cms, internal/pki)
  curl                     # curl --negotiate, an HTTP Negotiate client (httpauth)
  apache2 libapache2-mod-auth-gssapi  # Apache httpd + mod_auth_gssapi, an HTTP Negotiate server (internal/interop/apache)
  protobuf-compiler        # protoc, for proto/check.sh's regeneration check
  tshark                   # Wireshark's gssapi/spnego/ntlmssp dissectors (internal/interop/dissect)
  krb5-kdc krb5-admin-server krb5-user  # MIT KDC, kadmin.local, kinit for packages/kerberos (internal/interop/krb5kdc)
)
missing=()
for p in "${packages[@]}"; do
  dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed" || missing+=("$p")
done
if [ ${#missing[@]} -eq 0 ]; then
  echo "peers already installed"
  exit 0
fi
policy_added=
if [ ! -e /usr/sbin/policy-rc.d ]; then
  printf '#!/bin/sh\nexit 101\n' > /usr/sbin/policy-rc.d
  chmod 755 /usr/sbin/policy-rc.d
  policy_added=1
fi
trap '[ -n "$policy_added" ] && rm -f /usr/sbin/policy-rc.d' EXIT
apt-get update -qq
apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null
echo "installed: ${missing[*]}"
