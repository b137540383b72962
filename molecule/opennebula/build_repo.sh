#!/usr/bin/env bash
# Build the OpenNebula stand-in packages and a signed apt repository with the layout of
# downloads.opennebula.io, so that the roles run unmodified against it:
#
#   OUT/repo2.key                                       armored signing key (throw-away, made here)
#   OUT/<version>/Debian/12/dists/stable/InRelease      signed Release (+ Release, Release.gpg)
#   OUT/<version>/Debian/12/dists/stable/opennebula/binary-<arch>/Packages(.gz)
#   OUT/<version>/Debian/12/pool/*.deb
#
# The packages lay down what the real ones lay down that the roles touch: the oneadmin user and
# group (9869), /var/lib/one, /etc/one with the stock oned.conf and monitord.conf, the stock systemd
# units; `opennebula` runs the OpenNebula 7.2 emulator (tools/one_emulator, copied in) as oned.
#
#   molecule/opennebula/build_repo.sh OUT [VERSION]       (needs dpkg-deb, gpg, apt-ftparchive)
set -euo pipefail

here="$(cd "$(dirname "$0")" && pwd)"
root="$(cd "$here/../.." && pwd)"
out="${1:?usage: build_repo.sh OUT [VERSION]}"
version="${2:-7.2}"
dist="Debian/12"
arch="$(dpkg --print-architecture)"
pkgver="${version}.0-1"
files="$here/files"
stock="$files/stock"

for tool in dpkg-deb gpg apt-ftparchive; do
  command -v "$tool" >/dev/null || { echo "build_repo.sh: $tool is missing (packages dpkg, gnupg, apt-utils)" >&2; exit 1; }
done

work="$(mktemp -d)"
trap 'rm -rf "$work"' EXIT
rm -rf "$out"
repo="$out/$version/$dist"
mkdir -p "$repo/pool" "$repo/dists/stable/opennebula/binary-$arch"

# package NAME DEPENDS DESCRIPTION: builds $work/NAME (already filled) into the pool
package() {
  local name="$1" depends="$2" description="$3" dir="$work/$1"
  mkdir -p "$dir/DEBIAN"
  {
    echo "Package: $name"
    echo "Version: $pkgver"
    echo "Architecture: all"
    echo "Maintainer: NebulaVoIP test packages <packages@nebulavoip.invalid>"
    [ -n "$depends" ] && echo "Depends: $depends"
    echo "Section: admin"
    echo "Priority: optional"
    echo "Description: $description (NebulaVoIP test stand-in)"
    echo " Stand-in for the OpenNebula package of the same name, for the Molecule tests only."
  } > "$dir/DEBIAN/control"
  if [ -d "$dir/etc" ]; then
    (cd "$dir" && find etc -type f | sed 's|^|/|' | sort) > "$dir/DEBIAN/conffiles"
  fi
  dpkg-deb --root-owner-group -Zxz --build "$dir" "$repo/pool/${name}_${pkgver}_all.deb" >/dev/null
}

# script PATH: a maintainer script from stdin
script() {
  mkdir -p "$(dirname "$1")"
  cat > "$1"
  chmod 0755 "$1"
}

# unit NAME EXECSTART: the stock unit with its ExecStart replaced (services that are Ruby/Node.js)
unit() {
  sed -e "s|^ExecStart=.*|ExecStart=$2|" "$stock/systemd/$1.service"
}

# ---------------------------------------------------------------- opennebula-common
d="$work/opennebula-common"
install -d -m 0750 "$d/var/lib/one"
install -d -m 0750 "$d/var/log/one"
install -D -m 0644 "$files/fake/tmpfiles-opennebula-common.conf" "$d/usr/lib/tmpfiles.d/opennebula-common.conf"
mkdir -p "$d/DEBIAN"
script "$d/DEBIAN/postinst" <<'EOF'
#!/bin/sh
set -e
if [ "$1" = configure ]; then
  getent group oneadmin >/dev/null || groupadd --system --gid 9869 oneadmin
  getent passwd oneadmin >/dev/null || useradd --system --uid 9869 --gid oneadmin --home-dir /var/lib/one \
    --shell /bin/bash --comment "OpenNebula administrator" oneadmin
  chown oneadmin:oneadmin /var/lib/one /var/log/one
  systemd-tmpfiles --create /usr/lib/tmpfiles.d/opennebula-common.conf >/dev/null 2>&1 || true
fi
EOF
package opennebula-common "passwd, openssh-client" "OpenNebula common files (oneadmin user)"

# ---------------------------------------------------------------- opennebula
d="$work/opennebula"
install -d -m 0750 "$d/etc/one"
install -m 0640 "$stock/oned.conf" "$stock/monitord.conf" "$d/etc/one/"
mkdir -p "$d/usr/bin"
{ echo '#!/usr/bin/python3'; cat "$files/fake/oned.py"; } > "$d/usr/bin/oned"
chmod 0755 "$d/usr/bin/oned"
install -D -m 0755 "$files/fake/pre_cleanup" "$d/usr/share/one/pre_cleanup"
install -D -m 0755 "$files/fake/follower_cleanup" "$d/usr/share/one/follower_cleanup"
install -D -m 0644 "$files/fake/stub_service.py" "$d/usr/share/one/stub_service.py"
mkdir -p "$d/usr/share/one/one_emulator"
tar -C "$root/tools/one_emulator" --exclude=__pycache__ -cf - . | tar -C "$d/usr/share/one/one_emulator" -xf -
install -D -m 0644 "$stock/systemd/opennebula.service" "$d/lib/systemd/system/opennebula.service"
install -D -m 0644 "$stock/systemd/opennebula-ssh-agent.service" "$d/lib/systemd/system/opennebula-ssh-agent.service"
script "$d/DEBIAN/postinst" <<'EOF'
#!/bin/sh
set -e
if [ "$1" = configure ]; then
  chgrp oneadmin /etc/one /etc/one/oned.conf /etc/one/monitord.conf
  install -d -o oneadmin -g oneadmin -m 0700 /var/lib/one/.one
  if [ ! -e /var/lib/one/.one/one_auth ]; then
    (umask 077; echo "oneadmin:$(od -An -N16 -tx1 /dev/urandom | tr -d ' \n')" > /var/lib/one/.one/one_auth)
    chown oneadmin:oneadmin /var/lib/one/.one/one_auth
  fi
  systemctl daemon-reload >/dev/null 2>&1 || true
fi
EOF
package opennebula "opennebula-common (= $pkgver), python3" "OpenNebula controller daemon (oned)"

# ---------------------------------------------------------------- FireEdge, Gate, Flow
d="$work/opennebula-fireedge"
install -D -m 0640 "$stock/fireedge-server.conf" "$d/etc/one/fireedge-server.conf"
mkdir -p "$d/lib/systemd/system"
unit opennebula-fireedge "/usr/bin/python3 /usr/share/one/stub_service.py fireedge 0.0.0.0 2616" \
  > "$d/lib/systemd/system/opennebula-fireedge.service"
package opennebula-fireedge "opennebula (= $pkgver)" "OpenNebula web interface FireEdge"

d="$work/opennebula-gate"
mkdir -p "$d/lib/systemd/system"
unit opennebula-gate "/usr/bin/python3 /usr/share/one/stub_service.py onegate 127.0.0.1 5030" \
  > "$d/lib/systemd/system/opennebula-gate.service"
package opennebula-gate "opennebula (= $pkgver)" "OpenNebula Gate server"

d="$work/opennebula-flow"
install -D -m 0640 "$stock/oneflow-server.conf" "$d/etc/one/oneflow-server.conf"
mkdir -p "$d/lib/systemd/system"
unit opennebula-flow "/usr/bin/python3 /usr/share/one/stub_service.py oneflow 127.0.0.1 2474" \
  > "$d/lib/systemd/system/opennebula-flow.service"
package opennebula-flow "opennebula (= $pkgver)" "OpenNebula Flow server"

# ---------------------------------------------------------------- opennebula-node-kvm
d="$work/opennebula-node-kvm"
install -D -m 0644 "$stock/bridge-nf-call.conf" "$d/etc/sysctl.d/bridge-nf-call.conf"
package opennebula-node-kvm "opennebula-common (= $pkgver), libvirt-daemon-system, libvirt-clients" \
  "OpenNebula KVM node"

# ---------------------------------------------------------------- apt metadata, signed
export GNUPGHOME="$work/gnupg"
install -d -m 0700 "$GNUPGHOME"
gpg --batch --quiet --passphrase '' --quick-gen-key "NebulaVoIP test repository <repo@nebulavoip.invalid>" ed25519 sign 1d
gpg --batch --quiet --armor --export > "$out/repo2.key"
(
  cd "$repo"
  apt-ftparchive packages pool > "dists/stable/opennebula/binary-$arch/Packages"
  gzip -9nk "dists/stable/opennebula/binary-$arch/Packages"
  apt-ftparchive \
    -o APT::FTPArchive::Release::Origin="NebulaVoIP test" \
    -o APT::FTPArchive::Release::Label="OpenNebula stand-in" \
    -o APT::FTPArchive::Release::Suite=stable \
    -o APT::FTPArchive::Release::Codename=stable \
    -o APT::FTPArchive::Release::Architectures="$arch" \
    -o APT::FTPArchive::Release::Components=opennebula \
    release dists/stable > "$work/Release"
  mv "$work/Release" dists/stable/Release
  gpg --batch --quiet --yes --clearsign -o dists/stable/InRelease dists/stable/Release
  gpg --batch --quiet --yes -abs -o dists/stable/Release.gpg dists/stable/Release
)
echo "built $(find "$repo/pool" -name "*.deb" | wc -l) packages in $repo"
