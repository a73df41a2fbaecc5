#!/usr/bin/python3
"""Offline checks of the AWS contrib files (needs python3-yaml):
  iam-policy.json      JSON, exactly the actions cloudroute calls, tag-key
                       condition on CreateTags/DeleteTags
  user-data.yaml       #cloud-config, YAML, the embedded cloudroute config is
                       JSON (after its // comments), genkey + systemctl enable
  cloudformation.yaml  YAML (long-form intrinsics), every Ref / GetAtt /
                       ${Sub} names a parameter, resource or pseudo parameter,
                       the inline policy has the same statements as
                       iam-policy.json, its user data passes the user-data
                       checks once the parameters are substituted
  terraform/main.tf    the policy document names the same actions
Optionally `--cloudroute BIN` also runs `BIN -c CONFIG check` on each
embedded config (with a generated key file, and a generated hub key in
place of the placeholder).  Exit 0 when everything passes.
"""

import json
import os
import re
import subprocess
import sys
import tempfile

import yaml

HERE = os.path.dirname(os.path.abspath(__file__))
ACTIONS = {"ec2:DescribeRouteTables", "ec2:DescribeNetworkInterfaces", "ec2:DescribeInstances",
           "ec2:CreateRoute", "ec2:ReplaceRoute", "ec2:DeleteRoute",
           "ec2:ModifyNetworkInterfaceAttribute", "ec2:CreateTags",
           "ec2:DeleteTags"}
PSEUDO = {"AWS::AccountId", "AWS::Partition", "AWS::Region", "AWS::StackName",
          "AWS::StackId", "AWS::URLSuffix", "AWS::NoValue"}
failures = []


def check(ok, what):
    print("%s - %s" % ("ok" if ok else "not ok", what))
    if not ok:
        failures.append(what)


def listify(x):
    return x if isinstance(x, list) else [x]


def policy_statements(doc):
    return {s["Sid"]: (set(listify(s["Action"])), s.get("Condition"))
            for s in doc["Statement"]}


def check_policy():
    with open(os.path.join(HERE, "iam-policy.json")) as f:
        doc = json.load(f)
    st = policy_statements(doc)
    acts = set().union(*(a for a, _ in st.values()))
    check(acts == ACTIONS, "iam-policy.json: exactly the actions cloudroute uses")
    check(all(s["Effect"] == "Allow" for s in doc["Statement"]),
          "iam-policy.json: only Allow statements")
    tag = [s for s in doc["Statement"] if "ec2:CreateTags" in listify(s["Action"])]
    cond = tag[0].get("Condition", {}) if tag else {}
    check(cond.get("ForAllValues:StringEquals", {}).get("aws:TagKeys")
          == ["cloudroute:ha-group"] and
          cond.get("Null", {}).get("aws:TagKeys") == "false",
          "iam-policy.json: tagging limited to the key cloudroute:ha-group")
    sdc = [s for s in doc["Statement"]
           if "ec2:ModifyNetworkInterfaceAttribute" in listify(s["Action"])]
    check(bool(sdc) and sdc[0].get("Condition", {}).get("StringEquals", {}).get(
          "ec2:ResourceTag/cloudroute:connector") == "true",
          "iam-policy.json: ModifyNetworkInterfaceAttribute only on ENIs tagged "
          "cloudroute:connector=true")
    mut = [s for s in doc["Statement"] if "ec2:CreateRoute" in listify(s["Action"])]
    check(bool(mut) and all(":route-table/" in r for r in listify(mut[0]["Resource"])),
          "iam-policy.json: route mutations limited to route tables")
    return doc


def strip_comments(text):
    """// comments outside strings, as the cloudroute config allows."""
    out, in_str, esc, i = [], False, False, 0
    while i < len(text):
        c = text[i]
        if in_str:
            out.append(c)
            esc = c == "\\" and not esc
            if c == '"' and not esc:
                in_str = False
        elif c == '"':
            in_str = True
            out.append(c)
        elif text.startswith("//", i):
            while i < len(text) and text[i] != "\n":
                i += 1
            continue
        else:
            out.append(c)
        i += 1
    return "".join(out)


def check_cloud_config(text, name, cloudroute, provider="aws"):
    check(text.startswith("#cloud-config\n"), "%s: starts with #cloud-config" % name)
    doc = yaml.safe_load(text)
    known = {"package_update", "packages", "write_files", "runcmd"}
    check(isinstance(doc, dict) and set(doc) <= known,
          "%s: YAML with only cloud-config keys %s" % (name, sorted(known)))
    files = {f["path"]: f for f in doc.get("write_files", [])}
    cfg = files.get("/etc/cloudroute/cloudroute.json")
    check(cfg is not None and cfg.get("permissions") == "0600",
          "%s: writes /etc/cloudroute/cloudroute.json mode 0600" % name)
    try:
        conf = json.loads(strip_comments(cfg["content"]))
        check(conf["cloud"]["provider"] == provider and
              conf["tunnel"]["private_key_file"] == "/etc/cloudroute/private.key",
              "%s: embedded config is JSON (%s provider, key file)" % (name, provider))
    except (ValueError, KeyError, TypeError) as e:
        check(False, "%s: embedded config is JSON (%s)" % (name, e))
        conf = None
    run = "\n".join(listify(doc.get("runcmd", [])))
    check("cloudroute genkey" in run and "systemctl enable --now cloudroute" in run
          and "cloudroute check" in run,
          "%s: runcmd generates the key, checks the config, enables the service"
          % name)
    if cloudroute and conf is not None:
        with tempfile.TemporaryDirectory() as d:
            key = os.path.join(d, "private.key")
            with open(key, "w") as f:
                f.write(subprocess.run([cloudroute, "genkey"], capture_output=True,
                                       text=True, check=True).stdout)
            os.chmod(key, 0o600)
            conf["tunnel"]["private_key_file"] = key
            # The templates carry a placeholder hub key: use a real one here
            # (another host's: a peer with the connector's own key is refused).
            hub = subprocess.run([cloudroute, "genkey"], capture_output=True,
                                 text=True, check=True).stdout
            pub = subprocess.run([cloudroute, "pubkey"], input=hub,
                                 capture_output=True, text=True,
                                 check=True).stdout.strip()
            for peer in conf["tunnel"]["peers"]:
                if peer["public_key"].startswith("REPLACE"):
                    peer["public_key"] = pub
            path = os.path.join(d, "cloudroute.json")
            with open(path, "w") as f:
                json.dump(conf, f)
            r = subprocess.run([cloudroute, "-c", path, "check"],
                               capture_output=True, text=True)
            check(r.returncode == 0, "%s: `cloudroute check` accepts the config: %s"
                  % (name, (r.stdout + r.stderr).strip()))


def walk(node, fn):
    fn(node)
    if isinstance(node, dict):
        for v in node.values():
            walk(v, fn)
    elif isinstance(node, list):
        for v in node:
            walk(v, fn)


def check_cfn(policy, cloudroute):
    with open(os.path.join(HERE, "cloudformation.yaml")) as f:
        t = yaml.safe_load(f)
    params, res = t.get("Parameters", {}), t.get("Resources", {})
    names = set(params) | set(res) | PSEUDO
    bad = []

    def visit(n):
        if not isinstance(n, dict):
            return
        if "Ref" in n and n["Ref"] not in names:
            bad.append("Ref " + n["Ref"])
        if "Fn::GetAtt" in n and listify(n["Fn::GetAtt"])[0] not in res:
            bad.append("GetAtt %s" % n["Fn::GetAtt"])
        if "Fn::Sub" in n:
            for v in re.findall(r"\$\{([^!}][^}]*)\}", listify(n["Fn::Sub"])[0]):
                if v.split(".")[0] not in names:
                    bad.append("Sub ${%s}" % v)
    walk(t, visit)
    check(not bad, "cloudformation.yaml: every Ref/GetAtt/Sub resolves %s" % bad)
    check(all(re.match(r"^[A-Za-z0-9]+$", k) for k in list(params) + list(res)),
          "cloudformation.yaml: logical ids are alphanumeric")
    doc = res["ConnectorRole"]["Properties"]["Policies"][0]["PolicyDocument"]
    check(policy_statements(doc) == policy_statements(policy),
          "cloudformation.yaml: inline policy = iam-policy.json (actions, conditions)")
    lt = res["ConnectorLaunchTemplate"]["Properties"]["LaunchTemplateData"]
    check(lt["MetadataOptions"]["HttpTokens"] == "required",
          "cloudformation.yaml: IMDSv2 required")
    sample = {"HubPublicKey": "xTIBA5rboUvnH4htodjb6e697QjLERt1NAB4mZqp8Dg=",
              "HubEndpoint": "hub.example.net:51820",
              "SourceRepo": "https://git.example.net/cloudroute.git",
              "AWS::StackName": "test"}
    ud = res["Connector"]["Properties"]["UserData"]["Fn::Base64"]["Fn::Sub"]

    def sub(m):
        v = m.group(1)
        if v.startswith("!"):
            return "${" + v[1:] + "}"
        return str(sample.get(v, params.get(v, {}).get("Default", "")))
    check_cloud_config(re.sub(r"\$\{([^}]*)\}", sub, ud),
                       "cloudformation.yaml UserData", cloudroute)


def check_tf():
    with open(os.path.join(HERE, "terraform", "main.tf")) as f:
        tf = f.read()
    acts = set(re.findall(r'"(ec2:[A-Za-z]+)"', tf))
    check(acts == ACTIONS, "terraform/main.tf: policy names exactly the actions")
    check('http_tokens                 = "required"' in tf,
          "terraform/main.tf: IMDSv2 required")
    check(tf.count("{") == tf.count("}"), "terraform/main.tf: braces balance")


def main(argv):
    cloudroute = None
    if len(argv) == 2 and argv[0] == "--cloudroute":
        cloudroute = argv[1]
    policy = check_policy()
    with open(os.path.join(HERE, "user-data.yaml")) as f:
        check_cloud_config(f.read(), "user-data.yaml", cloudroute)
    check_cfn(policy, cloudroute)
    check_tf()
    print("%d failed" % len(failures))
    return 1 if failures else 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
