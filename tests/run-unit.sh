#!/bin/sh
# Runs each cmocka binary; prints a total and fails if any test failed.
set -u
pass=0; fail=0
for t in "$@"; do
	out=$("$t" 2>&1); rc=$?
	echo "$out"
	p=$(echo "$out" | sed -n 's/^\[  PASSED  \] \([0-9]*\) test.*/\1/p' | tail -n1)
	f=$(echo "$out" | sed -n 's/^\[  FAILED  \] \([0-9]*\) test.*/\1/p' | tail -n1)
	pass=$((pass + ${p:-0})); fail=$((fail + ${f:-0}))
	if [ $rc != 0 ] && [ "${f:-0}" = 0 ]; then fail=$((fail + 1)); echo "$t: exit $rc"; fi
done
echo "unit: $pass passed, $fail failed"
[ $fail = 0 ]
