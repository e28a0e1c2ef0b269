// The user-assigned managed identity the function app runs as. Every data-plane access (storage,
// Service Bus, Key Vault, Application Insights) goes through it; roles are granted in roles.bicep.

param name string
param location string
param tags object

resource identity 'Microsoft.ManagedIdentity/userAssignedIdentities@2023-01-31' = {
  name: name
  location: location
  tags: tags
}

output id string = identity.id
output name string = identity.name
output clientId string = identity.properties.clientId
output principalId string = identity.properties.principalId
