#!/bin/bash
# Runs every tests/integration/t_*.sh (and tests/sim/t_*.sh), each in its own
# namespaces, and prints the total.  A script that dies without its summary
# line counts as one failure.
set -u
cd "$(dirname "$0")/../.."
pass=0; fail=0; times=""
for t in tests/integration/t_*.sh tests/sim/t_*.sh; do
	[ -e "$t" ] || continue
	echo "== $t"
	t0=$SECONDS
	out=$(timeout 600 bash "$t" 2>&1); rc=$?
	echo "$out"
	echo "-- $t: $((SECONDS - t0)) s"
	times+="$((SECONDS - t0)) $t"$'\n'
	line=$(echo "$out" | grep -E '^[0-9]+ passed, [0-9]+ failed' | tail -n1)
	if [ -z "$line" ]; then
		fail=$((fail + 1)); echo "$t: exit $rc without a summary"
		continue
	fi
	p=${line%% passed*}; f=${line#*, }; f=${f%% failed*}
	pass=$((pass + p)); fail=$((fail + f))
	if [ $rc != 0 ] && [ "$f" = 0 ]; then fail=$((fail + 1)); echo "$t: exit $rc"; fi
done
echo "slowest scripts (s):"; printf '%s' "$times" | sort -rn | head -n 8 | sed 's/^/  /'
echo "integration: $pass passed, $fail failed"
[ $fail = 0 ]
