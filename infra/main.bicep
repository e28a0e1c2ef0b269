// Kognitiv Inspire -> MoEngage bridge: everything `azd up` creates (see infra/README.md).
targetScope = 'subscription'

@minLength(1)
@maxLength(64)
@description('azd environment name; names the resource group and seeds every resource name.')
param environmentName string

@minLength(1)
@description('Azure region of every resource (a region that offers the Flex Consumption plan).')
param location string

@description('MoEngage workspace id (formerly App ID): MOENGAGE_APP_ID.')
@minLength(1)
param moengageAppId string

@secure()
@minLength(1)
@description('MoEngage Data API key; stored in Key Vault, never in an app setting.')
param moengageApiKey string

@description('MoEngage data center, the number in dashboard-XX.moengage.com: MOENGAGE_DATA_CENTER.')
@allowed([
  '01'
  '02'
  '03'
  '04'
  '05'
  '06'
  '101'
])
param moengageDataCenter string

@description('queue: webhooks are acknowledged once durable in Service Bus and delivered by the queue trigger (recommended). direct: delivered inside the webhook call; no Service Bus.')
@allowed([
  'queue'
  'direct'
])
param deliveryMode string = 'queue'

@description('IANA time zone of naive Kognitiv timestamps: KOGNITIV_TIMEZONE.')
param kognitivTimezone string = 'UTC'

@description('Order of slash dates: KOGNITIV_DATE_ORDER.')
@allowed([
  'MDY'
  'DMY'
])
param kognitivDateOrder string = 'MDY'

@secure()
@description('Optional HTTP Basic user name Kognitiv must send: KOGNITIV_AUTH_USERNAME (Key Vault).')
param kognitivAuthUsername string = ''

@secure()
@description('Optional HTTP Basic password Kognitiv must send: KOGNITIV_AUTH_PASSWORD (Key Vault).')
param kognitivAuthPassword string = ''

@secure()
@description('Optional bearer token Kognitiv must send: KOGNITIV_AUTH_TOKEN (Key Vault).')
param kognitivAuthToken string = ''

@description('Name of the main Service Bus queue: KOGNITIV_SERVICE_BUS_QUEUE.')
param serviceBusQueueName string = 'kognitiv-webhooks'

@description('Optional Microsoft Entra object id granted Service Bus Data Sender and Receiver for the operator commands (deadletters list / replay).')
param operatorPrincipalId string = ''

@description('Optional e-mail address that receives the delivery alerts (infra/modules/alerts.bicep); empty: the alerts show in Azure Monitor only.')
param alertEmail string = ''

var resourceToken = toLower(uniqueString(subscription().id, environmentName, location))
var tags = {
  'azd-env-name': environmentName
}
var queueMode = deliveryMode == 'queue'
var deadLetterQueueName = '${serviceBusQueueName}-deadletter'
var functionAppName = 'func-${resourceToken}'
var deploymentContainerName = 'app-package-${resourceToken}'

resource rg 'Microsoft.Resources/resourceGroups@2024-03-01' = {
  name: 'rg-${environmentName}'
  location: location
  tags: tags
}

module identity 'modules/identity.bicep' = {
  name: 'identity'
  scope: rg
  params: {
    name: 'id-${resourceToken}'
    location: location
    tags: tags
  }
}

module monitoring 'modules/monitoring.bicep' = {
  name: 'monitoring'
  scope: rg
  params: {
    logAnalyticsName: 'log-${resourceToken}'
    applicationInsightsName: 'appi-${resourceToken}'
    location: location
    tags: tags
  }
}

module storage 'modules/storage.bicep' = {
  name: 'storage'
  scope: rg
  params: {
    name: 'st${resourceToken}'
    location: location
    tags: tags
    deploymentContainerName: deploymentContainerName
  }
}

module keyVault 'modules/keyvault.bicep' = {
  name: 'keyvault'
  scope: rg
  params: {
    name: 'kv-${resourceToken}'
    location: location
    tags: tags
    moengageApiKey: moengageApiKey
    kognitivAuthUsername: kognitivAuthUsername
    kognitivAuthPassword: kognitivAuthPassword
    kognitivAuthToken: kognitivAuthToken
  }
}

module serviceBus 'modules/servicebus.bicep' = if (queueMode) {
  name: 'servicebus'
  scope: rg
  params: {
    namespaceName: 'sb-${resourceToken}'
    location: location
    tags: tags
    queueName: serviceBusQueueName
    deadLetterQueueName: deadLetterQueueName
  }
}

module roles 'modules/roles.bicep' = {
  name: 'roles'
  scope: rg
  params: {
    principalId: identity.outputs.principalId
    storageAccountName: storage.outputs.name
    keyVaultName: keyVault.outputs.name
    applicationInsightsName: monitoring.outputs.applicationInsightsName
    serviceBusNamespaceName: queueMode ? serviceBus.outputs.namespaceName : ''
    operatorPrincipalId: operatorPrincipalId
  }
}

// The delivery dashboard (workbook) and its alerts, over Application Insights and the queue.
module dashboard 'modules/dashboard.bicep' = {
  name: 'dashboard'
  scope: rg
  params: {
    applicationInsightsName: monitoring.outputs.applicationInsightsName
    location: location
    tags: tags
    serviceBusNamespaceName: queueMode ? serviceBus.outputs.namespaceName : ''
  }
}

module alerts 'modules/alerts.bicep' = {
  name: 'alerts'
  scope: rg
  params: {
    applicationInsightsName: monitoring.outputs.applicationInsightsName
    location: location
    tags: tags
    namePrefix: resourceToken
    alertEmail: alertEmail
    serviceBusNamespaceName: queueMode ? serviceBus.outputs.namespaceName : ''
    queueName: serviceBusQueueName
  }
}

// Settings the app reads (README.md "Settings"). Secrets are Key Vault references resolved by the
// platform with the user-assigned identity (keyVaultReferenceIdentity).
var moengageSettings = {
  MOENGAGE_APP_ID: moengageAppId
  MOENGAGE_API_KEY: '@Microsoft.KeyVault(SecretUri=${keyVault.outputs.moengageApiKeyUri})'
  MOENGAGE_DATA_CENTER: moengageDataCenter
  KOGNITIV_TIMEZONE: kognitivTimezone
  KOGNITIV_DATE_ORDER: kognitivDateOrder
  // Always set: the queue trigger's %KOGNITIV_SERVICE_BUS_QUEUE% must resolve even when disabled.
  KOGNITIV_SERVICE_BUS_QUEUE: serviceBusQueueName
}

var kognitivUsernameSetting = empty(kognitivAuthUsername) ? {} : {
  KOGNITIV_AUTH_USERNAME: '@Microsoft.KeyVault(SecretUri=${keyVault.outputs.kognitivAuthUsernameUri})'
}
var kognitivPasswordSetting = empty(kognitivAuthPassword) ? {} : {
  KOGNITIV_AUTH_PASSWORD: '@Microsoft.KeyVault(SecretUri=${keyVault.outputs.kognitivAuthPasswordUri})'
}
var kognitivTokenSetting = empty(kognitivAuthToken) ? {} : {
  KOGNITIV_AUTH_TOKEN: '@Microsoft.KeyVault(SecretUri=${keyVault.outputs.kognitivAuthTokenUri})'
}

// Queue mode is on when a Service Bus connection setting is present; direct mode omits them and
// switches the queue trigger off.
var queueSettings = queueMode ? {
  KOGNITIV_SERVICE_BUS__fullyQualifiedNamespace: serviceBus.outputs.fullyQualifiedNamespace
  KOGNITIV_SERVICE_BUS__credential: 'managedidentity'
  KOGNITIV_SERVICE_BUS__clientId: identity.outputs.clientId
  KOGNITIV_SERVICE_BUS_DEAD_LETTER_QUEUE: deadLetterQueueName
  'AzureWebJobs.kognitiv_service_bus.Disabled': 'false'
} : {
  'AzureWebJobs.kognitiv_service_bus.Disabled': 'true'
}

module functionApp 'modules/functionapp.bicep' = {
  name: 'functionapp'
  scope: rg
  // The identity must hold its roles before the app starts and resolves Key Vault references.
  dependsOn: [
    roles
  ]
  params: {
    planName: 'plan-${resourceToken}'
    appName: functionAppName
    location: location
    tags: tags
    identityId: identity.outputs.id
    identityClientId: identity.outputs.clientId
    storageAccountName: storage.outputs.name
    storageBlobEndpoint: storage.outputs.blobEndpoint
    deploymentContainerName: deploymentContainerName
    applicationInsightsConnectionString: monitoring.outputs.connectionString
    appSettings: union(moengageSettings, kognitivUsernameSetting, kognitivPasswordSetting, kognitivTokenSetting, queueSettings)
  }
}

output AZURE_LOCATION string = location
output AZURE_TENANT_ID string = tenant().tenantId
output AZURE_RESOURCE_GROUP string = rg.name
output AZURE_FUNCTION_APP_NAME string = functionApp.outputs.name
output SERVICE_API_NAME string = functionApp.outputs.name
output SERVICE_API_URI string = 'https://${functionApp.outputs.defaultHostName}'
output KOGNITIV_WEBHOOK_URL string = 'https://${functionApp.outputs.defaultHostName}/api/kognitiv/<event>?code=<function key>'
output AZURE_KEY_VAULT_NAME string = keyVault.outputs.name
output SERVICE_BUS_NAMESPACE string = queueMode ? serviceBus.outputs.fullyQualifiedNamespace : ''
output SERVICE_BUS_QUEUE string = queueMode ? serviceBusQueueName : ''
output SERVICE_BUS_DEAD_LETTER_QUEUE string = queueMode ? deadLetterQueueName : ''
