# A simulated OCI VCN: the topo.sh machinery (VPC router namespace, hosts,
# internet, remote user) driven by the fake OCI (tests/fakecloud/oci.py)
# through tests/sim/ocisync.py.  Source after tests/lib/netns.sh and topo.sh.
#
#                      cloud (fake Core API https://169.254.169.254,
#                             auth https://169.254.169.254:8443, IMDS v2
#                             http://169.254.169.254 for every VNIC by source
#                             address, control 127.0.0.1:8900; hook: ocisync)
#                        | md 198.19.1.0/24
#   user 192.0.2.2 --- inet --- web 198.51.100.80
#                        | igw 198.18.1.0/24
#                     vpc-hq: VCN 10.0.0.0/16, subnet app 10.0.0.0/18
#                        (route table ocid1.routetable.oc1.sim.app)
#                      |h-hq              |h-hqapp
#                     hq 10.0.0.10         hqapp 10.0.0.20 (whoami :8080)
#                     (public 203.0.113.10)

OCI_RT=ocid1.routetable.oc1.sim.app
OCI_ME=ocid1.privateip.oc1.sim.hq

oci_start_cloud() {
	python3 "$TOP/tests/sim/ocisync.py" gen "$SIM/spec" "$SIM" || return 1
	sh "$FAKE/mkca.sh" "$SIM/ca" 169.254.169.254 >/dev/null || return 1
	nsx cloud ip addr add 169.254.169.254/32 dev lo
	bg cloud env VPCSYNC_LOG="$SIM/vpcsync.log" python3 "$FAKE/oci.py" \
		--scenario "$SIM/oci-scenario.json" \
		--api 169.254.169.254:443 --auth 169.254.169.254:8443 \
		--cert "$SIM/ca/server.pem" --key "$SIM/ca/server.key" \
		--imds 169.254.169.254:80 --control "$SIM_CTL" \
		--state-out "$SIM/state.json" --log "$SIM/api.log" \
		--on-change "python3 $TOP/tests/sim/ocisync.py sync --map $SIM/map.json" \
		--ready-file "$SIM/ready" 2>>"$SIM/fake.err"
	wait_for 30 test -s "$SIM/ready" || { echo "fake OCI did not start" >&2; cat "$SIM/fake.err" >&2; return 1; }
	wait_for 10 sh -c "ip -n $(ns vpc-hq) route show table all proto 99 | grep -q throw"
}

oci_build() {
	sim_base || return 1
	sim_site hq 10.0.0.0/16 1 || return 1
	sim_subnet hq app 10.0.0.0/18 app
	sim_host hq app hq 10.0.0.10/18 10.0.0.1 connector 203.0.113.10 || return 1
	sim_host hq app hqapp 10.0.0.20/18 10.0.0.1 app || return 1
	oci_start_cloud || return 1
	local h
	for h in hqapp web user; do
		bg "$h" python3 "$TOP/tests/lib/whoami.py" serve 8080
	done
	wait_for 5 nsx web python3 "$TOP/tests/lib/whoami.py" get 198.51.100.80 8080
}

# oci_conf nat|nonat: the HQ connector's config with the OCI provider.
oci_conf() {
	local extra='"nat": { "masquerade": true }'
	[ "$1" = nonat ] && extra='"nat": { "masquerade": false, "exclude": ["10.0.0.0/16"] }, "egress": true'
	sim_conf hq hq 100.96.0.1 '["10.0.0.0/18"]' "$(sim_peer user user - 100.96.0.2/32)" hq "$extra"
	sed -i 's/"provider": "aws"/"provider": "oci"/' "$SIM/hq.json"
}

OCI_ENV="CLOUDROUTE_OCI_METADATA_URL=http://169.254.169.254
CLOUDROUTE_OCI_API_URL=https://169.254.169.254
CLOUDROUTE_OCI_AUTH_URL=https://169.254.169.254:8443"
oci_cr() {
	local n=$1; shift
	# shellcheck disable=SC2086
	nsx "$n" env $OCI_ENV CLOUDROUTE_CA_BUNDLE="$SIM/ca/ca.pem" \
		"$CLOUDROUTE" -c "$SIM/$n.json" "$@"
}
oci_run() {
	track_sock "$P$1"
	# shellcheck disable=SC2086
	bg "$1" env $OCI_ENV CLOUDROUTE_CA_BUNDLE="$SIM/ca/ca.pem" \
		"$CLOUDROUTE" -c "$SIM/$1.json" run >>"$SIM/$1.log" 2>&1
	SIM_PID[$1]=$!
}
# oci_rule DST: "target description" of the rule in the app route table.
oci_rule() {
	sim_ctl GET /state | python3 -c '
import json, sys
for r in json.load(sys.stdin)["routeTables"][sys.argv[1]]["rules"]:
    if r.get("destination") == sys.argv[2]:
        print(r["networkEntityId"], r.get("description", "")); sys.exit()
print("none")' "$OCI_RT" "$1"
}
oci_skip() {
	sim_ctl GET /state | python3 -c '
import json, sys
print(json.load(sys.stdin)["vnics"][sys.argv[1]]["skipSourceDestCheck"])' "$1"
}
