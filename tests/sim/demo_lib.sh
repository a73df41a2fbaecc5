# The demos' reporting (demo.sh, demo_oci.sh): the flows' check lines are
# recorded, and each flow prints one PASS/FAIL line.  Source after flows.sh.
# The flows' assertions, recorded instead of printed: one line per flow.
FLOW_FAILS=()
check() {
	local what=$1; shift
	if "$@" >"$TMP/.out" 2>&1; then PASS=$((PASS + 1))
	else FAIL=$((FAIL + 1)); FLOW_FAILS+=("$what"); fi
}
check_not() {
	local what=$1; shift
	if "$@" >"$TMP/.out" 2>&1; then FAIL=$((FAIL + 1)); FLOW_FAILS+=("$what (unexpectedly succeeded)")
	else PASS=$((PASS + 1)); fi
}
check_eq() {
	if [ "$2" = "$3" ]; then PASS=$((PASS + 1))
	else FAIL=$((FAIL + 1)); FLOW_FAILS+=("$1: expected '$2', got '$3'"); fi
}

BAD=0
# run_flow LABEL FUNCTION: runs a flow and prints its one-line result.
run_flow() {
	local label=$1 f
	FLOW_FAILS=()
	FLOW_DETAIL=
	# Every wait is bounded; this bounds their sum when things go wrong.
	if [ $((SECONDS - START)) -gt 150 ]; then
		skip_flow "$label" "the demo's 3-minute budget is spent"
		return 1
	fi
	local p0=$PASS f0=$FAIL N
	"$2" >/dev/null 2>&1
	N=$((PASS - p0 + FAIL - f0))
	if [ ${#FLOW_FAILS[@]} = 0 ]; then
		printf '  PASS  %-34s %s\n' "$label" "$FLOW_DETAIL"
	else
		BAD=$((BAD + 1))
		printf '  FAIL  %-34s %s of %s checks failed:\n' "$label" ${#FLOW_FAILS[@]} "$N"
		for f in "${FLOW_FAILS[@]}"; do printf '          - %s\n' "$f"; done
		return 1
	fi
}
# skip_flow LABEL WHY
skip_flow() {
	BAD=$((BAD + 1))
	printf '  FAIL  %-34s not run: %s\n' "$1" "$2"
}
indent() { sed 's/^/    /'; }
step() { printf '\n== %s\n' "$*"; }
