# cloudroute connector on OCI: an instance with IMDS v1 disabled, the
# dynamic group and least-privilege policy of ../policy.txt (instance
# principals), and ../user-data.yaml as cloud-init user data (edit its
# config first: hub public key, endpoint, addresses).
#
# skipSourceDestCheck is left as the VNIC has it: cloudroute turns it on
# itself, records that it did, and `cloudroute teardown` restores it.
# Terraform is told to ignore that attribute so it does not undo it.
#
# IMPORTANT if Terraform also manages this VCN's route tables: cloudroute adds
# route rules (description "cloudroute ha_group=...") pointing at this
# connector's private IP.  An oci_core_route_table with route_rules blocks
# removes them on the next apply.  Tell Terraform to leave them alone:
#
#   resource "oci_core_route_table" "app" {
#     ...
#     lifecycle {
#       ignore_changes = [route_rules]   # rules added by cloudroute stay
#     }
#   }

terraform {
  required_version = ">= 1.3"
  required_providers {
    oci = {
      source  = "oracle/oci"
      version = ">= 5.0"
    }
  }
}

provider "oci" {
  region = var.region
}

resource "oci_identity_dynamic_group" "connectors" {
  compartment_id = var.tenancy_ocid
  name           = "cloudroute-connectors"
  description    = "cloudroute connectors (instance principals)"
  # Every instance of the connector compartment: keep other workloads out of it.
  matching_rule  = "ALL {instance.compartment.id = '${var.compartment_ocid}'}"
}

resource "oci_identity_policy" "cloudroute" {
  compartment_id = var.network_compartment_ocid
  name           = "cloudroute-connectors"
  description    = "What cloudroute calls: see contrib/oci/policy.txt"
  statements = [
    "Allow dynamic-group cloudroute-connectors to read virtual-network-family in compartment id ${var.network_compartment_ocid}",
    "Allow dynamic-group cloudroute-connectors to use vnics in compartment id ${var.network_compartment_ocid} where request.permission = 'VNIC_UPDATE'",
    "Allow dynamic-group cloudroute-connectors to use private-ips in compartment id ${var.network_compartment_ocid}",
    "Allow dynamic-group cloudroute-connectors to manage route-tables in compartment id ${var.network_compartment_ocid} where request.permission = 'ROUTE_TABLE_UPDATE'",
    "Allow dynamic-group cloudroute-connectors to use internet-gateways in compartment id ${var.network_compartment_ocid}",
    "Allow dynamic-group cloudroute-connectors to use nat-gateways in compartment id ${var.network_compartment_ocid}",
    "Allow dynamic-group cloudroute-connectors to use service-gateways in compartment id ${var.network_compartment_ocid}",
    "Allow dynamic-group cloudroute-connectors to use drgs in compartment id ${var.network_compartment_ocid}",
    "Allow dynamic-group cloudroute-connectors to use local-peering-gateways in compartment id ${var.network_compartment_ocid}",
  ]
}

resource "oci_core_instance" "connector" {
  compartment_id      = var.compartment_ocid
  availability_domain = var.availability_domain
  shape               = var.shape
  display_name        = "cloudroute-connector"

  shape_config {
    ocpus         = 1
    memory_in_gbs = 4
  }

  source_details {
    source_type = "image"
    source_id   = var.image_ocid
  }

  create_vnic_details {
    subnet_id        = var.subnet_ocid
    assign_public_ip = true
  }

  instance_options {
    are_legacy_imds_endpoints_disabled = true   # IMDS v2 only
  }

  metadata = {
    ssh_authorized_keys = var.ssh_public_key
    user_data           = base64encode(file("${path.module}/../user-data.yaml"))
  }

  lifecycle {
    ignore_changes = [create_vnic_details[0].skip_source_dest_check]
  }

  depends_on = [oci_identity_policy.cloudroute]
}

output "connector_private_ip" {
  value = oci_core_instance.connector.private_ip
}

output "connector_public_ip" {
  value = oci_core_instance.connector.public_ip
}
