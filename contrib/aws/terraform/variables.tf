# Inputs of the cloudroute connector example (see main.tf).

variable "region" {
  description = "AWS region"
  type        = string
}

variable "vpc_id" {
  description = "VPC the connector serves"
  type        = string
}

variable "vpc_cidr" {
  description = "CIDR of that VPC; its hosts send overlay-bound traffic to the connector"
  type        = string
  validation {
    condition     = can(cidrhost(var.vpc_cidr, 0))
    error_message = "vpc_cidr must be a CIDR block."
  }
}

variable "subnet_id" {
  description = "Subnet for the connector (public if peers reach it from the internet)"
  type        = string
}

variable "instance_type" {
  description = "EC2 instance type"
  type        = string
  default     = "t3.small"
}

variable "vpn_peer_cidrs" {
  description = "Where WireGuard peers connect from"
  type        = list(string)
  default     = ["0.0.0.0/0"]
}

variable "wireguard_port" {
  description = "UDP port of the tunnel; must match tunnel.listen_port in user-data.yaml"
  type        = number
  default     = 51820
}

variable "user_data_file" {
  description = "cloud-init user data (edit the config in it before applying)"
  type        = string
  default     = "../user-data.yaml"
}

variable "name" {
  description = "Name prefix of the resources"
  type        = string
  default     = "cloudroute"
}
