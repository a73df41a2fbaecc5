#!/usr/bin/python3
"""Offline checks of the Azure contrib files (needs python3-yaml):
  role-definition.json  JSON custom role: exactly the actions cloudroute's
                        ARM calls need (the fake ARM of tests/fakecloud
                        enforces the same list), no wildcards, no data actions
  cloud-init.yaml       #cloud-config checks shared with contrib/aws (the
                        embedded config is JSON for the azure provider,
                        genkey + check + systemctl enable)
  main.bicep            the same actions, the custom data is cloud-init.yaml,
                        a system-assigned identity, braces balance
  terraform/main.tf     the same actions, the custom data is cloud-init.yaml
Optionally `--cloudroute BIN` runs `BIN -c CONFIG check` on the embedded
config.  Exit 0 when everything passes.
"""

import json
import os
import re
import sys

HERE = os.path.dirname(os.path.abspath(__file__))
sys.dont_write_bytecode = True
sys.path.insert(0, os.path.join(HERE, "..", "aws"))
sys.path.insert(0, os.path.join(HERE, "..", "..", "tests", "fakecloud"))
import validate as common  # noqa: E402  (contrib/aws/validate.py)

# What cloudroute calls: the RBAC actions of each ARM operation (the fake
# ARM's table) and of the operation polls that follow its writes.
POLLS = {"Microsoft.Network/locations/operations/read",
         "Microsoft.Network/locations/operationResults/read"}
NIC_PUT = {"Microsoft.Network/virtualNetworks/subnets/join/action"}


def used_actions():
    import azure  # tests/fakecloud/azure.py
    acts = set()
    for v in azure.ACTIONS.values():
        acts |= set(v)
    return acts | POLLS | NIC_PUT


def check_role(want):
    with open(os.path.join(HERE, "role-definition.json")) as f:
        doc = json.load(f)
    acts = set(doc["Actions"])
    common.check(acts == want, "role-definition.json: exactly the actions cloudroute "
                 "uses (missing %s, extra %s)" % (sorted(want - acts), sorted(acts - want)))
    common.check(not any("*" in a for a in acts), "role-definition.json: no wildcards")
    common.check(doc.get("IsCustom") is True and not doc.get("DataActions") and
                 not doc.get("NotActions"), "role-definition.json: custom, no data actions")
    common.check(all("/resourceGroups/" in s for s in doc["AssignableScopes"]),
                 "role-definition.json: assignable to a resource group only")


def check_text(path, name, want, quote):
    with open(os.path.join(HERE, path)) as f:
        t = f.read()
    acts = set(re.findall(quote + r"(Microsoft\.[A-Za-z]+/[A-Za-z/]+)" + quote, t))
    acts = {a for a in acts if not a.startswith("Microsoft.Authorization")}
    common.check(acts == want, "%s: the role names exactly the actions (missing %s, "
                 "extra %s)" % (name, sorted(want - acts), sorted(acts - want)))
    common.check("cloud-init.yaml" in t, "%s: custom data is cloud-init.yaml" % name)
    common.check(t.count("{") == t.count("}") and t.count("[") == t.count("]"),
                 "%s: brackets balance" % name)
    return t


def main(argv):
    cloudroute = argv[1] if len(argv) == 2 and argv[0] == "--cloudroute" else None
    want = used_actions()
    check_role(want)
    with open(os.path.join(HERE, "cloud-init.yaml")) as f:
        common.check_cloud_config(f.read(), "cloud-init.yaml", cloudroute, provider="azure")
    b = check_text("main.bicep", "main.bicep", want, "'")
    common.check("type: 'SystemAssigned'" in b and "principalType: 'ServicePrincipal'" in b,
                 "main.bicep: system-assigned identity with the role assigned")
    t = check_text(os.path.join("terraform", "main.tf"), "terraform/main.tf", want, '"')
    common.check('type = "SystemAssigned"' in t and "azurerm_role_assignment" in t,
                 "terraform/main.tf: system-assigned identity with the role assigned")
    print("%d failed" % len(common.failures))
    return 1 if common.failures else 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
