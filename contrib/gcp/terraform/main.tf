# One cloudroute connector on GCP: a service account with a least-privilege
# custom role (the permissions of ../custom-role.yaml), a firewall rule, and
# the instance with the startup script and the hub's key as metadata.
terraform {
  required_providers {
    google = {
      source  = "hashicorp/google"
      version = ">= 5.0"
    }
  }
}

provider "google" {
  project = var.project
  zone    = var.zone
}

resource "google_project_iam_custom_role" "cloudroute" {
  role_id     = "cloudrouteConnector"
  title       = "cloudroute connector"
  description = "Own instance's canIpForward, routes named cloudroute-* to it, operations"
  permissions = [
    "compute.instances.get",
    "compute.instances.update",
    "compute.routes.list",
    "compute.routes.get",
    "compute.routes.create",
    "compute.routes.delete",
    "compute.networks.updatePolicy",
    "compute.globalOperations.get",
    "compute.zoneOperations.get",
  ]
}

resource "google_service_account" "cloudroute" {
  account_id   = "cloudroute"
  display_name = "cloudroute connector"
}

resource "google_project_iam_member" "cloudroute" {
  project = var.project
  role    = google_project_iam_custom_role.cloudroute.name
  member  = "serviceAccount:${google_service_account.cloudroute.email}"
}

resource "google_compute_firewall" "cloudroute_wireguard" {
  name          = "cloudroute-wireguard"
  network       = var.network
  direction     = "INGRESS"
  source_ranges = var.peer_ranges
  target_tags   = ["cloudroute"]
  allow {
    protocol = "udp"
    ports    = ["51820"]
  }
}

resource "google_compute_firewall" "cloudroute_from_vpc" {
  name          = "cloudroute-from-vpc"
  network       = var.network
  direction     = "INGRESS"
  source_ranges = var.vpc_ranges
  target_tags   = ["cloudroute"]
  allow {
    protocol = "all"
  }
}

resource "google_compute_instance" "connector" {
  name         = "cloudroute-connector"
  machine_type = var.machine_type
  tags         = ["cloudroute"]

  # Set at creation (changing it later needs a restart); cloudroute finds it
  # on, changes nothing, and its teardown leaves it as Terraform set it.
  can_ip_forward = true

  boot_disk {
    initialize_params {
      image = var.image
    }
  }

  network_interface {
    subnetwork = var.subnetwork
    access_config {}
  }

  service_account {
    email  = google_service_account.cloudroute.email
    scopes = ["https://www.googleapis.com/auth/compute"]
  }

  metadata = {
    startup-script            = file("${path.module}/../startup-script.sh")
    cloudroute-hub-public-key = var.hub_public_key
    cloudroute-hub-endpoint   = var.hub_endpoint
    cloudroute-address        = var.address
  }

  depends_on = [google_project_iam_member.cloudroute]
}

# GCP routes are separate resources, never inline in the network: Terraform's
# own google_compute_route resources and cloudroute's routes (named
# cloudroute-*) live side by side, and neither deletes the other's.

output "connector_internal_ip" {
  value = google_compute_instance.connector.network_interface[0].network_ip
}

output "connector_external_ip" {
  value = google_compute_instance.connector.network_interface[0].access_config[0].nat_ip
}
