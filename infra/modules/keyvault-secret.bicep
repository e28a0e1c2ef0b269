// One Key Vault secret. A module (not a conditional resource) so that optional secrets are
// created with `module ... = if (...)` and every secret is declared the same way.

param vaultName string
param name string

@secure()
param value string

resource vault 'Microsoft.KeyVault/vaults@2023-07-01' existing = {
  name: vaultName
}

resource secret 'Microsoft.KeyVault/vaults/secrets@2023-07-01' = {
  parent: vault
  name: name
  properties: {
    value: value
    contentType: 'text/plain'
  }
}

// Versionless: the app picks up a rotated value without a redeployment.
output uri string = secret.properties.secretUri
