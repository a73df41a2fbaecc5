#!/usr/bin/python3
"""Offline checks of the OCI contrib files (needs python3-yaml):
  policy.txt           every statement is an Allow for the dynamic group,
                       and they cover what cloudroute calls
  user-data.yaml       the cloud-config checks of contrib/aws/validate.py
                       (oci provider), with `cloudroute check` when --cloudroute
  terraform/main.tf    the policy resource has the same statements as
                       policy.txt (compartment by id), IMDS v1 disabled,
                       skip_source_dest_check ignored, braces balance
Exit 0 when everything passes.
"""

import os
import re
import sys

HERE = os.path.dirname(os.path.abspath(__file__))
sys.dont_write_bytecode = True
sys.path.insert(0, os.path.join(HERE, "..", "aws"))
import validate as common  # noqa: E402

NEEDED = {("read", "virtual-network-family"), ("use", "vnics"), ("use", "private-ips"),
          ("manage", "route-tables")}


def statements(text):
    return [ln.strip() for ln in text.splitlines() if ln.strip().startswith("Allow ")]


def parse(st):
    m = re.match(r"Allow dynamic-group cloudroute-connectors to (\w+) ([\w-]+) in "
                 r"compartment (?:id )?(\S+)( where .*)?$", st)
    return m and (m.group(1), m.group(2), m.group(4) or "")


def check_policy():
    with open(os.path.join(HERE, "policy.txt")) as f:
        sts = statements(f.read())
    parsed = [parse(s) for s in sts]
    common.check(sts and all(parsed), "policy.txt: every statement allows the dynamic group "
                 "one verb on one resource type in one compartment")
    have = {(p[0], p[1]) for p in parsed if p}
    common.check(NEEDED <= have, "policy.txt: covers reads, VNIC update, private IPs, "
                 "route-table update")
    common.check(not any(p and p[0] == "manage" and not p[2] for p in parsed),
                 "policy.txt: no unconditional manage")
    return [p for p in parsed if p]


def check_tf(policy):
    with open(os.path.join(HERE, "terraform", "main.tf")) as f:
        tf = f.read()
    sts = [parse(s) for s in re.findall(r'"(Allow [^"]*)"', tf)]
    common.check(sorted(sts) == sorted(policy),
                 "terraform/main.tf: policy statements = policy.txt")
    common.check("are_legacy_imds_endpoints_disabled = true" in tf,
                 "terraform/main.tf: IMDS v1 disabled")
    common.check("skip_source_dest_check" in tf and "ignore_changes" in tf,
                 "terraform/main.tf: skip_source_dest_check left to cloudroute")
    common.check(tf.count("{") == tf.count("}"), "terraform/main.tf: braces balance")


def main(argv):
    cloudroute = argv[1] if len(argv) == 2 and argv[0] == "--cloudroute" else None
    policy = check_policy()
    with open(os.path.join(HERE, "user-data.yaml")) as f:
        common.check_cloud_config(f.read(), "user-data.yaml", cloudroute, provider="oci")
    check_tf(policy)
    print("%d failed" % len(common.failures))
    return 1 if common.failures else 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
