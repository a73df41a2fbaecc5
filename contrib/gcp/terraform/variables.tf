variable "project" {
  description = "Project id"
  type        = string
}

variable "zone" {
  description = "Zone of the connector, e.g. europe-west1-b"
  type        = string
}

variable "network" {
  description = "VPC network name"
  type        = string
  default     = "default"
}

variable "subnetwork" {
  description = "Subnetwork of the connector"
  type        = string
}

variable "vpc_ranges" {
  description = "Source ranges of the VPC's hosts (they send overlay traffic to the connector)"
  type        = list(string)
  default     = ["10.0.0.0/8"]
}

variable "peer_ranges" {
  description = "Where WireGuard peers connect from (UDP 51820)"
  type        = list(string)
  default     = ["0.0.0.0/0"]
}

variable "hub_public_key" {
  description = "The hub's WireGuard public key (base64)"
  type        = string
}

variable "hub_endpoint" {
  description = "The hub's host:port"
  type        = string
}

variable "address" {
  description = "This connector's overlay address"
  type        = string
  default     = "100.96.0.100/11"
}

variable "machine_type" {
  type    = string
  default = "e2-small"
}

variable "image" {
  type    = string
  default = "debian-cloud/debian-12"
}
