"""The simulated Azure world of the fake ARM API: one subscription with
resource groups, VMs (power state, managed identities), NICs, VNets with
subnets, route tables with UDRs, and long-running operations.  Resource
JSON follows the Microsoft.Network 2024-05-01 / Microsoft.Compute
2024-07-01 REST references.  Every method is called with World.lock held.

Scenario (JSON):
  {"subscription": GUID, "tenant": GUID, "location": "westeurope",
   "identities": [{"name", "client_id", "principal_id", "actions": ["*"|action...]}],
   "vms": [{"name", "resource_group", "nics": [nic names], "power": "running",
            "identity": identity name (system-assigned),
            "user_identities": [identity names]}],
   "vnets": [{"name", "resource_group", "address_space": [cidr],
              "subnets": [{"name", "prefix", "route_table": rt name or null}]}],
   "nics": [{"name", "resource_group", "mac": "00-0D-3A-..", "ip", "vnet",
             "subnet", "vm": vm name or null, "ip_forwarding": false}],
   "route_tables": [{"name", "resource_group", "max_routes": 400,
                     "routes": [{"name", "prefix", "next_hop_type", "next_hop_ip"}]}]}
"""

import ipaddress
import json
import re
import threading
import time
import uuid

NEXT_HOP_TYPES = ("VirtualNetworkGateway", "VnetLocal", "Internet", "VirtualAppliance",
                  "None")
NAME_RE = re.compile(r"^[A-Za-z0-9]([A-Za-z0-9_.-]{0,78}[A-Za-z0-9_])?$")
ROUTE_PROPS = {"addressPrefix", "nextHopType", "nextHopIpAddress", "provisioningState",
               "hasBgpOverride", "nextHop"}


class ScenarioError(Exception):
    pass


class ApiError(Exception):
    def __init__(self, status, code, message):
        super().__init__(message)
        self.status, self.code, self.message = status, code, message


def etag():
    return 'W/"%s"' % uuid.uuid4()


def key(name):
    return name.lower()


class World:
    def __init__(self, scn, lro_polls=2, lro_seconds=3.0):
        self.lock = threading.RLock()
        self.version = 0
        self.lro_polls, self.lro_seconds = lro_polls, lro_seconds
        try:
            self.sub = scn["subscription"]
            self.tenant = scn.get("tenant", "72f988bf-0000-0000-0000-000000000000")
            self.location = scn.get("location", "westeurope")
            self.identities = {i["name"]: dict(i) for i in scn.get("identities", [])}
            self.vms = {key(v["name"]): dict(v) for v in scn.get("vms", [])}
            self.vnets = {key(v["name"]): dict(v) for v in scn.get("vnets", [])}
            self.nics = {key(n["name"]): dict(n, etag=etag()) for n in scn.get("nics", [])}
            self.tables = {}
            for t in scn.get("route_tables", []):
                tab = dict(t, etag=etag(), routes={})
                for r in t.get("routes", []):
                    tab["routes"][key(r["name"])] = dict(r, etag=tab["etag"],
                                                         state="Succeeded")
                self.tables[key(t["name"])] = tab
        except (KeyError, TypeError) as e:
            raise ScenarioError("bad scenario: %s" % e)
        for n in self.nics.values():
            n.setdefault("ip_forwarding", False)
            n["state"] = "Succeeded"
        for v in self.vms.values():
            v.setdefault("power", "running")
        self.ops = {}

    # ---- ids ---------------------------------------------------------
    def rg_id(self, rg):
        return "/subscriptions/%s/resourceGroups/%s" % (self.sub, rg)

    def vm_id(self, v):
        return self.rg_id(v["resource_group"]) + \
            "/providers/Microsoft.Compute/virtualMachines/" + v["name"]

    def nic_id(self, n):
        return self.rg_id(n["resource_group"]) + \
            "/providers/Microsoft.Network/networkInterfaces/" + n["name"]

    def vnet_id(self, v):
        return self.rg_id(v["resource_group"]) + \
            "/providers/Microsoft.Network/virtualNetworks/" + v["name"]

    def table_id(self, t):
        return self.rg_id(t["resource_group"]) + \
            "/providers/Microsoft.Network/routeTables/" + t["name"]

    def subnet_id(self, vnet, sn):
        return self.vnet_id(vnet) + "/subnets/" + sn["name"]

    def find_subnet(self, vnet_name, sn_name):
        v = self.vnets.get(key(vnet_name))
        if v is None:
            return None, None
        for s in v.get("subnets", []):
            if key(s["name"]) == key(sn_name):
                return v, s
        return v, None

    def subnet_by_id(self, sid):
        m = re.match(r"(?i)^/subscriptions/([^/]+)/resourceGroups/([^/]+)/providers/"
                     r"Microsoft\.Network/virtualNetworks/([^/]+)/subnets/([^/]+)$", sid or "")
        if not m or m.group(1).lower() != self.sub.lower():
            return None, None
        v, s = self.find_subnet(m.group(3), m.group(4))
        if v is None or key(v["resource_group"]) != key(m.group(2)):
            return None, None
        return v, s

    # ---- JSON views --------------------------------------------------
    def vm_json(self, v):
        nics = []
        for i, n in enumerate(v.get("nics", [])):
            nic = self.nics.get(key(n))
            if nic is not None:
                nics.append({"id": self.nic_id(nic), "properties": {"primary": i == 0}})
        out = {"name": v["name"], "id": self.vm_id(v),
               "type": "Microsoft.Compute/virtualMachines", "location": self.location,
               "properties": {"vmId": str(uuid.uuid5(uuid.NAMESPACE_URL, v["name"])),
                              "hardwareProfile": {"vmSize": "Standard_B2s"},
                              "networkProfile": {"networkInterfaces": nics},
                              "provisioningState": "Succeeded"}}
        ident = {}
        if v.get("identity"):
            ident["type"] = "SystemAssigned"
            ident["principalId"] = self.identities[v["identity"]]["principal_id"]
            ident["tenantId"] = self.tenant
        if v.get("user_identities"):
            ident["type"] = "SystemAssigned, UserAssigned" if ident else "UserAssigned"
            ident["userAssignedIdentities"] = {
                self.rg_id(v["resource_group"]) +
                "/providers/Microsoft.ManagedIdentity/userAssignedIdentities/" + u:
                {"principalId": self.identities[u]["principal_id"],
                 "clientId": self.identities[u]["client_id"]}
                for u in v["user_identities"]}
        if ident:
            out["identity"] = ident
        return out

    def instance_view(self, v):
        return {"statuses": [
            {"code": "ProvisioningState/succeeded", "level": "Info",
             "displayStatus": "Provisioning succeeded"},
            {"code": "PowerState/" + v["power"], "level": "Info",
             "displayStatus": "VM " + v["power"]}]}

    def nic_json(self, n):
        v, s = self.find_subnet(n["vnet"], n["subnet"])
        cfg = {"name": "ipconfig1",
               "id": self.nic_id(n) + "/ipConfigurations/ipconfig1",
               "etag": n["etag"],
               "type": "Microsoft.Network/networkInterfaces/ipConfigurations",
               "properties": {"provisioningState": n["state"],
                              "privateIPAddress": n["ip"],
                              "privateIPAllocationMethod": "Dynamic",
                              "subnet": {"id": self.subnet_id(v, s)},
                              "primary": True, "privateIPAddressVersion": "IPv4"}}
        props = {"provisioningState": n["state"],
                 "resourceGuid": str(uuid.uuid5(uuid.NAMESPACE_URL, n["name"])),
                 "ipConfigurations": [cfg],
                 "dnsSettings": {"dnsServers": [], "appliedDnsServers": []},
                 "macAddress": n["mac"], "enableAcceleratedNetworking": False,
                 "vnetEncryptionSupported": False,
                 "enableIPForwarding": bool(n["ip_forwarding"]),
                 "hostedWorkloads": [], "tapConfigurations": [],
                 "nicType": "Standard", "auxiliaryMode": "None"}
        if n.get("vm") and key(n["vm"]) in self.vms:
            props["virtualMachine"] = {"id": self.vm_id(self.vms[key(n["vm"])])}
            props["primary"] = True
        return {"name": n["name"], "id": self.nic_id(n), "etag": n["etag"],
                "type": "Microsoft.Network/networkInterfaces",
                "location": self.location, "kind": "Regular", "properties": props}

    def route_json(self, t, r):
        p = {"provisioningState": r["state"], "addressPrefix": r["prefix"],
             "nextHopType": r["next_hop_type"], "hasBgpOverride": False}
        if r.get("next_hop_ip"):
            p["nextHopIpAddress"] = r["next_hop_ip"]
        return {"name": r["name"], "id": self.table_id(t) + "/routes/" + r["name"],
                "etag": r["etag"], "type": "Microsoft.Network/routeTables/routes",
                "properties": p}

    def table_json(self, t):
        subnets = []
        for v in self.vnets.values():
            for s in v.get("subnets", []):
                if s.get("route_table") and key(s["route_table"]) == key(t["name"]):
                    subnets.append({"id": self.subnet_id(v, s)})
        return {"name": t["name"], "id": self.table_id(t), "etag": t["etag"],
                "type": "Microsoft.Network/routeTables", "location": self.location,
                "properties": {"provisioningState": "Succeeded",
                               "resourceGuid": str(uuid.uuid5(uuid.NAMESPACE_URL, t["name"])),
                               "disableBgpRoutePropagation": False,
                               "routes": [self.route_json(t, r)
                                          for r in t["routes"].values()],
                               "subnets": subnets}}

    def subnet_json(self, v, s):
        p = {"provisioningState": "Succeeded", "addressPrefix": s["prefix"],
             "privateEndpointNetworkPolicies": "Disabled",
             "privateLinkServiceNetworkPolicies": "Enabled"}
        if s.get("route_table") and key(s["route_table"]) in self.tables:
            p["routeTable"] = {"id": self.table_id(self.tables[key(s["route_table"])])}
        return {"name": s["name"], "id": self.subnet_id(v, s),
                "type": "Microsoft.Network/virtualNetworks/subnets",
                "etag": 'W/"%s"' % uuid.uuid5(uuid.NAMESPACE_URL, s["name"]),
                "properties": p}

    def vnet_json(self, v):
        return {"name": v["name"], "id": self.vnet_id(v), "type":
                "Microsoft.Network/virtualNetworks", "location": self.location,
                "etag": 'W/"%s"' % uuid.uuid5(uuid.NAMESPACE_URL, v["name"]),
                "properties": {"provisioningState": "Succeeded",
                               "addressSpace": {"addressPrefixes": v.get("address_space", [])},
                               "subnets": [self.subnet_json(v, s)
                                           for s in v.get("subnets", [])]}}

    # ---- lookups that raise the ARM errors ----------------------------
    def get(self, coll, rg, name, rtype):
        obj = coll.get(key(name))
        if obj is None or key(obj["resource_group"]) != key(rg):
            raise ApiError(404, "ResourceNotFound",
                           "The Resource '%s/%s' under resource group '%s' was not found. "
                           "For more details please go to https://aka.ms/ARMResourceNotFoundFix"
                           % (rtype, name, rg))
        return obj

    # ---- long-running operations --------------------------------------
    def start_op(self, finish=None, result=None):
        """Registers an operation; finish() runs when it completes."""
        oid = str(uuid.uuid4())
        self.ops[oid] = {"id": oid, "polls": 0, "start": time.time(), "finish": finish,
                         "result": result, "status": "InProgress", "fail": None}
        return oid

    def poll_op(self, oid):
        op = self.ops.get(oid)
        if op is None:
            raise ApiError(404, "OperationNotFound", "operation %s not found" % oid)
        op["polls"] += 1
        if op["status"] == "InProgress" and (op["polls"] > self.lro_polls or
                                             time.time() - op["start"] > self.lro_seconds):
            if op["fail"]:
                op["status"] = "Failed"
            else:
                op["status"] = "Succeeded"
                if op["finish"]:
                    op["finish"]()
                    self.version += 1
        return op

    def settle_ops(self):
        """Completes every operation past its time (a client that never polls)."""
        for op in self.ops.values():
            if op["status"] == "InProgress" and time.time() - op["start"] > self.lro_seconds:
                op["polls"] = self.lro_polls
                self.poll_op(op["id"])

    # ---- mutations ------------------------------------------------------
    def put_route(self, t, name, body, if_match, if_none_match):
        if not NAME_RE.match(name):
            raise ApiError(400, "InvalidResourceName",
                           "Resource name %s is invalid. The name can be up to 80 characters "
                           "long. It must begin with a word character, and it must end with a "
                           "word character or with '_'. The name may contain word characters "
                           "or '.', '-', '_'." % name)
        if not isinstance(body, dict) or not isinstance(body.get("properties"), dict):
            raise ApiError(400, "InvalidRequestFormat",
                           "Cannot parse the request: properties missing.")
        p = body["properties"]
        unknown = set(p) - ROUTE_PROPS
        if unknown or set(body) - {"name", "id", "properties", "type", "etag"}:
            raise ApiError(400, "InvalidRequestFormat",
                           "Cannot parse the request: unknown member(s) %s."
                           % sorted(unknown | (set(body) - {"name", "id", "properties",
                                                            "type", "etag"})))
        if body.get("name") not in (None, name):
            raise ApiError(400, "InvalidRequestFormat", "name in body differs from URL")
        nht = p.get("nextHopType")
        if nht not in NEXT_HOP_TYPES:
            raise ApiError(400, "InvalidRequestFormat",
                           "Cannot parse the request: nextHopType '%s' is not one of %s."
                           % (nht, ", ".join(NEXT_HOP_TYPES)))
        pfx = p.get("addressPrefix")
        try:
            net = ipaddress.ip_network(pfx, strict=True)
        except (TypeError, ValueError):
            raise ApiError(400, "InvalidRouteAddressPrefix" if pfx else "MissingRouteAddressPrefix",
                           "Route %s has an invalid AddressPrefix %r." % (name, pfx))
        nh = p.get("nextHopIpAddress")
        if nht == "VirtualAppliance":
            try:
                ipaddress.ip_address(nh)
            except (TypeError, ValueError):
                raise ApiError(400, "InvalidNextHopIpAddress" if nh else
                               "VirtualApplianceNextHopIpAddressMissing",
                               "Route %s: a VirtualAppliance next hop needs a valid "
                               "nextHopIpAddress, got %r." % (name, nh))
        elif nh:
            raise ApiError(400, "NextHopIpAddressNotAllowed",
                           "Route %s: nextHopIpAddress is only allowed for VirtualAppliance."
                           % name)
        cur = t["routes"].get(key(name))
        self.check_etag(cur, if_match, if_none_match, "route " + name)
        for other in t["routes"].values():
            if key(other["name"]) != key(name) and _is_cidr(other["prefix"]) and \
                    ipaddress.ip_network(other["prefix"], strict=False) == net:
                raise ApiError(400, "RouteConflict",
                               "Route: %s conflicts with Route: %s. Routes cannot have the "
                               "same AddressPrefix." % (name, other["name"]))
        if cur is None and len(t["routes"]) >= t.get("max_routes", 400):
            raise ApiError(400, "RouteTableRoutesLimitReached",
                           "Route table %s has reached its limit of %d routes."
                           % (t["name"], t.get("max_routes", 400)))
        r = {"name": cur["name"] if cur else name, "prefix": str(net),
             "next_hop_type": nht, "next_hop_ip": nh if nht == "VirtualAppliance" else None,
             "state": "Updating"}
        t["etag"] = r["etag"] = etag()
        t["routes"][key(name)] = r
        self.version += 1

        def done():
            r["state"] = "Succeeded"
        return cur is None, r, done

    def delete_route(self, t, name, if_match):
        cur = t["routes"].get(key(name))
        if cur is None:
            return None
        self.check_etag(cur, if_match, None, "route " + name)
        cur["state"] = "Deleting"

        def done():
            if t["routes"].get(key(name)) is cur:
                del t["routes"][key(name)]
                t["etag"] = etag()
        return done

    def put_nic(self, n, body, if_match, if_none_match):
        self.check_etag(n, if_match, if_none_match, "network interface " + n["name"])
        if not isinstance(body, dict) or not isinstance(body.get("properties"), dict):
            raise ApiError(400, "InvalidRequestFormat",
                           "Cannot parse the request: properties missing.")
        if str(body.get("location", "")).lower().replace(" ", "") != self.location:
            raise ApiError(400, "LocationRequired" if not body.get("location") else
                           "InvalidResourceLocation",
                           "The location property is required for this definition and "
                           "must be '%s'." % self.location)
        p = body["properties"]
        cfgs = p.get("ipConfigurations")
        if not isinstance(cfgs, list) or not cfgs:
            raise ApiError(400, "NetworkInterfaceMustHaveAtLeastOneIpConfiguration",
                           "Network interface %s must have at least one IP configuration "
                           "(a PUT replaces the whole NIC)." % self.nic_id(n))
        subnets = []
        for c in cfgs:
            cp = c.get("properties") if isinstance(c, dict) else None
            sid = (cp or {}).get("subnet", {}).get("id") if isinstance(cp, dict) else None
            v, s = self.subnet_by_id(sid)
            if s is None or c.get("name") != "ipconfig1":
                raise ApiError(400, "InvalidRequestFormat",
                               "ipConfigurations[].properties.subnet.id is missing or "
                               "names no subnet: %r" % sid)
            if (cp.get("privateIPAllocationMethod") == "Static" or
                    cp.get("privateIPAddress")) and cp.get("privateIPAddress") != n["ip"]:
                raise ApiError(400, "PrivateIPAddressInUse",
                               "the private IP address of ipconfig1 cannot change here")
            subnets.append(sid)
        fwd = p.get("enableIPForwarding", False)
        if not isinstance(fwd, bool):
            raise ApiError(400, "InvalidRequestFormat", "enableIPForwarding must be a boolean")
        n["ip_forwarding"] = fwd
        n["etag"] = etag()
        n["state"] = "Updating"
        self.version += 1

        def done():
            n["state"] = "Succeeded"
        return subnets, done

    @staticmethod
    def check_etag(cur, if_match, if_none_match, what):
        if if_match is not None and if_match != "*":
            if cur is None or if_match != cur["etag"]:
                raise ApiError(412, "PreconditionFailed",
                               "Precondition failed for %s: If-Match %s does not match the "
                               "current etag." % (what, if_match))
        if if_match == "*" and cur is None:
            raise ApiError(412, "PreconditionFailed", "%s does not exist (If-Match: *)" % what)
        if if_none_match == "*" and cur is not None:
            raise ApiError(412, "PreconditionFailed", "%s exists (If-None-Match: *)" % what)

    def dump(self):
        return {"version": self.version, "subscription": self.sub,
                "vms": {v["name"]: {"power": v["power"], "nics": v.get("nics", [])}
                        for v in self.vms.values()},
                "nics": {n["name"]: {"ip": n["ip"], "ip_forwarding": n["ip_forwarding"],
                                     "vm": n.get("vm"), "etag": n["etag"],
                                     "state": n["state"]}
                         for n in self.nics.values()},
                "route_tables": {t["name"]: {"etag": t["etag"], "routes": {
                    r["name"]: {"prefix": r["prefix"], "next_hop_type": r["next_hop_type"],
                                "next_hop_ip": r.get("next_hop_ip"), "state": r["state"]}
                    for r in t["routes"].values()}} for t in self.tables.values()}}


def _is_cidr(s):
    try:
        ipaddress.ip_network(s, strict=False)
        return True
    except ValueError:
        return False


def load_file(path, **kw):
    try:
        with open(path, encoding="utf-8") as f:
            return World(json.load(f), **kw)
    except (OSError, ValueError) as e:
        raise ScenarioError("%s: %s" % (path, e))
