variable "region" {
  description = "OCI region, e.g. us-ashburn-1"
  type        = string
}

variable "tenancy_ocid" {
  description = "Tenancy OCID (dynamic groups live in the tenancy)"
  type        = string
}

variable "compartment_ocid" {
  description = "Compartment of the connector instance"
  type        = string
}

variable "network_compartment_ocid" {
  description = "Compartment of the VCN, its subnets, route tables and gateways"
  type        = string
}

variable "availability_domain" {
  description = "Availability domain name, e.g. Uocm:US-ASHBURN-AD-1"
  type        = string
}

variable "subnet_ocid" {
  description = "Subnet the connector's VNIC is in"
  type        = string
}

variable "image_ocid" {
  description = "A Debian 12 or Ubuntu image OCID"
  type        = string
}

variable "shape" {
  description = "Instance shape"
  type        = string
  default     = "VM.Standard.E4.Flex"
}

variable "ssh_public_key" {
  description = "SSH public key for the default user"
  type        = string
}
