#!/usr/bin/python3
"""Offline checks of the GCP contrib files (needs python3-yaml):
  custom-role.yaml    YAML, exactly the permissions cloudroute's calls need
  startup-script.sh   bash -n, idempotent steps (genkey only without a key,
                      config only without one), the embedded config is JSON
                      (after its // comments) with provider gcp
  user-data.yaml      #cloud-config with the same embedded-config checks
  terraform/main.tf   the custom role names the same permissions, the
                      instance has the startup script and the compute scope
Optionally `--cloudroute BIN` also runs `BIN -c CONFIG check` on each
embedded config (with a generated key file and hub key).  Exit 0 when
everything passes.  The // comment stripper is contrib/aws/validate.py's.
"""

import importlib.util
import json
import os
import re
import subprocess
import sys
import tempfile

import yaml

sys.dont_write_bytecode = True      # importing the AWS validator must not leave __pycache__

HERE = os.path.dirname(os.path.abspath(__file__))
PERMISSIONS = {"compute.instances.get", "compute.instances.update", "compute.routes.list",
               "compute.routes.get", "compute.routes.create", "compute.routes.delete",
               "compute.networks.updatePolicy", "compute.globalOperations.get",
               "compute.zoneOperations.get"}
failures = []

spec = importlib.util.spec_from_file_location(
    "aws_validate", os.path.join(HERE, "..", "aws", "validate.py"))
aws_validate = importlib.util.module_from_spec(spec)
spec.loader.exec_module(aws_validate)


def check(ok, what):
    print("%s - %s" % ("ok" if ok else "not ok", what))
    if not ok:
        failures.append(what)


def cloudroute_check(conf, name, cloudroute):
    """Runs `cloudroute check` on conf with a real key file and hub key."""
    with tempfile.TemporaryDirectory() as d:
        key = os.path.join(d, "private.key")
        gen = subprocess.run([cloudroute, "genkey"], capture_output=True, text=True, check=True)
        with open(key, "w") as f:
            f.write(gen.stdout)
        os.chmod(key, 0o600)
        # The hub's key is another host's (its own key as a peer is refused).
        hub = subprocess.run([cloudroute, "genkey"], capture_output=True, text=True, check=True)
        pub = subprocess.run([cloudroute, "pubkey"], input=hub.stdout, capture_output=True,
                             text=True, check=True).stdout.strip()
        conf["tunnel"]["private_key_file"] = key
        for peer in conf["tunnel"]["peers"]:
            if not re.match(r"^[A-Za-z0-9+/]{43}=$", peer["public_key"]):
                peer["public_key"] = pub
        path = os.path.join(d, "cloudroute.json")
        with open(path, "w") as f:
            json.dump(conf, f)
        r = subprocess.run([cloudroute, "-c", path, "check"], capture_output=True, text=True)
        check(r.returncode == 0, "%s: `cloudroute check` accepts the config: %s"
              % (name, (r.stdout + r.stderr).strip()))


def check_conf_text(text, name, cloudroute):
    try:
        conf = json.loads(aws_validate.strip_comments(text))
        check(conf["cloud"]["provider"] == "gcp" and
              conf["cloud"]["route_tables"] in ("auto", "network") and
              conf["tunnel"]["private_key_file"] == "/etc/cloudroute/private.key",
              "%s: embedded config is JSON (gcp provider, network routes, key file)" % name)
    except (ValueError, KeyError, TypeError) as e:
        check(False, "%s: embedded config is JSON (%s)" % (name, e))
        return
    if cloudroute:
        cloudroute_check(conf, name, cloudroute)


def check_role():
    with open(os.path.join(HERE, "custom-role.yaml")) as f:
        role = yaml.safe_load(f)
    check(set(role) == {"title", "description", "stage", "includedPermissions"},
          "custom-role.yaml: a gcloud role file (title, description, stage, permissions)")
    check(set(role["includedPermissions"]) == PERMISSIONS and
          len(role["includedPermissions"]) == len(PERMISSIONS),
          "custom-role.yaml: exactly the permissions cloudroute uses")


def check_startup(cloudroute):
    path = os.path.join(HERE, "startup-script.sh")
    with open(path) as f:
        text = f.read()
    check(subprocess.run(["bash", "-n", path]).returncode == 0,
          "startup-script.sh: bash syntax")
    check("[ -s /etc/cloudroute/private.key ] || cloudroute genkey" in text and
          "if [ ! -s /etc/cloudroute/cloudroute.json ]" in text,
          "startup-script.sh: key and config written only once (runs every boot)")
    check("cloudroute check" in text and "systemctl enable --now cloudroute" in text,
          "startup-script.sh: checks the config, enables the service")
    check("Metadata-Flavor: Google" in text, "startup-script.sh: metadata with its header")
    m = re.search(r"<<'JSON'\n(.*?)\nJSON\n", text, re.S)
    check(m is not None, "startup-script.sh: embedded config found")
    if m:
        conf = m.group(1).replace("@ADDRESS@", "100.96.0.100/11").replace(
            "@HUB_ENDPOINT@", "hub.example.net:51820")
        check_conf_text(conf, "startup-script.sh", cloudroute)


def check_user_data(cloudroute):
    with open(os.path.join(HERE, "user-data.yaml")) as f:
        text = f.read()
    check(text.startswith("#cloud-config\n"), "user-data.yaml: starts with #cloud-config")
    doc = yaml.safe_load(text)
    files = {f["path"]: f for f in doc.get("write_files", [])}
    cfg = files.get("/etc/cloudroute/cloudroute.json")
    check(cfg is not None and cfg.get("permissions") == "0600",
          "user-data.yaml: writes /etc/cloudroute/cloudroute.json mode 0600")
    run = "\n".join(aws_validate.listify(doc.get("runcmd", [])))
    check("cloudroute genkey" in run and "systemctl enable --now cloudroute" in run and
          "cloudroute check" in run,
          "user-data.yaml: runcmd generates the key, checks the config, enables the service")
    if cfg:
        check_conf_text(cfg["content"], "user-data.yaml", cloudroute)


def check_tf():
    with open(os.path.join(HERE, "terraform", "main.tf")) as f:
        tf = f.read()
    perms = set(re.findall(r'"(compute\.[A-Za-z]+\.[A-Za-z]+)"', tf))
    check(perms == PERMISSIONS, "terraform/main.tf: the role names exactly the permissions")
    check('startup-script            = file("${path.module}/../startup-script.sh")' in tf,
          "terraform/main.tf: the instance runs startup-script.sh")
    check('"https://www.googleapis.com/auth/compute"' in tf,
          "terraform/main.tf: the service account has the compute scope")
    check(tf.count("{") == tf.count("}"), "terraform/main.tf: braces balance")
    with open(os.path.join(HERE, "terraform", "variables.tf")) as f:
        declared = set(re.findall(r'variable "([a-z_]+)"', f.read()))
    used = set(re.findall(r"var\.([a-z_]+)", tf))
    check(used <= declared, "terraform: every var.* is declared %s" % sorted(used - declared))


def main(argv):
    cloudroute = argv[1] if len(argv) == 2 and argv[0] == "--cloudroute" else None
    check_role()
    check_startup(cloudroute)
    check_user_data(cloudroute)
    check_tf()
    print("%d failed" % len(failures))
    return 1 if failures else 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
