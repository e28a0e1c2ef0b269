// Key Vault holding the MoEngage Data API key and, when given, the Kognitiv credentials. Access
// is Azure RBAC only (no access policies): the function app's identity gets Key Vault Secrets
// User (roles.bicep) and reads them through Key Vault references in its app settings.

param name string
param location string
param tags object

@secure()
@description('Secret name -> value. An empty value (an optional credential not given) creates no secret.')
param secrets object

resource vault 'Microsoft.KeyVault/vaults@2023-07-01' = {
  name: name
  location: location
  tags: tags
  properties: {
    tenantId: tenant().tenantId
    sku: {
      family: 'A'
      name: 'standard'
    }
    enableRbacAuthorization: true
    enableSoftDelete: true
    softDeleteRetentionInDays: 90
    enablePurgeProtection: true
    publicNetworkAccess: 'Enabled'
    networkAcls: {
      defaultAction: 'Allow'
      bypass: 'AzureServices'
    }
  }
}

module secret 'keyvault-secret.bicep' = [for item in items(secrets): if (!empty(item.value)) {
  name: 'secret-${item.key}'
  params: {
    vaultName: vault.name
    name: item.key
    value: item.value
  }
}]

output name string = vault.name
// https://<vault>.vault.azure.net/ : main.bicep builds versionless secret URIs from it, so the app
// picks up a rotated value without a redeployment. No output carries a secret's value.
output uri string = vault.properties.vaultUri
