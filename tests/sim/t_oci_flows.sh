#!/bin/bash
# The connector guide's first traffic flow on a simulated OCI VCN
# (tests/sim/oci_topo.sh) whose router follows the fake OCI (ocisync.py): a
# flow works only if cloudroute made the right Core API calls.  The HQ
# connector runs `cloudroute run` with the OCI provider (instance
# principals) and the userspace tunnel; the remote user is wireguard-go.
#   1 user -> HQ app with NAT; then NAT off: the reply finds its way back
#     only through cloudroute's rule 100.96.0.0/11 -> the connector's private
#     IP, and only because skipSourceDestCheck is on
#   2 HQ as the internet egress (NAT off, egress on)
. "$(dirname "$0")/../lib/netns.sh"
. "$(dirname "$0")/topo.sh"
. "$(dirname "$0")/flows.sh"
. "$(dirname "$0")/oci_topo.sh"

[ -x "$CLOUDROUTE" ] || { echo "not ok - no cloudroute binary at $CLOUDROUTE"; echo "0 passed, 1 failed"; exit 1; }
T0=$SECONDS
oci_build || { echo "not ok - simulation build failed"; cat "$SIM/fake.err" 2>/dev/null; FAIL=$((FAIL + 1)); finish; exit 1; }
echo "# simulated VCN up in $((SECONDS - T0)) s"

sim_key hq && sim_key user
oci_conf nat
check "hq config (provider oci) is valid" oci_cr hq check
oci_cr hq plan >"$SIM/plan-hq.txt" 2>&1
check_eq "hq plan before the first apply exits 2" 2 $?
check "plan shows the overlay rule" grep -q "+ cloud route $OCI_RT 100.96.0.0/11 -> $OCI_ME (this connector)" "$SIM/plan-hq.txt"
check_not "before cloudroute: the VCN router has no overlay route" has hq "100.96.0.0/11"
sim_user "hq 203.0.113.10:51820 100.96.0.1/32,10.0.0.0/16,198.51.100.80/32"
check_not "before cloudroute: the user cannot reach the HQ app" probe user 10.0.0.20 8080 1
oci_run hq
check "hq writes 100.96.0.0/11 into the VCN router" wait_for 30 has hq "100.96.0.0/11 via 10.0.0.10"
check_eq "the rule is ours" "$OCI_ME cloudroute ha_group=hq" "$(oci_rule 100.96.0.0/11)"
check_eq "hq's VNIC skips the source/dest check" True "$(oci_skip ocid1.vnic.oc1.sim.hq)"
check_eq "the app's VNIC keeps the check" False "$(oci_skip ocid1.vnic.oc1.sim.hqapp)"
check_eq "the internet rule is untouched" "ocid1.internetgateway.oc1.sim.hq internet" "$(oci_rule 0.0.0.0/0)"

check "flow 1: user reaches the HQ app (NAT)" wait_for 15 probe user 10.0.0.20 8080 1
a=$(who user 10.0.0.20 8080)
check_eq "flow 1: with NAT the app sees the connector" 10.0.0.10 "$a"
oci_conf nonat
reload hq
check "flow 1: NAT off, the app sees the user's overlay address" wait_for 15 sees user 10.0.0.20 8080 100.96.0.2
echo "# flow 1: NAT on: app saw $a; NAT off: app saw $(who user 10.0.0.20 8080) (reply via $OCI_RT 100.96.0.0/11 -> $OCI_ME)"
a=$(who user 198.51.100.80 8080)
check_eq "flow 2: the internet host sees HQ's public address" 203.0.113.10 "$a"

# Without skipSourceDestCheck the VCN drops the forwarded replies: the cloud
# turns it off behind cloudroute's back, the flow breaks, the next
# reconcile turns it on again and the flow is back.
skip_is() { [ "$(oci_skip "$1")" = "$2" ]; }
# A reconcile (every 5 s) may turn it back on within the 1 s probe: then
# the probe proves nothing, and the cloud turns it off again (3 tries).
skip_off_drops() {
	for _ in 1 2 3; do
		sim_ctl POST /mutate '{"op":"skip_sdc","vnic":"ocid1.vnic.oc1.sim.hq","value":false}' >/dev/null
		sees user 10.0.0.20 8080 100.96.0.2 || return 0
		skip_is ocid1.vnic.oc1.sim.hq False && return 1   # still off, yet the reply came
	done
	return 1
}
check "skip off: the reply is dropped" skip_off_drops
check "the reconcile turns skipSourceDestCheck back on" wait_for 15 skip_is ocid1.vnic.oc1.sim.hq True
check "flow 1 works again" wait_for 15 sees user 10.0.0.20 8080 100.96.0.2
m0=$(mutations); sleep 6; m1=$(mutations)
check_eq "a steady reconcile makes no mutating API call" "$m0" "$m1"
check_eq "the fake's change hook never failed" 0 "$(sim_ctl GET /counts | python3 -c 'import json,sys; print(json.load(sys.stdin)["counts"]["hook_failures"])')"
check "hq is still running" alive hq
kill -TERM "${SIM_PID[hq]}"; wait "${SIM_PID[hq]}" 2>/dev/null
check "teardown" oci_cr hq teardown
check_eq "teardown: the overlay rule is gone" none "$(oci_rule 100.96.0.0/11)"
check "teardown: and gone from the VCN router" wait_for 5 lacks hq "100.96.0.0/11"
check_eq "teardown: skipSourceDestCheck restored" False "$(oci_skip ocid1.vnic.oc1.sim.hq)"
echo "# suite took $((SECONDS - T0)) s"
if [ "$FAIL" != 0 ]; then
	[ -s "$SIM/hq.log" ] && { echo "# --- hq.log (tail)"; tail -n 15 "$SIM/hq.log" | sed 's/^/#   /'; }
	[ -s "$SIM/fake.err" ] && { echo "# --- fake.err (tail)"; tail -n 15 "$SIM/fake.err" | sed 's/^/#   /'; }
fi
finish
