#!/bin/bash
# `make demo`: cloudroute on a cloud in a box.  Builds simulated AWS VPCs in
# network namespaces (tests/sim/topo.sh) driven by a fake EC2 API, shows
# `cloudroute plan` on the HQ connector, starts the connectors with
# `cloudroute run`, shows the VPC route tables before and after, runs the
# connector guide's flows with one line each, and tears everything down
# (also on Ctrl-C or failure).  Exits non-zero if any flow fails.  The sites
# find each other through a real etcd started in the cloud namespace (the
# fleet, SIM_FLEET=1 in flows.sh): no site has another as a static peer,
# and the HA flow is an election.  CLOUDROUTE_DEMO_STATIC=1: static peers
# and the reconcile-based HA of a config without a fleet (as t_flows.sh).
#   CLOUDROUTE=path/to/cloudroute tests/sim/demo.sh      (default ./cloudroute)
[ "${CLOUDROUTE_DEMO_STATIC:-0}" = 1 ] && SIM_FLEET=0 || SIM_FLEET=1
. "$(dirname "$0")/../lib/netns.sh"
. "$(dirname "$0")/topo.sh"
. "$(dirname "$0")/flows.sh"
. "$(dirname "$0")/demo_lib.sh"

START=$SECONDS
echo "cloudroute demo: simulated AWS VPCs in network namespaces, a fake EC2 API"
echo "and IMDS; each VPC's router follows the API, so traffic flows only if"
echo "cloudroute made the right calls.  Binary: $CLOUDROUTE"
[ -x "$CLOUDROUTE" ] || { echo "no cloudroute binary at $CLOUDROUTE (run make first)"; exit 1; }

step "building the simulation"
sim_build || { echo "  FAIL  simulation did not come up"; tail -n 5 "$SIM/fake.err" 2>/dev/null; exit 1; }
echo "  ${#_NS[@]} namespaces: VPC routers for hq 10.0.0.0/16, br 192.168.0.0/16, s3 172.16.0.0/16,"
echo "  ha 172.20.0.0/16; connectors, apps, internet, a web host, a remote user;"
echo "  fake EC2 at $SIM_API (test CA), IMDS at http://169.254.169.254 ($((SECONDS - START)) s)"
if [ "$SIM_FLEET" = 1 ]; then
	sim_fleet_start || { echo "  FAIL  etcd did not start"; exit 1; }
	echo "  etcd $(nsx cloud etcd --version | sed -n 's/^etcd Version: //p') at $SIM_ETCD (the fleet: sites, leaders)"
fi

step "VPC route tables before cloudroute (kernel tables of the VPC routers)"
sim_show vpc-hq vpc-br

run_flow "sim: source/dest check enforced" flow_sim_check

step "cloudroute plan on the HQ connector"
for k in hq br s3 ha user; do sim_key "$k"; done
conf_hq nat
conf_br
sim_cr hq plan 2>&1 | indent

step "starting the connectors (cloudroute run: hq, br) and the user (wireguard-go)"
UP=1
run_flow "connectors up, routes written" flows_start || UP=0
for n in hq br; do
	echo "    $n: $(grep -m1 'apply made' "$SIM/$n.log" 2>/dev/null | sed 's/^cloudroute: aws: //' | grep . || echo '(no cloud apply logged)')"
done

if [ "$SIM_FLEET" = 1 ]; then
	step "the fleet in etcd (every key on its connector's lease)"
	etcd_ctl cloud 2379 get --prefix /cloudroute/ 2>/dev/null | paste - - | indent
fi

step "VPC route tables after (written through the EC2 API by cloudroute)"
sim_show vpc-hq vpc-br

step "flows"
if [ $UP = 1 ]; then
	run_flow "1 user -> HQ app 10.0.0.20" flow_1
	run_flow "2 HQ as internet egress" flow_2
	run_flow "3 site to site HQ <-> Branch" flow_3
	run_flow "5 port forward br:33000" flow_5
	run_flow "4 third site joins, leaves" flow_4
else
	for f in "1 user -> HQ app 10.0.0.20" "2 HQ as internet egress" "3 site to site HQ <-> Branch" \
		"5 port forward br:33000" "4 third site joins, leaves"; do
		skip_flow "$f" "HQ and Branch did not come up"
	done
fi
if [ "$SIM_FLEET" = 1 ]; then
	run_flow "6 HA failover (election)" flow_6
	[ -n "${SIM_FAILOVER:-}" ] &&
		echo "  # failover: $SIM_FAILOVER s from kill -9 of the leader to traffic through the standby (etcd lease_ttl 2)"
else
	run_flow "6 HA failover (kill -9 active)" flow_6
	[ -n "${SIM_FAILOVER:-}" ] &&
		echo "  # failover: $SIM_FAILOVER s from kill -9 to traffic (fake logged ha2's ReplaceRoute at ${SIM_REPLACE:-?} s; reconcile_interval 5)"
fi
if [ $UP = 1 ]; then
	run_flow "7 remote user via client add" flow_7 &&
		{ echo "    the profile \`cloudroute client add alice\` printed on hq:"; indent <"$SIM/alice.conf" |
		  sed 's/^\(    PrivateKey = \).*/\1(the user'"'"'s private key)/'; }
	run_flow "8 redundant hubs (peer group)" flow_8
	[ -n "${SIM_PG_FAILOVER:-}" ] &&
		echo "  # peer group failover: $SIM_PG_FAILOVER s from kill -9 hq to the HQ app through hq2 (failover_after 3); back on hq ${SIM_PG_FAILBACK:-?} s after it restarted (hold_down 5)"
else
	skip_flow "7 remote user via client add" "HQ did not come up"
	skip_flow "8 redundant hubs (peer group)" "HQ did not come up"
fi

step "HA VPC route table after the failover"
sim_show vpc-ha

step "teardown"
for n in hq br; do kill -TERM "${SIM_PID[$n]}" 2>/dev/null; wait "${SIM_PID[$n]}" 2>/dev/null; done
teardown_flow() {
	FLOW_DETAIL=
	check "hq teardown" sim_cr hq teardown
	check "br teardown" sim_cr br teardown
	check "rtb-hq has no cloudroute route left" lacks hq "via 10.0.0.10"
	check "rtb-br has no cloudroute route left" lacks br "via 192.168.0.10"
	check_eq "hq's source/dest check is back on" True "$(eni_check eni-hq)"
	detail "cloudroute teardown removed its routes from rtb-hq and rtb-br and restored the checks"
}
run_flow "cloudroute teardown" teardown_flow
echo "  removing the namespaces"

step "Azure: the first flow on a simulated VNet (tests/sim/t_azure_vnet.sh)"
if bash "$TOP/tests/sim/t_azure_vnet.sh" >"$TMP/azure.out" 2>&1; then
	echo "  ok   user -> app through the connector; the app's reply returns by the UDR"
	echo "       cloudroute wrote into rt-apps, and repairs NIC forwarding and the UDR"
	echo "       when they are changed behind its back ($(tail -n1 "$TMP/azure.out"))"
else
	BAD=$((BAD + 1))
	echo "  FAIL Azure VNet flow:"
	grep -E '^(not ok|#)' "$TMP/azure.out" | indent
fi

echo
if [ "$BAD" = 0 ]; then
	echo "demo: all flows passed in $((SECONDS - START)) s"
else
	echo "demo: $BAD flow(s) FAILED ($((SECONDS - START)) s); connector logs:"
	for n in hq br s3 ha1 ha2; do
		[ -s "$SIM/$n.log" ] && { echo "  --- $n"; tail -n 8 "$SIM/$n.log" | indent; }
	done
fi
[ "$BAD" = 0 ]
