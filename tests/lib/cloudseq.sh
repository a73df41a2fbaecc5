# Sequences the cloud provider integration tests share (t_aws.sh, t_gcp.sh,
# t_oci.sh, t_openstack.sh), sourced after netns.sh.  The test defines
#   ctl METHOD PATH [JSON]  its fake's control endpoint
#   CR ARGS...              cloudroute with the test's config in the connector
#                           namespace "conn" ($CLOUDROUTE -c $CFG)
#   mutations               the fake's count of mutating calls
# and $TMP.

# bad_answer WHAT FAULT_JSON ERROR_RE: with that fault armed, apply exits 1,
# says why (its output matches ERROR_RE, case-insensitive) and the cloud saw
# no mutating call.  The fault stays armed; the test clears it.
bad_answer() {
	local what=$1 fault=$2 re=$3 out rc
	out=$(mktemp -p "$TMP" bad.XXXXXX)
	ctl POST /fault "$fault" >/dev/null
	CR apply >"$out" 2>&1; rc=$?
	check_eq "$what: apply exits 1" 1 "$rc"
	check "$what: the error says so" grep -qiE "$re" "$out"
	check_eq "$what: no mutating call" 0 "$(mutations)"
}

# crash_after SECONDS ACTION CONDITION...: the fake carries ACTION out, then
# holds its answer for 4 s; `cloudroute run` is killed -9 as soon as
# CONDITION shows the change happened (waiting SECONDS at most), that is
# between the cloud change and the state write.
crash_after() {
	local secs=$1 action=$2 pid; shift 2
	ctl POST /fault "{\"kind\":\"slow\",\"delay_ms\":4000,\"count\":1,\"apply\":true,\"actions\":[\"$action\"]}" >/dev/null
	# ip netns exec execs into cloudroute: one pid throughout.
	ip netns exec "$(ns conn)" "$CLOUDROUTE" -c "$CFG" run >/dev/null 2>&1 &
	pid=$!
	wait_for "$secs" "$@"
	kill -9 $pid
	wait $pid 2>/dev/null
	ctl POST /faults/clear >/dev/null
}
