// Key Vault holding the MoEngage Data API key and, when given, the Kognitiv credentials. Access
// is Azure RBAC only (no access policies): the function app's identity gets Key Vault Secrets
// User (roles.bicep) and reads them through Key Vault references in its app settings.

param name string
param location string
param tags object

@secure()
param moengageApiKey string

@secure()
param kognitivAuthUsername string = ''

@secure()
param kognitivAuthPassword string = ''

@secure()
param kognitivAuthToken string = ''

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

module moengageApiKeySecret 'keyvault-secret.bicep' = {
  name: 'secret-moengage-api-key'
  params: {
    vaultName: vault.name
    name: 'moengage-api-key'
    value: moengageApiKey
  }
}

module kognitivAuthUsernameSecret 'keyvault-secret.bicep' = if (!empty(kognitivAuthUsername)) {
  name: 'secret-kognitiv-auth-username'
  params: {
    vaultName: vault.name
    name: 'kognitiv-auth-username'
    value: kognitivAuthUsername
  }
}

module kognitivAuthPasswordSecret 'keyvault-secret.bicep' = if (!empty(kognitivAuthPassword)) {
  name: 'secret-kognitiv-auth-password'
  params: {
    vaultName: vault.name
    name: 'kognitiv-auth-password'
    value: kognitivAuthPassword
  }
}

module kognitivAuthTokenSecret 'keyvault-secret.bicep' = if (!empty(kognitivAuthToken)) {
  name: 'secret-kognitiv-auth-token'
  params: {
    vaultName: vault.name
    name: 'kognitiv-auth-token'
    value: kognitivAuthToken
  }
}

output name string = vault.name

// Secret URIs for Key Vault references; an empty string means "not configured".
output moengageApiKeyUri string = moengageApiKeySecret.outputs.uri
output kognitivAuthUsernameUri string = empty(kognitivAuthUsername) ? '' : kognitivAuthUsernameSecret.outputs.uri
output kognitivAuthPasswordUri string = empty(kognitivAuthPassword) ? '' : kognitivAuthPasswordSecret.outputs.uri
output kognitivAuthTokenUri string = empty(kognitivAuthToken) ? '' : kognitivAuthTokenSecret.outputs.uri
