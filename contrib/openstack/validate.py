#!/usr/bin/python3
"""Offline checks of the OpenStack contrib files (needs python3-yaml):
  access-rules.json    exactly the Neutron calls cloudroute makes
  user-data.yaml       #cloud-config (the checks of contrib/aws/validate.py),
                       the embedded cloudroute config (openstack provider) and
                       clouds.yaml (0600, application credential, Keystone v3)
  heat.yaml            HOT: every get_param / get_resource resolves, get_file
                       names user-data.yaml, every str_replace key occurs in it
                       and the substituted user data passes the same checks
  terraform/main.tf    access_rules = access-rules.json, every replace()
                       literal occurs in user-data.yaml
With `--cloudroute BIN`, `BIN -c CONFIG check` runs on every embedded config.
Exit 0 when everything passes.
"""

import importlib.util
import json
import os
import re
import sys

import yaml

HERE = os.path.dirname(os.path.abspath(__file__))
_spec = importlib.util.spec_from_file_location(
    "aws_validate", os.path.join(HERE, "..", "aws", "validate.py"))
common = importlib.util.module_from_spec(_spec)
_spec.loader.exec_module(common)
check = common.check

# What providers/openstack calls (os_provider.c, os_apply.c).
ACCESS = {("GET", "/v2.0/ports"), ("GET", "/v2.0/ports/*"), ("PUT", "/v2.0/ports/*"),
          ("GET", "/v2.0/routers/*"), ("PUT", "/v2.0/routers/*/add_extraroutes"),
          ("PUT", "/v2.0/routers/*/remove_extraroutes")}


def check_access():
    with open(os.path.join(HERE, "access-rules.json")) as f:
        rules = json.load(f)
    check({(r["method"], r["path"]) for r in rules} == ACCESS and
          all(r["service"] == "network" for r in rules),
          "access-rules.json: exactly the Neutron calls cloudroute makes")


def check_user_data(text, name, cloudroute):
    common.check_cloud_config(text, name, cloudroute, provider="openstack")
    doc = yaml.safe_load(text)
    files = {f["path"]: f for f in doc.get("write_files", [])}
    cy = files.get("/etc/openstack/clouds.yaml")
    check(cy is not None and cy.get("permissions") == "0600",
          "%s: writes /etc/openstack/clouds.yaml mode 0600" % name)
    try:
        clouds = yaml.safe_load(cy["content"])["clouds"]
        c = list(clouds.values())
        ok = len(c) == 1 and c[0]["auth_type"] == "v3applicationcredential" and \
            {"auth_url", "application_credential_id",
             "application_credential_secret"} <= set(c[0]["auth"]) and \
            str(c[0].get("identity_api_version")) == "3"
    except (TypeError, KeyError, AttributeError, yaml.YAMLError):
        ok = False
    check(ok, "%s: clouds.yaml has one cloud with an application credential" % name)


def check_heat(ud, cloudroute):
    with open(os.path.join(HERE, "heat.yaml")) as f:
        doc = yaml.safe_load(f)
    check(str(doc.get("heat_template_version")) in ("2018-08-31", "2021-04-16"),
          "heat.yaml: heat_template_version")
    params, res, bad = doc.get("parameters", {}), doc.get("resources", {}), []

    def visit(n):
        if isinstance(n, dict):
            if "get_param" in n and n["get_param"] not in params:
                bad.append(n["get_param"])
            if "get_resource" in n and n["get_resource"] not in res:
                bad.append(n["get_resource"])
            if "get_attr" in n and n["get_attr"][0] not in res:
                bad.append(n["get_attr"][0])
    common.walk(doc, visit)
    check(not bad, "heat.yaml: every get_param/get_resource/get_attr resolves %s" % bad)
    sr = res["server"]["properties"]["user_data"]["str_replace"]
    check(sr["template"] == {"get_file": "user-data.yaml"}, "heat.yaml: get_file user-data.yaml")
    missing = [k for k in sr["params"] if k not in ud]
    check(not missing, "heat.yaml: every str_replace key occurs in user-data.yaml %s" % missing)
    sample = {"hub_public_key": "REPLACE-WITH-THE-HUB-PUBLIC-KEY-BASE64-44CHARS=",
              "application_credential_id": "ac-1", "application_credential_secret": "s3"}
    text = ud
    for k, v in sr["params"].items():
        p = v["get_param"]
        text = text.replace(k, str(sample.get(p, params[p].get("default", p))))
    check_user_data(text, "heat.yaml user_data", cloudroute)


def check_tf(ud):
    with open(os.path.join(HERE, "terraform", "main.tf")) as f:
        tf = f.read()
    rules = re.findall(r'access_rules \{\s*service = "([^"]+)"\s*method\s*= "([^"]+)"\s*'
                       r'path\s*= "([^"]+)"\s*\}', tf)
    check({(m, p) for (_, m, p) in rules} == ACCESS and len(rules) == len(ACCESS),
          "terraform/main.tf: access_rules = access-rules.json")
    lits = re.findall(r'^\s*"([^"]+)", (?:var|openstack_)', tf, re.M)
    check(len(lits) == 6 and all(x in ud for x in lits),
          "terraform/main.tf: every replace() literal occurs in user-data.yaml")
    check(tf.count("{") == tf.count("}"), "terraform/main.tf: braces balance")


def main(argv):
    cloudroute = argv[1] if len(argv) == 2 and argv[0] == "--cloudroute" else None
    check_access()
    with open(os.path.join(HERE, "user-data.yaml")) as f:
        ud = f.read()
    check_user_data(ud, "user-data.yaml", cloudroute)
    check_heat(ud, cloudroute)
    check_tf(ud)
    print("%d failed" % len(common.failures))
    return 1 if common.failures else 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
