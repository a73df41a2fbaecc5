// One cloudroute connector on Azure: a Debian 12 VM with a system-assigned
// managed identity in an existing subnet, its NIC (IP forwarding left off:
// cloudroute turns it on, teardown turns it off), a public IP, an NSG
// allowing WireGuard in, the least-privilege custom role of
// role-definition.json scoped to this resource group, and its assignment to
// the VM's identity.  cloud-init.yaml is the custom data: edit its config
// (hub key, endpoint, overlay address) before deploying.
//   az deployment group create -g RG -f main.bicep \
//     -p vnetName=VNET subnetName=SUBNET adminSshPublicKey="$(cat ~/.ssh/id_ed25519.pub)"
// The subnet needs a route table associated with it (cloudroute writes its
// routes there and never changes subnet associations).

@description('Prefix of every resource name')
param name string = 'cloudroute'
param location string = resourceGroup().location
@description('Existing virtual network (in this resource group)')
param vnetName string
@description('Existing subnet of that network, with a route table associated')
param subnetName string
param adminUsername string = 'azureuser'
@secure()
param adminSshPublicKey string
param vmSize string = 'Standard_B2s'
@description('WireGuard port (tunnel.listen_port)')
param listenPort int = 51820

// Exactly the actions cloudroute calls (see README.md).
var roleActions = [
  'Microsoft.Compute/virtualMachines/read'
  'Microsoft.Network/networkInterfaces/read'
  'Microsoft.Network/networkInterfaces/write'
  'Microsoft.Network/virtualNetworks/read'
  'Microsoft.Network/virtualNetworks/subnets/read'
  'Microsoft.Network/virtualNetworks/subnets/join/action'
  'Microsoft.Network/routeTables/read'
  'Microsoft.Network/routeTables/routes/read'
  'Microsoft.Network/routeTables/routes/write'
  'Microsoft.Network/routeTables/routes/delete'
  'Microsoft.Network/locations/operations/read'
  'Microsoft.Network/locations/operationResults/read'
]

resource vnet 'Microsoft.Network/virtualNetworks@2024-05-01' existing = {
  name: vnetName
}

resource subnet 'Microsoft.Network/virtualNetworks/subnets@2024-05-01' existing = {
  parent: vnet
  name: subnetName
}

resource pip 'Microsoft.Network/publicIPAddresses@2024-05-01' = {
  name: '${name}-pip'
  location: location
  sku: { name: 'Standard' }
  properties: { publicIPAllocationMethod: 'Static' }
}

resource nsg 'Microsoft.Network/networkSecurityGroups@2024-05-01' = {
  name: '${name}-nsg'
  location: location
  properties: {
    securityRules: [
      {
        name: 'wireguard-in'
        properties: {
          priority: 100
          direction: 'Inbound'
          access: 'Allow'
          protocol: 'Udp'
          sourceAddressPrefix: '*'
          sourcePortRange: '*'
          destinationAddressPrefix: '*'
          destinationPortRange: string(listenPort)
        }
      }
    ]
  }
}

resource nic 'Microsoft.Network/networkInterfaces@2024-05-01' = {
  name: '${name}-nic'
  location: location
  properties: {
    networkSecurityGroup: { id: nsg.id }
    ipConfigurations: [
      {
        name: 'ipconfig1'
        properties: {
          subnet: { id: subnet.id }
          privateIPAllocationMethod: 'Dynamic'
          publicIPAddress: { id: pip.id }
        }
      }
    ]
  }
}

resource vm 'Microsoft.Compute/virtualMachines@2024-07-01' = {
  name: name
  location: location
  identity: { type: 'SystemAssigned' }
  properties: {
    hardwareProfile: { vmSize: vmSize }
    osProfile: {
      computerName: name
      adminUsername: adminUsername
      customData: base64(loadTextContent('cloud-init.yaml'))
      linuxConfiguration: {
        disablePasswordAuthentication: true
        ssh: {
          publicKeys: [
            {
              path: '/home/${adminUsername}/.ssh/authorized_keys'
              keyData: adminSshPublicKey
            }
          ]
        }
      }
    }
    storageProfile: {
      imageReference: {
        publisher: 'Debian'
        offer: 'debian-12'
        sku: '12-gen2'
        version: 'latest'
      }
      osDisk: {
        createOption: 'FromImage'
        managedDisk: { storageAccountType: 'StandardSSD_LRS' }
      }
    }
    networkProfile: {
      networkInterfaces: [ { id: nic.id } ]
    }
  }
}

resource role 'Microsoft.Authorization/roleDefinitions@2022-04-01' = {
  name: guid(resourceGroup().id, 'cloudroute-connector')
  properties: {
    roleName: 'cloudroute connector (${resourceGroup().name})'
    description: 'cloudroute: read VM/NIC/subnet/route tables, NIC IP forwarding, its own UDR routes'
    type: 'CustomRole'
    permissions: [
      {
        actions: roleActions
        notActions: []
      }
    ]
    assignableScopes: [ resourceGroup().id ]
  }
}

resource assignment 'Microsoft.Authorization/roleAssignments@2022-04-01' = {
  name: guid(resourceGroup().id, vm.id, role.id)
  properties: {
    roleDefinitionId: role.id
    principalId: vm.identity.principalId
    principalType: 'ServicePrincipal'
  }
}

output publicIp string = pip.properties.ipAddress
output principalId string = vm.identity.principalId
