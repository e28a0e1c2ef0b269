// Least-privilege role assignments for the function app's user-assigned identity, each scoped to
// the one resource it is needed on. Built-in role definition ids:
// https://learn.microsoft.com/azure/role-based-access-control/built-in-roles

@description('Principal (object) id of the function app\'s user-assigned identity.')
param principalId string

param storageAccountName string
param keyVaultName string
param applicationInsightsName string

@description('Service Bus namespace of the durable path; empty in direct mode.')
param serviceBusNamespaceName string = ''

@description('Main queue: the webhook sends to it, the queue trigger reads it.')
param serviceBusQueueName string = ''

@description('Queue the app writes its dead letters to.')
param deadLetterQueueName string = ''

@description('Optional Microsoft Entra object id of an operator (deadletters list / replay): Service Bus Data Sender and Receiver on the namespace.')
param operatorPrincipalId string = ''

@description('principalType of operatorPrincipalId.')
@allowed([
  'User'
  'Group'
  'ServicePrincipal'
])
param operatorPrincipalType string = 'User'

var roleIds = {
  // Host state, leases and the Flex Consumption deployment package (blob).
  storageBlobDataOwner: 'b7e6dc6d-f1e8-4753-8033-0f276bb0955b'
  // The durable path's record of delivered keys (Azure Table Storage).
  storageTableDataContributor: '0a9a7e1f-b9d0-4cc4-a60d-0319b160aaa3'
  // Key Vault references: read secret values, nothing else.
  keyVaultSecretsUser: '4633458b-17de-408a-b874-0445c86b69e6'
  // Identity-based telemetry ingestion into Application Insights.
  monitoringMetricsPublisher: '3913510d-42f4-4e42-8a64-420c390055eb'
  // The main queue only: enqueue, schedule retries, the trigger's receive and settle, and the
  // queue's message count, which the scale controller reads only with Manage rights.
  serviceBusDataOwner: '090c5cfd-751d-490a-894a-3ce6f1109419'
  // The dead-letter queue: write dead letters. (Operators: send and receive on the namespace.)
  serviceBusDataSender: '69a216fc-b8fb-44d8-bc22-1f3c2cd27a39'
  serviceBusDataReceiver: '4f6d3b9b-027b-4f4c-9142-0e5a2a2247e0'
}

var queueMode = !empty(serviceBusNamespaceName)

resource storage 'Microsoft.Storage/storageAccounts@2023-05-01' existing = {
  name: storageAccountName
}

resource vault 'Microsoft.KeyVault/vaults@2023-07-01' existing = {
  name: keyVaultName
}

resource applicationInsights 'Microsoft.Insights/components@2020-02-02' existing = {
  name: applicationInsightsName
}

resource namespace 'Microsoft.ServiceBus/namespaces@2024-01-01' existing = if (queueMode) {
  name: serviceBusNamespaceName
}

resource queue 'Microsoft.ServiceBus/namespaces/queues@2024-01-01' existing = if (queueMode) {
  parent: namespace
  name: serviceBusQueueName
}

resource deadLetterQueue 'Microsoft.ServiceBus/namespaces/queues@2024-01-01' existing = if (queueMode) {
  parent: namespace
  name: deadLetterQueueName
}

resource storageBlob 'Microsoft.Authorization/roleAssignments@2022-04-01' = {
  name: guid(storage.id, principalId, roleIds.storageBlobDataOwner)
  scope: storage
  properties: {
    roleDefinitionId: subscriptionResourceId('Microsoft.Authorization/roleDefinitions', roleIds.storageBlobDataOwner)
    principalId: principalId
    principalType: 'ServicePrincipal'
  }
}

resource storageTable 'Microsoft.Authorization/roleAssignments@2022-04-01' = {
  name: guid(storage.id, principalId, roleIds.storageTableDataContributor)
  scope: storage
  properties: {
    roleDefinitionId: subscriptionResourceId('Microsoft.Authorization/roleDefinitions', roleIds.storageTableDataContributor)
    principalId: principalId
    principalType: 'ServicePrincipal'
  }
}

resource keyVaultSecrets 'Microsoft.Authorization/roleAssignments@2022-04-01' = {
  name: guid(vault.id, principalId, roleIds.keyVaultSecretsUser)
  scope: vault
  properties: {
    roleDefinitionId: subscriptionResourceId('Microsoft.Authorization/roleDefinitions', roleIds.keyVaultSecretsUser)
    principalId: principalId
    principalType: 'ServicePrincipal'
  }
}

resource metricsPublisher 'Microsoft.Authorization/roleAssignments@2022-04-01' = {
  name: guid(applicationInsights.id, principalId, roleIds.monitoringMetricsPublisher)
  scope: applicationInsights
  properties: {
    roleDefinitionId: subscriptionResourceId('Microsoft.Authorization/roleDefinitions', roleIds.monitoringMetricsPublisher)
    principalId: principalId
    principalType: 'ServicePrincipal'
  }
}

resource serviceBusQueueOwner 'Microsoft.Authorization/roleAssignments@2022-04-01' = if (queueMode) {
  name: guid(queue.id, principalId, roleIds.serviceBusDataOwner)
  scope: queue
  properties: {
    roleDefinitionId: subscriptionResourceId('Microsoft.Authorization/roleDefinitions', roleIds.serviceBusDataOwner)
    principalId: principalId
    principalType: 'ServicePrincipal'
  }
}

resource serviceBusDeadLetterSender 'Microsoft.Authorization/roleAssignments@2022-04-01' = if (queueMode) {
  name: guid(deadLetterQueue.id, principalId, roleIds.serviceBusDataSender)
  scope: deadLetterQueue
  properties: {
    roleDefinitionId: subscriptionResourceId('Microsoft.Authorization/roleDefinitions', roleIds.serviceBusDataSender)
    principalId: principalId
    principalType: 'ServicePrincipal'
  }
}

resource operatorSender 'Microsoft.Authorization/roleAssignments@2022-04-01' = if (queueMode && !empty(operatorPrincipalId)) {
  name: guid(namespace.id, operatorPrincipalId, roleIds.serviceBusDataSender)
  scope: namespace
  properties: {
    roleDefinitionId: subscriptionResourceId('Microsoft.Authorization/roleDefinitions', roleIds.serviceBusDataSender)
    principalId: operatorPrincipalId
    principalType: operatorPrincipalType
  }
}

resource operatorReceiver 'Microsoft.Authorization/roleAssignments@2022-04-01' = if (queueMode && !empty(operatorPrincipalId)) {
  name: guid(namespace.id, operatorPrincipalId, roleIds.serviceBusDataReceiver)
  scope: namespace
  properties: {
    roleDefinitionId: subscriptionResourceId('Microsoft.Authorization/roleDefinitions', roleIds.serviceBusDataReceiver)
    principalId: operatorPrincipalId
    principalType: operatorPrincipalType
  }
}
