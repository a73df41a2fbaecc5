"""EC2 Query API operations of the fake cloud, over the in-memory State.

Request side: the flattened query parameters (Filter.1.Name, Filter.1.Value.1,
RouteTableId.1, Tag.1.Key ...), checked strictly: an unknown parameter is
UnknownParameter, as real EC2 answers.  Response side: the EC2 XML shapes of
API version 2016-11-15 (element names checked against botocore's
data/ec2/2016-11-15/service-2.json: locationName of each member).

dispatch() is called with State.lock held by the caller.
"""

import base64
import fnmatch
import ipaddress
import json
import re
from xml.sax.saxutils import escape

from state import TARGETS, INSTANCE_CODES, iso8601, _short_hash

NS = "http://ec2.amazonaws.com/doc/2016-11-15/"
VERSION = "2016-11-15"
# Route target: query parameter name -> State key -> XML element name.
TARGET_PARAMS = [("GatewayId", "gateway_id", "gatewayId"),
                 ("NetworkInterfaceId", "network_interface_id", "networkInterfaceId"),
                 ("InstanceId", "instance_id", "instanceId"),
                 ("NatGatewayId", "nat_gateway_id", "natGatewayId"),
                 ("TransitGatewayId", "transit_gateway_id", "transitGatewayId"),
                 ("VpcPeeringConnectionId", "vpc_peering_connection_id",
                  "vpcPeeringConnectionId"),
                 ("EgressOnlyInternetGatewayId", "egress_only_internet_gateway_id",
                  "egressOnlyInternetGatewayId"),
                 ("LocalGatewayId", "local_gateway_id", "localGatewayId"),
                 ("CarrierGatewayId", "carrier_gateway_id", "carrierGatewayId")]
assert [t[1] for t in TARGET_PARAMS] == list(TARGETS)


class ApiError(Exception):
    def __init__(self, code, message, status=400):
        super().__init__(message)
        self.code, self.message, self.status = code, message, status


# ---- XML ----------------------------------------------------------------
def render(nodes):
    """nodes: list of (tag, value); value str/int/bool/list-of-nodes/None."""
    out = []
    for tag, val in nodes:
        if val is None:
            continue
        if isinstance(val, bool):
            out.append("<%s>%s</%s>" % (tag, "true" if val else "false", tag))
        elif isinstance(val, list):
            inner = render(val)
            out.append("<%s>%s</%s>" % (tag, inner, tag) if inner else "<%s/>" % tag)
        else:
            out.append("<%s>%s</%s>" % (tag, escape(str(val)), tag))
    return "".join(out)


def response_xml(action, request_id, nodes):
    return ('<?xml version="1.0" encoding="UTF-8"?>\n<%sResponse xmlns="%s">'
            '<requestId>%s</requestId>%s</%sResponse>\n'
            % (action, NS, request_id, render(nodes), action))


def error_xml(code, message, request_id):
    return ('<?xml version="1.0" encoding="UTF-8"?>\n<Response><Errors><Error>'
            '<Code>%s</Code><Message>%s</Message></Error></Errors>'
            '<RequestID>%s</RequestID></Response>\n'
            % (escape(code), escape(message), request_id))


def tag_set(tags):
    return [("item", [("key", k), ("value", v)]) for k, v in sorted(tags.items())]


# ---- parameters ---------------------------------------------------------
def indexed(params, prefix):
    """Values of PREFIX.1, PREFIX.2 ... in index order."""
    rx = re.compile(re.escape(prefix) + r"\.([1-9][0-9]*)$")
    found = sorted((int(m.group(1)), v) for k, v in params.items()
                   for m in [rx.match(k)] if m)
    return [v for _, v in found]


def filters(params, prefix="Filter"):
    out = []
    rx = re.compile(re.escape(prefix) + r"\.([1-9][0-9]*)\.Name$")
    for n in sorted(int(m.group(1)) for k in params for m in [rx.match(k)] if m):
        name = params["%s.%d.Name" % (prefix, n)]
        vals = indexed(params, "%s.%d.Value" % (prefix, n))
        if not vals:
            raise ApiError("InvalidParameterValue",
                           "The filter '%s' requires at least one value" % name)
        out.append((name, vals))
    return out


def tag_params(params, need_key=True):
    tags = []
    rx = re.compile(r"Tag\.([1-9][0-9]*)\.(Key|Value)$")
    for n in sorted({int(m.group(1)) for k in params for m in [rx.match(k)] if m}):
        key = params.get("Tag.%d.Key" % n)
        if key is None:
            raise ApiError("MissingParameter", "Tag.%d.Key is required" % n)
        tags.append((key, params.get("Tag.%d.Value" % n)))
    return tags


def required(params, name):
    v = params.get(name)
    if v is None or v == "":
        raise ApiError("MissingParameter",
                       "The request must contain the parameter %s" % name)
    return v


def boolean(value, name):
    if value.lower() in ("true", "false"):
        return value.lower() == "true"
    raise ApiError("InvalidParameterValue",
                   "Value (%s) for parameter %s is invalid. Expected: 'true' or "
                   "'false'." % (value, name))


def paginate(params, items, lo, hi, action):
    """MaxResults/NextToken over a list; returns (page, next_token)."""
    start = 0
    tok = params.get("NextToken")
    if tok:
        try:
            d = json.loads(base64.urlsafe_b64decode(tok.encode()).decode())
            start = int(d["o"])
            if d["a"] != action or start < 0:
                raise ValueError
        except (ValueError, KeyError, TypeError, UnicodeDecodeError):
            raise ApiError("InvalidPaginationToken",
                           "The pagination token '%s' is invalid" % tok)
    if "MaxResults" not in params:
        return items[start:], None
    try:
        mr = int(params["MaxResults"])
    except ValueError:
        mr = -1
    if not lo <= mr <= hi:
        raise ApiError("InvalidParameterValue",
                       "Value ( %s ) for parameter maxResults is invalid. Expecting "
                       "a value between %d and %d." % (params["MaxResults"], lo, hi))
    page = items[start:start + mr]
    nxt = None
    if start + mr < len(items):
        nxt = base64.urlsafe_b64encode(json.dumps(
            {"a": action, "o": start + mr}).encode()).decode()
    return page, nxt


def match_filters(flist, values_of, what):
    """values_of(name) -> list of strings, or None for an unknown filter."""
    for name, pats in flist:
        vals = values_of(name)
        if vals is None:
            raise ApiError("InvalidParameterValue",
                           "The filter '%s' is invalid for %s" % (name, what))
        if not any(fnmatch.fnmatchcase(v, p) for v in vals for p in pats):
            return False
    return True


def tag_filter(tags, name):
    if name == "tag-key":
        return list(tags)
    if name == "tag-value":
        return list(tags.values())
    if name.startswith("tag:"):
        k = name[4:]
        return [tags[k]] if k in tags else []
    return None


def cidr_param(params, name):
    try:
        return str(ipaddress.ip_network(params[name], strict=True))
    except ValueError:
        raise ApiError("InvalidParameterValue",
                       "Value (%s) for parameter %s%s is invalid. This is not a "
                       "valid CIDR block." % (params[name], name[0].lower(), name[1:]))


def destination(params):
    given = [n for n in ("DestinationCidrBlock", "DestinationIpv6CidrBlock",
                         "DestinationPrefixListId") if n in params]
    if len(given) != 1:
        raise ApiError("MissingParameter" if not given else
                       "InvalidParameterCombination",
                       "The request must contain exactly one of "
                       "destinationCidrBlock, destinationIpv6CidrBlock or "
                       "destinationPrefixListId")
    if given[0] == "DestinationPrefixListId":
        raise ApiError("InvalidParameterValue",
                       "prefix-list destinations are not supported by the fake")
    dest = cidr_param(params, given[0])
    v6 = ipaddress.ip_network(dest).version == 6
    if v6 != (given[0] == "DestinationIpv6CidrBlock"):
        raise ApiError("InvalidParameterValue",
                       "Value (%s) for parameter %s is invalid" % (dest, given[0]))
    return dest


# ---- lookups ------------------------------------------------------------
def get_table(st, rtb):
    if not rtb.startswith("rtb-"):
        raise ApiError("InvalidRouteTableId.Malformed", 'Invalid id: "%s"' % rtb)
    if rtb not in st.route_tables:
        raise ApiError("InvalidRouteTableID.NotFound",
                       "The routeTable ID '%s' does not exist" % rtb)
    return st.route_tables[rtb]


def get_eni(st, eni):
    if not eni.startswith("eni-"):
        raise ApiError("InvalidNetworkInterfaceId.Malformed", 'Invalid id: "%s"' % eni)
    if not st.eni_live(eni):
        raise ApiError("InvalidNetworkInterfaceID.NotFound",
                       "The networkInterface ID '%s' does not exist" % eni)
    return st.enis[eni]


def get_instance(st, iid):
    if iid not in st.instances:
        raise ApiError("InvalidInstanceID.NotFound",
                       "The instance ID '%s' does not exist" % iid)
    return st.instances[iid]


def route_target(st, params, table):
    """-> {state key: value} for the one target of Create/ReplaceRoute."""
    given = [(p, k) for (p, k, _) in TARGET_PARAMS if p in params]
    if not given:
        raise ApiError("MissingParameter",
                       "The request must contain exactly one of gatewayId, "
                       "natGatewayId, networkInterfaceId, vpcPeeringConnectionId, "
                       "egressOnlyInternetGatewayId, transitGatewayId, "
                       "localGatewayId, carrierGatewayId or instanceId")
    if len(given) > 1:
        raise ApiError("InvalidParameterCombination",
                       "More than one target was specified: %s"
                       % ", ".join(p for p, _ in given))
    pname, key = given[0]
    val = params[pname]
    if key == "network_interface_id":
        eni = get_eni(st, val)
        if eni["vpc"] != table["vpc"]:
            raise ApiError("InvalidParameterValue",
                           "route table %s and network interface %s belong to "
                           "different networks" % (table["id"], val))
    elif key == "instance_id":
        inst = get_instance(st, val)
        eni = st.primary_eni(val)
        if inst["state"] == "terminated" or eni is None:
            raise ApiError("IncorrectInstanceState",
                           "The instance '%s' is not in a state from which it can "
                           "be used as a route target" % val)
        if eni["vpc"] != table["vpc"]:
            raise ApiError("InvalidParameterValue",
                           "route table %s and instance %s belong to different "
                           "networks" % (table["id"], val))
        return {"network_interface_id": eni["id"]}
    elif key == "gateway_id" and not re.match(r"^(igw|vgw)-[0-9a-z]+$", val):
        raise ApiError("InvalidGatewayID.NotFound",
                       "The gateway ID '%s' does not exist" % val)
    return {key: val}


def find_route(table, dest):
    for r in table["routes"]:
        if r["destination"] == dest:
            return r
    return None


# ---- operations: route tables ------------------------------------------
def route_item(st, r):
    v6 = ":" in r["destination"]
    nodes = [("destinationIpv6CidrBlock" if v6 else "destinationCidrBlock",
              r["destination"])]
    for _, key, tag in TARGET_PARAMS:
        if key != "instance_id" and r.get(key):
            nodes.append((tag, r[key]))
    inst = st.route_instance(r)
    if inst:
        nodes += [("instanceId", inst), ("instanceOwnerId", st.account)]
    nodes += [("origin", r["origin"]), ("state", st.route_state(r))]
    return ("item", nodes)


def table_item(st, t):
    assocs = []
    if t["main"]:
        assocs.append(("item", [("main", True),
                                ("routeTableAssociationId", st.assoc_id(t["id"])),
                                ("routeTableId", t["id"]),
                                ("associationState", [("state", "associated")])]))
    for sub in t["associations"]:
        assocs.append(("item", [("main", False),
                                ("routeTableAssociationId",
                                 st.assoc_id(t["id"], sub)),
                                ("routeTableId", t["id"]), ("subnetId", sub),
                                ("associationState", [("state", "associated")])]))
    return ("item", [("routeTableId", t["id"]), ("vpcId", t["vpc"]),
                     ("ownerId", st.account),
                     ("routeSet", [route_item(st, r) for r in t["routes"]]),
                     ("associationSet", assocs), ("propagatingVgwSet", []),
                     ("tagSet", tag_set(t["tags"]))])


def table_filter_values(st, t, name):
    routes = t["routes"]

    def rv(key):
        return [r[key] for r in routes if r.get(key)]
    simple = {
        "route-table-id": [t["id"]], "vpc-id": [t["vpc"]], "owner-id": [st.account],
        "association.main": (["true"] if t["main"] else []) +
                            (["false"] if t["associations"] else []),
        "association.subnet-id": list(t["associations"]),
        "association.route-table-id": [t["id"]] if t["main"] or t["associations"] else [],
        "association.route-table-association-id":
            ([st.assoc_id(t["id"])] if t["main"] else []) +
            [st.assoc_id(t["id"], s) for s in t["associations"]],
        "route.destination-cidr-block":
            [r["destination"] for r in routes if ":" not in r["destination"]],
        "route.destination-ipv6-cidr-block":
            [r["destination"] for r in routes if ":" in r["destination"]],
        "route.gateway-id": rv("gateway_id"),
        "route.network-interface-id": rv("network_interface_id"),
        "route.instance-id": [i for i in (st.route_instance(r) for r in routes) if i],
        "route.nat-gateway-id": rv("nat_gateway_id"),
        "route.transit-gateway-id": rv("transit_gateway_id"),
        "route.vpc-peering-connection-id": rv("vpc_peering_connection_id"),
        "route.origin": [r["origin"] for r in routes],
        "route.state": [st.route_state(r) for r in routes],
    }
    if name in simple:
        return simple[name]
    return tag_filter(t["tags"], name)


def op_describe_route_tables(st, p, ctx):
    ids = indexed(p, "RouteTableId")
    tables = [get_table(st, i) for i in ids] if ids else list(st.route_tables.values())
    fl = filters(p)
    tables = [t for t in tables
              if match_filters(fl, lambda n, t=t: table_filter_values(st, t, n),
                               "route tables")]
    page, nxt = paginate(p, tables, 5, 100, "DescribeRouteTables")
    return [("routeTableSet", [table_item(st, t) for t in page]), ("nextToken", nxt)]


def op_create_route(st, p, ctx):
    table = get_table(st, required(p, "RouteTableId"))
    dest = destination(p)
    target = route_target(st, p, table)
    if find_route(table, dest):
        raise ApiError("RouteAlreadyExists",
                       "The route identified by %s already exists." % dest)
    if len(table["routes"]) >= st.route_limit:
        raise ApiError("RouteLimitExceeded",
                       "The maximum number of routes (%d) has been reached for "
                       "route table %s." % (st.route_limit, table["id"]))
    route = {"destination": dest, "origin": "CreateRoute"}
    route.update(target)
    table["routes"].append(route)
    st.bump()
    return [("return", True)]


def op_replace_route(st, p, ctx):
    table = get_table(st, required(p, "RouteTableId"))
    dest = destination(p)
    target = route_target(st, p, table)
    r = find_route(table, dest)
    if r is None:
        raise ApiError("InvalidParameterValue",
                       "There is no route defined for '%s' in the route table. "
                       "Use CreateRoute instead." % dest)
    if r.get("gateway_id") == "local" or r["origin"] != "CreateRoute":
        raise ApiError("InvalidParameterValue",
                       "cannot replace %s route %s in route table %s"
                       % ("local" if r.get("gateway_id") == "local" else "propagated",
                          dest, table["id"]))
    for k in TARGETS + ("forced_blackhole",):
        r.pop(k, None)
    r.update(target)
    st.bump()
    return [("return", True)]


def op_delete_route(st, p, ctx):
    table = get_table(st, required(p, "RouteTableId"))
    dest = destination(p)
    r = find_route(table, dest)
    if r is None:
        raise ApiError("InvalidRoute.NotFound",
                       "no route with destination-cidr-block %s in route table %s"
                       % (dest, table["id"]))
    if r.get("gateway_id") == "local" or r["origin"] == "EnableVgwRoutePropagation":
        raise ApiError("InvalidParameterValue",
                       "cannot remove %s route %s in route table %s"
                       % ("local" if r.get("gateway_id") == "local" else "propagated",
                          dest, table["id"]))
    table["routes"].remove(r)
    st.bump()
    return [("return", True)]


# ---- operations: network interfaces -------------------------------------
def eni_item(st, e):
    inst = st.instances.get(e["instance"] or "")
    attach = None
    if inst:
        attach = [("attachmentId", "eni-attach-" + _short_hash(e["id"])),
                  ("instanceId", inst["id"]), ("instanceOwnerId", st.account),
                  ("deviceIndex", e["device_index"]), ("networkCardIndex", 0),
                  ("status", "attached"), ("attachTime", iso8601(st.started)),
                  ("deleteOnTermination", e["device_index"] == 0)]
    sub = st.subnets[e["subnet"]]
    dns = "ip-%s.%s.compute.internal" % (e["ip"].replace(".", "-"), st.region)
    return ("item", [
        ("networkInterfaceId", e["id"]), ("subnetId", e["subnet"]),
        ("vpcId", e["vpc"]), ("availabilityZone", sub["availability_zone"]),
        ("description", e["description"]), ("ownerId", st.account),
        ("requesterManaged", False),
        ("status", "in-use" if inst else "available"),
        ("macAddress", e["mac"]), ("privateIpAddress", e["ip"]),
        ("privateDnsName", dns), ("sourceDestCheck", e["source_dest_check"]),
        ("groupSet", []), ("attachment", attach),
        ("tagSet", tag_set(e["tags"])),
        ("privateIpAddressesSet", [("item", [("privateIpAddress", e["ip"]),
                                             ("privateDnsName", dns),
                                             ("primary", True)])]),
        ("ipv6AddressesSet", []), ("interfaceType", "interface")])


def eni_filter_values(st, e, name):
    simple = {
        "network-interface-id": [e["id"]], "subnet-id": [e["subnet"]],
        "vpc-id": [e["vpc"]], "mac-address": [e["mac"]],
        "private-ip-address": [e["ip"]], "addresses.private-ip-address": [e["ip"]],
        "attachment.instance-id": [e["instance"]] if e["instance"] else [],
        "attachment.device-index": [str(e["device_index"])] if e["instance"] else [],
        "status": ["in-use" if e["instance"] else "available"],
        "source-dest-check": ["true" if e["source_dest_check"] else "false"],
        "description": [e["description"]], "owner-id": [st.account],
        "availability-zone": [st.subnets[e["subnet"]]["availability_zone"]],
    }
    if name in simple:
        return simple[name]
    return tag_filter(e["tags"], name)


def op_describe_network_interfaces(st, p, ctx):
    ids = indexed(p, "NetworkInterfaceId")
    enis = ([get_eni(st, i) for i in ids] if ids else
            [e for e in st.enis.values() if not e["deleted"]])
    fl = filters(p)
    enis = [e for e in enis
            if match_filters(fl, lambda n, e=e: eni_filter_values(st, e, n),
                             "network interfaces")]
    page, nxt = paginate(p, enis, 5, 1000, "DescribeNetworkInterfaces")
    return [("networkInterfaceSet", [eni_item(st, e) for e in page]),
            ("nextToken", nxt)]


def op_modify_network_interface_attribute(st, p, ctx):
    eni = get_eni(st, required(p, "NetworkInterfaceId"))
    attrs = [a for a in ("SourceDestCheck.Value", "Description.Value") if a in p]
    if len(attrs) != 1:
        raise ApiError("InvalidParameterCombination",
                       "Exactly one attribute must be specified")
    if attrs[0] == "SourceDestCheck.Value":
        val = boolean(p["SourceDestCheck.Value"], "sourceDestCheck")
        if eni["source_dest_check"] != val:
            eni["source_dest_check"] = val
            st.bump()
    else:
        eni["description"] = p["Description.Value"]
        st.bump()
    return [("return", True)]


# ---- operations: tags ---------------------------------------------------
RESOURCE_KINDS = [("eni-", "enis", "InvalidNetworkInterfaceID.NotFound"),
                  ("rtb-", "route_tables", "InvalidRouteTableID.NotFound"),
                  ("i-", "instances", "InvalidInstanceID.NotFound"),
                  ("vpc-", "vpcs", "InvalidVpcID.NotFound"),
                  ("subnet-", "subnets", "InvalidSubnetID.NotFound")]


def resource(st, rid):
    for prefix, attr, code in RESOURCE_KINDS:
        if rid.startswith(prefix):
            obj = getattr(st, attr).get(rid)
            if obj is None or obj.get("deleted"):
                raise ApiError(code, "The ID '%s' does not exist" % rid)
            return obj
    raise ApiError("InvalidID", "The ID '%s' is not valid" % rid)


def op_create_tags(st, p, ctx):
    ids = indexed(p, "ResourceId")
    tags = tag_params(p)
    if not ids:
        raise ApiError("MissingParameter", "The request must contain the parameter ResourceId")
    if not tags:
        raise ApiError("MissingParameter", "The request must contain the parameter Tag")
    objs = [resource(st, i) for i in ids]
    for k, v in tags:
        if k.lower().startswith("aws:"):
            raise ApiError("InvalidParameterValue",
                           "Tag keys starting with 'aws:' are reserved for internal use")
        if not 1 <= len(k) <= 128 or len(v or "") > 256:
            raise ApiError("InvalidParameterValue", "Tag key or value too long")
    for o in objs:
        if len(set(o["tags"]) | {k for k, _ in tags}) > 50:
            raise ApiError("TagLimitExceeded",
                           "The maximum number of Tags for a resource has been reached.")
    for o in objs:
        for k, v in tags:
            o["tags"][k] = v or ""
    st.bump()
    return [("return", True)]


def op_delete_tags(st, p, ctx):
    ids = indexed(p, "ResourceId")
    if not ids:
        raise ApiError("MissingParameter", "The request must contain the parameter ResourceId")
    tags = tag_params(p)
    objs = [resource(st, i) for i in ids]
    for o in objs:
        if not tags:
            o["tags"].clear()
        for k, v in tags:
            if k in o["tags"] and (v is None or o["tags"][k] == v):
                del o["tags"][k]
    st.bump()
    return [("return", True)]


# ---- operations: instances ----------------------------------------------
def instance_item(st, inst):
    enis = sorted((e for e in st.enis.values()
                   if e["instance"] == inst["id"] and not e["deleted"]),
                  key=lambda e: e["device_index"])
    prim = enis[0] if enis else None
    return ("item", [
        ("instanceId", inst["id"]), ("imageId", "ami-0fake0000000000001"),
        ("instanceState", [("code", INSTANCE_CODES[inst["state"]]),
                           ("name", inst["state"])]),
        ("instanceType", inst["instance_type"]),
        ("placement", [("availabilityZone", st.az)]),
        ("privateIpAddress", prim["ip"] if prim else None),
        ("subnetId", prim["subnet"] if prim else None),
        ("vpcId", prim["vpc"] if prim else None),
        ("sourceDestCheck", prim["source_dest_check"] if prim else None),
        ("tagSet", tag_set(inst["tags"])),
        ("networkInterfaceSet", [
            ("item", [("networkInterfaceId", e["id"]), ("subnetId", e["subnet"]),
                      ("vpcId", e["vpc"]), ("macAddress", e["mac"]),
                      ("privateIpAddress", e["ip"]),
                      ("sourceDestCheck", e["source_dest_check"]),
                      ("attachment", [("deviceIndex", e["device_index"]),
                                      ("status", "attached")])]) for e in enis])])


def op_describe_instances(st, p, ctx):
    ids = indexed(p, "InstanceId")
    insts = [get_instance(st, i) for i in ids] if ids else list(st.instances.values())
    fl = filters(p)

    def values(inst, name):
        enis = [e for e in st.enis.values() if e["instance"] == inst["id"]]
        simple = {"instance-id": [inst["id"]], "instance-state-name": [inst["state"]],
                  "vpc-id": [e["vpc"] for e in enis],
                  "subnet-id": [e["subnet"] for e in enis],
                  "private-ip-address": [e["ip"] for e in enis],
                  "network-interface.network-interface-id": [e["id"] for e in enis]}
        return simple[name] if name in simple else tag_filter(inst["tags"], name)
    insts = [i for i in insts
             if match_filters(fl, lambda n, i=i: values(i, n), "instances")]
    page, nxt = paginate(p, insts, 5, 1000, "DescribeInstances")
    return [("reservationSet", [
        ("item", [("reservationId", "r-" + _short_hash(i["id"])),
                  ("ownerId", st.account), ("groupSet", []),
                  ("instancesSet", [instance_item(st, i)])]) for i in page]),
        ("nextToken", nxt)]


def op_terminate_instances(st, p, ctx):
    ids = indexed(p, "InstanceId")
    if not ids:
        raise ApiError("MissingParameter", "The request must contain the parameter InstanceId")
    insts = [get_instance(st, i) for i in ids]
    items = []
    for inst in insts:
        prev = st.terminate(inst["id"]) if inst["state"] != "terminated" else "terminated"
        cur = "terminated" if prev == "terminated" else "shutting-down"
        items.append(("item", [("instanceId", inst["id"]),
                               ("currentState", [("code", INSTANCE_CODES[cur]),
                                                 ("name", cur)]),
                               ("previousState", [("code", INSTANCE_CODES[prev]),
                                                  ("name", prev)])]))
    return [("instancesSet", items)]


# ---- dispatch -----------------------------------------------------------
_PAGE = [r"MaxResults", r"NextToken", r"Filter\.\d+\.Name", r"Filter\.\d+\.Value\.\d+"]
_DEST = [r"DestinationCidrBlock", r"DestinationIpv6CidrBlock", r"DestinationPrefixListId"]
_TGT = [t[0] for t in TARGET_PARAMS]
# action -> (handler, mutating, accepted parameters, resource parameter)
OPS = {
    "DescribeRouteTables": (op_describe_route_tables, False,
                            _PAGE + [r"RouteTableId\.\d+"], None),
    "CreateRoute": (op_create_route, True, ["RouteTableId"] + _DEST + _TGT,
                    "RouteTableId"),
    "ReplaceRoute": (op_replace_route, True,
                     ["RouteTableId", "LocalTarget"] + _DEST + _TGT, "RouteTableId"),
    "DeleteRoute": (op_delete_route, True, ["RouteTableId"] + _DEST, "RouteTableId"),
    "DescribeNetworkInterfaces": (op_describe_network_interfaces, False,
                                  _PAGE + [r"NetworkInterfaceId\.\d+"], None),
    "ModifyNetworkInterfaceAttribute": (
        op_modify_network_interface_attribute, True,
        ["NetworkInterfaceId", r"SourceDestCheck\.Value", r"Description\.Value"],
        "NetworkInterfaceId"),
    "CreateTags": (op_create_tags, True,
                   [r"ResourceId\.\d+", r"Tag\.\d+\.Key", r"Tag\.\d+\.Value"],
                   "ResourceId.1"),
    "DeleteTags": (op_delete_tags, True,
                   [r"ResourceId\.\d+", r"Tag\.\d+\.Key", r"Tag\.\d+\.Value"],
                   "ResourceId.1"),
    "DescribeInstances": (op_describe_instances, False,
                          _PAGE + [r"InstanceId\.\d+"], None),
    "TerminateInstances": (op_terminate_instances, True, [r"InstanceId\.\d+"],
                           "InstanceId.1"),
}
MUTATING = frozenset(a for a, o in OPS.items() if o[1])
_ACCEPT = {a: re.compile("^(?:Action|Version|DryRun|%s)$" % "|".join(o[2]))
           for a, o in OPS.items()}


def check_request(params):
    """Action and Version present and known, no unknown parameter.
    Returns the action."""
    action = params.get("Action")
    if not action:
        raise ApiError("MissingAction", "The request must contain the parameter Action")
    if action not in OPS:
        raise ApiError("InvalidAction",
                       "The action %s is not valid for this web service." % action)
    ver = params.get("Version")
    if not ver:
        raise ApiError("MissingParameter",
                       "The request must contain the parameter Version")
    if ver != VERSION:
        raise ApiError("NoSuchVersion",
                       "The requested version (%s) is not valid for this fake; "
                       "use %s." % (ver, VERSION))
    for k in params:
        if not _ACCEPT[action].match(k):
            raise ApiError("UnknownParameter",
                           "The parameter %s is not recognized" % k)
    return action


def authorize(st, key, action, params):
    """IAM stand-in: the scenario's deny lists and tag-key restrictions."""
    res_param = OPS[action][3]
    rid = params.get(res_param) if res_param else None
    kinds = {"rtb-": "route-table", "eni-": "network-interface", "i-": "instance"}
    res = "*"
    if rid:
        kind = next((v for k, v in kinds.items() if rid.startswith(k)), "resource")
        res = "arn:aws:ec2:%s:%s:%s/%s" % (st.region, st.account, kind, rid)
    allowed_keys = st.allowed_tag_keys(key)
    bad_tag = (action in ("CreateTags", "DeleteTags") and allowed_keys is not None and
               any(k not in allowed_keys for k, _ in tag_params(params)))
    if not st.denied(key, action) and not bad_tag:
        return
    if key.get("instance"):
        who = "arn:aws:sts::%s:assumed-role/%s/%s" % (st.account, key["role"],
                                                       key["instance"])
    else:
        who = "arn:aws:iam::%s:user/%s" % (st.account, key["id"])
    enc = base64.b64encode(("fake-encoded-" + action).encode()).decode()
    raise ApiError("UnauthorizedOperation",
                   "You are not authorized to perform this operation. User: %s is "
                   "not authorized to perform: ec2:%s on resource: %s because no "
                   "identity-based policy allows the ec2:%s action. Encoded "
                   "authorization failure message: %s"
                   % (who, action, res, action, enc), 403)


def control_call(st, spec):
    """An EC2 call made by the world itself (control endpoint, race faults):
    no credentials, no IAM.  Lock held.  -> (action, body nodes)."""
    params = {str(k): str(v) for k, v in spec.get("params", {}).items()}
    params["Action"] = spec["action"]
    params["Version"] = VERSION
    action = check_request(params)
    return action, OPS[action][0](st, params, {"key": None})


def dispatch(st, action, params, key):
    """Run one checked request (lock held).  Returns the body nodes."""
    authorize(st, key, action, params)
    if params.get("DryRun", "false").lower() == "true":
        raise ApiError("DryRunOperation",
                       "Request would have succeeded, but DryRun flag is set.", 412)
    return OPS[action][0](st, params, {"key": key})
