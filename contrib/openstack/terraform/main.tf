# A cloudroute connector on OpenStack (terraform-provider-openstack): an
# application credential restricted to the Neutron calls cloudroute makes
# (the same list as ../access-rules.json), a security group, a port on the
# tenant subnet and a server with ../user-data.yaml filled in.
#
# cloudroute adds allowed_address_pairs to the port and extra routes to the
# subnet's router itself: keep them out of Terraform (no allowed_address_pairs
# block here, and no openstack_networking_router_route_v2 for these prefixes),
# or Terraform and cloudroute will undo each other.

terraform {
  required_providers {
    openstack = { source = "terraform-provider-openstack/openstack" }
  }
}

variable "image" { type = string }
variable "flavor" { type = string }
variable "key_name" { type = string }
variable "network_id" { type = string }
variable "subnet_id" { type = string }
variable "subnet_cidr" { type = string }
variable "auth_url" {
  type    = string
  default = "https://keystone.example.net:5000/v3"
}
variable "region" {
  type    = string
  default = "RegionOne"
}
variable "hub_public_key" { type = string }
variable "hub_endpoint" {
  type    = string
  default = "hub.example.net:51820"
}

resource "openstack_identity_application_credential_v3" "cloudroute" {
  name        = "cloudroute"
  description = "cloudroute connector: address pairs and extra routes"
  access_rules {
    service = "network"
    method  = "GET"
    path    = "/v2.0/ports"
  }
  access_rules {
    service = "network"
    method  = "GET"
    path    = "/v2.0/ports/*"
  }
  access_rules {
    service = "network"
    method  = "PUT"
    path    = "/v2.0/ports/*"
  }
  access_rules {
    service = "network"
    method  = "GET"
    path    = "/v2.0/routers/*"
  }
  access_rules {
    service = "network"
    method  = "PUT"
    path    = "/v2.0/routers/*/add_extraroutes"
  }
  access_rules {
    service = "network"
    method  = "PUT"
    path    = "/v2.0/routers/*/remove_extraroutes"
  }
}

resource "openstack_networking_secgroup_v2" "cloudroute" {
  name        = "cloudroute"
  description = "cloudroute connector"
}

resource "openstack_networking_secgroup_rule_v2" "wireguard" {
  security_group_id = openstack_networking_secgroup_v2.cloudroute.id
  direction         = "ingress"
  ethertype         = "IPv4"
  protocol          = "udp"
  port_range_min    = 51820
  port_range_max    = 51820
}

resource "openstack_networking_secgroup_rule_v2" "tenant" {
  security_group_id = openstack_networking_secgroup_v2.cloudroute.id
  direction         = "ingress"
  ethertype         = "IPv4"
  remote_ip_prefix  = var.subnet_cidr
}

resource "openstack_networking_port_v2" "cloudroute" {
  name               = "cloudroute"
  network_id         = var.network_id
  security_group_ids = [openstack_networking_secgroup_v2.cloudroute.id]
  fixed_ip {
    subnet_id = var.subnet_id
  }
  # cloudroute owns its address pairs: do not fight over them.
  lifecycle {
    ignore_changes = [allowed_address_pairs]
  }
}

locals {
  user_data = replace(replace(replace(replace(replace(replace(
    file("${path.module}/../user-data.yaml"),
    "https://keystone.example.net:5000/v3", var.auth_url),
    "RegionOne", var.region),
    "REPLACE-WITH-THE-APPLICATION-CREDENTIAL-ID", openstack_identity_application_credential_v3.cloudroute.id),
    "REPLACE-WITH-THE-APPLICATION-CREDENTIAL-SECRET", openstack_identity_application_credential_v3.cloudroute.secret),
    "REPLACE-WITH-THE-HUB-PUBLIC-KEY-BASE64-44CHARS=", var.hub_public_key),
    "hub.example.net:51820", var.hub_endpoint)
}

resource "openstack_compute_instance_v2" "cloudroute" {
  name      = "cloudroute"
  image_name = var.image
  flavor_name = var.flavor
  key_pair  = var.key_name
  user_data = local.user_data
  network {
    port = openstack_networking_port_v2.cloudroute.id
  }
}

output "connector_ip" {
  value = openstack_networking_port_v2.cloudroute.all_fixed_ips[0]
}
