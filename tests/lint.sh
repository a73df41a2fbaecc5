#!/bin/sh
# Rejects the unbounded libc calls the house style forbids.
set -u
cd "$(dirname "$0")/.."
bad=$(grep -nE '\b(strcpy|sprintf|strtok|atoi|strcat|gets)[[:space:]]*\(' \
	$(find common agent netcfg dataplane providers tests -name '*.[ch]' 2>/dev/null) || true)
if [ -n "$bad" ]; then
	echo "lint: forbidden calls (use cr_strlcpy/snprintf/strtok_r/cr_parse_ulong):"
	echo "$bad"
	exit 1
fi
echo "lint: ok"
