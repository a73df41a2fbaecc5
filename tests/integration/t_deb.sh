#!/bin/bash
# The Debian package (contrib/debian): `make deb` builds it with
# dpkg-buildpackage, lintian finds no error or warning, and the package
# holds what an operator expects (binary, unit, man pages, completion,
# example) with maintainer scripts that start nothing on a new install.
# Builds in build-deb/ of the tree; installs nothing on this machine.
. "$(dirname "$0")/../lib/netns.sh"

DEB=$TOP/build-deb/cloudroute_0.1.0_amd64.deb
# Every library the Makefile builds with is a Build-Depends of the package.
missing=""
for m in $(sed -n 's/^PKGS *:= *//p' "$TOP/Makefile"); do
	pc=$(pkg-config --variable=pcfiledir "$m" 2>/dev/null)/$m.pc
	dev=$(dpkg -S "$pc" 2>/dev/null | head -n1 | cut -d: -f1)
	grep -qE "^ +$dev,?\$|: .*\b$dev\b" "$TOP/contrib/debian/control" || missing="$missing $m(${dev:-?})"
done
check_eq "Build-Depends names every library of PKGS" "" "$missing"
check "make deb builds the package" make -s -C "$TOP" deb
check "lintian: no errors or warnings" lintian --fail-on error,warning "$TOP"/build-deb/cloudroute_*.changes
dpkg-deb -c "$DEB" | awk '{print $6}' >"$TMP/files"
for f in ./usr/sbin/cloudroute ./lib/systemd/system/cloudroute.service \
	./usr/share/man/man8/cloudroute.8.gz ./usr/share/man/man5/cloudroute.json.5.gz \
	./usr/share/bash-completion/completions/cloudroute \
	./usr/share/doc/cloudroute/examples/cloudroute.example.json ./usr/share/doc/cloudroute/copyright; do
	check "ships $f" grep -qx -- "$f" "$TMP/files"
done
check_not "ships nothing in /etc (the admin writes the config)" grep -q '^\./etc/.' "$TMP/files"
dpkg-deb -e "$DEB" "$TMP/ctl"
check_not "no conffiles to get wrong" test -s "$TMP/ctl/conffiles"
dpkg-deb --fsys-tarfile "$DEB" | tar -xO ./lib/systemd/system/cloudroute.service >"$TMP/unit"
check "unit runs /usr/sbin/cloudroute run" grep -qx 'ExecStart=/usr/sbin/cloudroute run' "$TMP/unit"
check "unit documentation is the man page" grep -q '^Documentation=man:cloudroute(8)' "$TMP/unit"
check_not "postinst never starts it" grep -qE 'systemctl|deb-systemd-invoke (start|restart) ' "$TMP/ctl/postinst"
check_eq "postinst enables it only if the admin had it enabled" "1 1" \
	"$(grep -c 'deb-systemd-helper enable' "$TMP/ctl/postinst") $(grep -c 'was-enabled' "$TMP/ctl/postinst")"
check "postinst restarts only a running daemon, after an upgrade" grep -q 'deb-systemd-invoke try-restart cloudroute.service' "$TMP/ctl/postinst"
check "prerm stops it on removal only" grep -q 'deb-systemd-invoke stop cloudroute.service' "$TMP/ctl/prerm"
check_not "prerm tears nothing down" grep -q 'cloudroute teardown$' "$TMP/ctl/prerm"
check "postrm purge removes config and state" grep -q 'rm -rf /etc/cloudroute /var/lib/cloudroute' "$TMP/ctl/postrm"
for f in postinst prerm postrm; do check "$f parses" sh -n "$TMP/ctl/$f"; done

# Install, use and purge it in a throwaway copy of this system: an overlay
# over / in a private mount namespace, chrooted; nothing reaches the real /.
cat >"$TMP/inst.sh" <<'SH'
set -eu
T=$1 DEB=$2
. "$3/tests/lib/overlayroot.sh"
overlay_root "$T" "$T/root"
mount -t proc proc "$T/root/proc"
mount --rbind /dev "$T/root/dev"
cp "$DEB" "$T/root/tmp/c.deb"
R() { chroot "$T/root" "$@"; }
R dpkg -i /tmp/c.deb >/dev/null
R cloudroute --version
stat -c 'etc %a' "$T/root/etc/cloudroute"
R systemd-analyze verify /lib/systemd/system/cloudroute.service && echo "verify ok"
R man -w cloudroute.json
mkdir -p "$T/root/var/lib/cloudroute"; echo '{}' >"$T/root/var/lib/cloudroute/state.json"
echo x >"$T/root/etc/cloudroute/cloudroute.json"
R dpkg --purge cloudroute >"$T/purge.out" 2>&1
grep -q "cloudroute teardown" "$T/purge.out" && echo "prerm warned"
rm -f "$T/root/tmp/c.deb"
# Left in the upper layer besides dpkg's own bookkeeping: nothing (character
# devices there are whiteouts: files of the real root that were removed).
(cd "$T/ov/up" && find . ! -type d ! -type c | grep -vE '^\./(var/lib/dpkg|var/log|var/cache|tmp|proc|dev|root|run)/' || true) \
	| sed 's/^/left: /'
for d in etc/cloudroute var/lib/cloudroute usr/share/doc/cloudroute; do
	[ -e "$T/root/$d" ] && echo "left: $d"
done
echo done
SH
mkdir -p "$TMP/ov"
unshare -m --propagation private bash "$TMP/inst.sh" "$TMP" "$DEB" "$TOP" >"$TMP/inst.out" 2>&1
check "installs in a copy of this system" grep -qx 'cloudroute 0.1.0' "$TMP/inst.out"
check "/etc/cloudroute is 0700" grep -qx 'etc 700' "$TMP/inst.out"
check "systemd-analyze verify accepts the installed unit" grep -qx 'verify ok' "$TMP/inst.out"
check "man finds cloudroute.json(5)" grep -q 'man5/cloudroute.json.5.gz' "$TMP/inst.out"
check "removal says state stays and how to tear down" grep -qx 'prerm warned' "$TMP/inst.out"
check_not "purge leaves nothing behind" grep '^left' "$TMP/inst.out"
check "... (the script ran to the end)" grep -qx done "$TMP/inst.out"
finish
