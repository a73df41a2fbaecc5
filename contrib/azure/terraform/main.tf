# One cloudroute connector on Azure (azurerm provider >= 4): a Debian 12 VM
# with a system-assigned managed identity in an existing subnet, its NIC (IP
# forwarding left off: cloudroute turns it on, teardown turns it off), a
# public IP, an NSG allowing WireGuard in, the least-privilege custom role of
# ../role-definition.json on the resource group and its assignment.
# ../cloud-init.yaml is the custom data: edit its config first.
# The subnet needs a route table associated with it.

terraform {
  required_providers {
    azurerm = {
      source  = "hashicorp/azurerm"
      version = ">= 4.0"
    }
  }
}

provider "azurerm" {
  features {}
}

data "azurerm_resource_group" "rg" {
  name = var.resource_group
}

data "azurerm_subnet" "connector" {
  name                 = var.subnet_name
  virtual_network_name = var.vnet_name
  resource_group_name  = var.resource_group
}

resource "azurerm_public_ip" "connector" {
  name                = "${var.name}-pip"
  location            = data.azurerm_resource_group.rg.location
  resource_group_name = var.resource_group
  allocation_method   = "Static"
  sku                 = "Standard"
}

resource "azurerm_network_security_group" "connector" {
  name                = "${var.name}-nsg"
  location            = data.azurerm_resource_group.rg.location
  resource_group_name = var.resource_group

  security_rule {
    name                       = "wireguard-in"
    priority                   = 100
    direction                  = "Inbound"
    access                     = "Allow"
    protocol                   = "Udp"
    source_port_range          = "*"
    destination_port_range     = tostring(var.listen_port)
    source_address_prefix      = "*"
    destination_address_prefix = "*"
  }
}

resource "azurerm_network_interface" "connector" {
  name                = "${var.name}-nic"
  location            = data.azurerm_resource_group.rg.location
  resource_group_name = var.resource_group

  ip_configuration {
    name                          = "ipconfig1"
    subnet_id                     = data.azurerm_subnet.connector.id
    private_ip_address_allocation = "Dynamic"
    public_ip_address_id          = azurerm_public_ip.connector.id
  }

  # cloudroute owns this setting at run time (and restores it on teardown).
  lifecycle {
    ignore_changes = [ip_forwarding_enabled]
  }
}

resource "azurerm_network_interface_security_group_association" "connector" {
  network_interface_id      = azurerm_network_interface.connector.id
  network_security_group_id = azurerm_network_security_group.connector.id
}

resource "azurerm_linux_virtual_machine" "connector" {
  name                  = var.name
  location              = data.azurerm_resource_group.rg.location
  resource_group_name   = var.resource_group
  size                  = var.vm_size
  admin_username        = var.admin_username
  network_interface_ids = [azurerm_network_interface.connector.id]
  custom_data           = base64encode(file("${path.module}/../cloud-init.yaml"))

  admin_ssh_key {
    username   = var.admin_username
    public_key = var.admin_ssh_public_key
  }

  identity {
    type = "SystemAssigned"
  }

  os_disk {
    caching              = "ReadWrite"
    storage_account_type = "StandardSSD_LRS"
  }

  source_image_reference {
    publisher = "Debian"
    offer     = "debian-12"
    sku       = "12-gen2"
    version   = "latest"
  }
}

# Routes cloudroute writes into route tables that Terraform also manages must
# not be removed by Terraform: manage the tables' routes as separate
# azurerm_route resources (not inline route blocks), so that routes named
# cloudroute-... are not in Terraform's state.
resource "azurerm_role_definition" "cloudroute" {
  name        = "cloudroute connector (${var.resource_group})"
  scope       = data.azurerm_resource_group.rg.id
  description = "cloudroute: read VM/NIC/subnet/route tables, NIC IP forwarding, its own UDR routes"

  permissions {
    actions = [
      "Microsoft.Compute/virtualMachines/read",
      "Microsoft.Network/networkInterfaces/read",
      "Microsoft.Network/networkInterfaces/write",
      "Microsoft.Network/virtualNetworks/read",
      "Microsoft.Network/virtualNetworks/subnets/read",
      "Microsoft.Network/virtualNetworks/subnets/join/action",
      "Microsoft.Network/routeTables/read",
      "Microsoft.Network/routeTables/routes/read",
      "Microsoft.Network/routeTables/routes/write",
      "Microsoft.Network/routeTables/routes/delete",
      "Microsoft.Network/locations/operations/read",
      "Microsoft.Network/locations/operationResults/read",
    ]
    not_actions = []
  }

  assignable_scopes = [data.azurerm_resource_group.rg.id]
}

resource "azurerm_role_assignment" "cloudroute" {
  scope              = data.azurerm_resource_group.rg.id
  role_definition_id = azurerm_role_definition.cloudroute.role_definition_resource_id
  principal_id       = azurerm_linux_virtual_machine.connector.identity[0].principal_id
}

output "public_ip" {
  value = azurerm_public_ip.connector.ip_address
}
