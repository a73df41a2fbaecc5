#!/bin/bash
# The operator's documentation: cloudroute(8) and cloudroute.json(5) lint
# clean with mandoc, name every CLOUDROUTE_* variable the code reads and
# every key the config parser knows; `help COMMAND` / `COMMAND --help`;
# the bash completion; `make install` puts all of it in place.  Changes
# nothing outside $TMP (no namespace needed).
. "$(dirname "$0")/../lib/netns.sh"

M8=$TOP/man/cloudroute.8
M5=$TOP/man/cloudroute.json.5
rc() { "$@" >"$TMP/out" 2>&1; echo $?; }

check "cloudroute.8 lints clean (mandoc -T lint -W warning)" mandoc -T lint -W warning "$M8"
check "cloudroute.json.5 lints clean" mandoc -T lint -W warning "$M5"
check "cloudroute.8 renders" sh -c "mandoc -T ascii '$M8' | sed 's/.\x08//g' | grep -q '^EXIT STATUS'"

# Every CLOUDROUTE_* the code reads (and DESIGN.md's overrides) is in ENVIRONMENT.
vars=$(grep -rhoE 'getenv\("CLOUDROUTE_[A-Z_]+"\)' "$TOP"/agent "$TOP"/netcfg "$TOP"/dataplane \
	"$TOP"/providers "$TOP"/common | grep -oE 'CLOUDROUTE_[A-Z_]+' | sort -u)
for c in AWS AZURE GCP OCI; do vars="$vars CLOUDROUTE_${c}_METADATA_URL CLOUDROUTE_${c}_API_URL"; done
vars="$vars CLOUDROUTE_OCI_AUTH_URL CLOUDROUTE_OPENSTACK_METADATA_URL CLOUDROUTE_OPENSTACK_AUTH_URL"
missing=""
for v in $vars; do grep -q "^\.It Ev $v\$" "$M8" || missing="$missing $v"; done
check_eq "cloudroute.8 documents every CLOUDROUTE_* variable" "" "$missing"

# Every key of every *_keys[] table of the config parser is an .It Ic entry.
keys=$(awk '/_keys\[\] *=/ {f = 1} f {print} f && /NULL *};/ {f = 0}' "$TOP"/agent/config*.c | grep -oE '"[a-z_]+"' | tr -d '"' | sort -u)
missing=""
for k in $keys; do grep -qE "^\.It Ic ([a-z_]+ , )*$k( |\$)" "$M5" || missing="$missing $k"; done
check_eq "cloudroute.json.5 documents every config key" "" "$missing"
check "... stating the defaults (35 or more)" sh -c "[ \$(grep -c '^Default' '$M5') -ge 35 ]"

# Every metric family of the registry is in METRICS.
fams=$(grep -oE '^\s*\{ "cloudroute_[a-z_]+"' "$TOP/common/metrics.c" | grep -oE 'cloudroute_[a-z_]+')
missing=""
for f in $fams; do grep -qE "^\.It Va .*\b$f\b" "$M8" || missing="$missing $f"; done
check_eq "cloudroute.8 lists every metric" "" "$missing"
# ... and every reason a tunnel drop is counted under.
reasons=$(grep -oE '^\s*\[DP_DROP_[A-Z0-9_]+\] = "[a-z0-9_]+"' "$TOP/dataplane/device.c" |
    grep -oE '"[a-z0-9_]+"' | tr -d '"')
missing=""
for r in $reasons; do grep -qE "^\.It Cm $r\$" "$M8" || missing="$missing $r"; done
check_eq "cloudroute.8 explains every drop reason ($(wc -w <<<"$reasons"))" "" "$missing"

for c in check plan apply run status teardown doctor genkey pubkey help version; do
	check_eq "help $c: exit 0" 0 "$(rc "$CLOUDROUTE" help $c)"
	check "... prints its usage" grep -q "^usage: cloudroute .*$c" "$TMP/out"
	check_eq "$c --help: exit 0, same text" "$(cat "$TMP/out")" "$("$CLOUDROUTE" $c --help 2>&1)"
done
check_eq "help: exit 0" 0 "$(rc "$CLOUDROUTE" help)"
check "... lists the commands" grep -q '^  doctor ' "$TMP/out"
check_eq "--help: exit 0" 0 "$(rc "$CLOUDROUTE" --help)"
check_eq "help of an unknown command: exit 64" 64 "$(rc "$CLOUDROUTE" help frobnicate)"
check "... says which" grep -q 'unknown command "frobnicate"' "$TMP/out"
check_eq "unknown command --help: exit 64" 64 "$(rc "$CLOUDROUTE" frobnicate --help)"
check_eq "help with two arguments: exit 64" 64 "$(rc "$CLOUDROUTE" help plan apply)"
check_eq "--version: exit 0" 0 "$(rc "$CLOUDROUTE" --version)"
check "... prints the version" grep -qE '^cloudroute [0-9]+\.[0-9]+\.[0-9]+$' "$TMP/out"
check_eq "plan --help does not read the config" 0 "$(rc "$CLOUDROUTE" -c "$TMP/none.json" plan --help)"

# The completion, with the two bash-completion helpers it uses stubbed.
comp() {
	bash -c '
		_init_completion() { cur=${COMP_WORDS[COMP_CWORD]}; prev=${COMP_WORDS[COMP_CWORD-1]};
			words=("${COMP_WORDS[@]}"); cword=$COMP_CWORD; }
		_filedir() { COMPREPLY=(FILES); }
		. "$1"; shift
		COMP_WORDS=("$@"); COMP_CWORD=$(($# - 1))
		_cloudroute; echo "${COMPREPLY[*]}"' _ "$TOP/contrib/bash-completion/cloudroute" "$@"
}
check "completion file parses" bash -n "$TOP/contrib/bash-completion/cloudroute"
check_eq "completes commands" "plan pubkey" "$(comp cloudroute p)"
check_eq "completes after -c FILE" "doctor" "$(comp cloudroute -c x.json do)"
check_eq "completes files after -c" "FILES" "$(comp cloudroute -c '')"
check_eq "completes help's argument" "status" "$(comp cloudroute help sta)"
check_eq "completes options" "--json" "$(comp cloudroute plan --j)"
check_eq "nothing after a command" "" "$(comp cloudroute plan '')"

# make install (DESTDIR) puts the pages and the completion in place.
D=$TMP/dest
check "make install DESTDIR" make -s -C "$TOP" install DESTDIR="$D" PREFIX=/usr
for f in usr/sbin/cloudroute usr/share/man/man8/cloudroute.8 usr/share/man/man5/cloudroute.json.5 \
	usr/share/bash-completion/completions/cloudroute usr/lib/systemd/system/cloudroute.service; do
	check "installs /$f" test -s "$D/$f"
done
check "man finds the installed page" sh -c "MANPATH='$D/usr/share/man' man -w cloudroute.json | grep -q man5"

finish
