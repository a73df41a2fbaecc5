variable "resource_group" {
  description = "Existing resource group (the VNet, route tables and the connector)"
  type        = string
}

variable "vnet_name" {
  description = "Existing virtual network"
  type        = string
}

variable "subnet_name" {
  description = "Existing subnet with a route table associated"
  type        = string
}

variable "name" {
  description = "Prefix of every resource name"
  type        = string
  default     = "cloudroute"
}

variable "vm_size" {
  type    = string
  default = "Standard_B2s"
}

variable "admin_username" {
  type    = string
  default = "azureuser"
}

variable "admin_ssh_public_key" {
  description = "SSH public key for the admin user"
  type        = string
}

variable "listen_port" {
  description = "WireGuard port (tunnel.listen_port)"
  type        = number
  default     = 51820
}
