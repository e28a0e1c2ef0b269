// Kognitiv Inspire -> MoEngage bridge: everything `azd up` creates (see infra/README.md).
targetScope = 'subscription'

@minLength(1)
@maxLength(64)
@description('azd environment name; names the resource group and seeds every resource name.')
param environmentName string

// The regions that offer the Flex Consumption plan, as in Microsoft's Flex Consumption samples;
// `az functionapp list-flexconsumption-locations` gives the current list. azd offers only these.
@minLength(1)
@description('Azure region of every resource (a region that offers the Flex Consumption plan).')
@allowed([
  'australiaeast'
  'australiasoutheast'
  'brazilsouth'
  'canadacentral'
  'centralindia'
  'centralus'
  'eastasia'
  'eastus'
  'eastus2'
  'francecentral'
  'germanywestcentral'
  'italynorth'
  'japaneast'
  'koreacentral'
  'northcentralus'
  'northeurope'
  'norwayeast'
  'southafricanorth'
  'southcentralus'
  'southeastasia'
  'southindia'
  'spaincentral'
  'swedencentral'
  'uaenorth'
  'uksouth'
  'ukwest'
  'westcentralus'
  'westeurope'
  'westus'
  'westus2'
  'westus3'
])
@metadata({
  azd: {
    type: 'location'
  }
})
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

@secure()
@description('Previous Basic password, still accepted during a rotation: KOGNITIV_AUTH_PASSWORD_PREVIOUS (Key Vault).')
param kognitivAuthPasswordPrevious string = ''

@secure()
@description('Previous bearer token, still accepted during a rotation: KOGNITIV_AUTH_TOKEN_PREVIOUS (Key Vault).')
param kognitivAuthTokenPrevious string = ''

@description('How numbers sent as text are written: KOGNITIV_NUMBER_FORMAT (1,234.56 or 1.234,56).')
@allowed([
  '1,234.56'
  '1.234,56'
])
param kognitivNumberFormat string = '1,234.56'

@description('Rules added to or replacing the mapping file\'s, by event name: KOGNITIV_MAPPINGS (empty: none).')
param kognitivMappings object = {}

@description('Path of the mapping file inside the package: KOGNITIV_MAPPINGS_FILE (empty: mapping/default_mappings.json).')
param kognitivMappingsFile string = ''

@description('Further MoEngage workspaces, keyed by name: MOENGAGE_WORKSPACES (empty: only the default workspace).')
param moengageWorkspaces object = {}

@description('Seconds to deliver one webhook directly: MOENGAGE_DIRECT_TIME_BUDGET_SECONDS (empty: the app\'s default, 10).')
param moengageDirectTimeBudgetSeconds string = ''

@description('Seconds to deliver one queue batch: MOENGAGE_QUEUE_TIME_BUDGET_SECONDS (empty: the app\'s default, 25).')
param moengageQueueTimeBudgetSeconds string = ''

@description('Hours a message keeps being retried while MoEngage is unavailable: KOGNITIV_RETRY_HORIZON_HOURS (empty: the app\'s default, 24).')
param kognitivRetryHorizonHours string = ''

@description('Any further app settings (name -> value), such as the settings MOENGAGE_WORKSPACES names; values may be Key Vault references. A name the template sets itself is taken from the template.')
param extraAppSettings object = {}

@description('Name of the main Service Bus queue: KOGNITIV_SERVICE_BUS_QUEUE.')
param serviceBusQueueName string = 'kognitiv-webhooks'

@description('Optional Microsoft Entra object id granted Service Bus Data Sender and Receiver for the operator commands (deadletters list / replay).')
param operatorPrincipalId string = ''

@description('Kind of principal operatorPrincipalId is.')
@allowed([
  'User'
  'Group'
  'ServicePrincipal'
])
param operatorPrincipalType string = 'User'

@description('Most instances the app scales out to (Flex Consumption: 40 to 1000).')
@minValue(40)
@maxValue(1000)
param maximumInstanceCount int = 100

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
    // Secret name -> value; an empty value (an optional credential not given) creates no secret.
    secrets: {
      'moengage-api-key': moengageApiKey
      'kognitiv-auth-username': kognitivAuthUsername
      'kognitiv-auth-password': kognitivAuthPassword
      'kognitiv-auth-password-previous': kognitivAuthPasswordPrevious
      'kognitiv-auth-token': kognitivAuthToken
      'kognitiv-auth-token-previous': kognitivAuthTokenPrevious
    }
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
    serviceBusNamespaceName: queueMode ? serviceBus!.outputs.namespaceName : ''
    serviceBusQueueName: serviceBusQueueName
    deadLetterQueueName: deadLetterQueueName
    operatorPrincipalId: operatorPrincipalId
    operatorPrincipalType: operatorPrincipalType
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
    serviceBusNamespaceName: queueMode ? serviceBus!.outputs.namespaceName : ''
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
    serviceBusNamespaceName: queueMode ? serviceBus!.outputs.namespaceName : ''
    queueName: serviceBusQueueName
  }
}

// Settings the app reads (docs/configuration.md "Settings"), each from a parameter of its own, so that a
// re-provision writes them all again: the site's app settings are replaced as a whole on every
// `azd provision`. An empty optional value is an empty setting, which the app reads as unset.
var appSettingsFromParameters = {
  MOENGAGE_APP_ID: moengageAppId
  MOENGAGE_DATA_CENTER: moengageDataCenter
  MOENGAGE_WORKSPACES: empty(moengageWorkspaces) ? '' : string(moengageWorkspaces)
  MOENGAGE_DIRECT_TIME_BUDGET_SECONDS: moengageDirectTimeBudgetSeconds
  MOENGAGE_QUEUE_TIME_BUDGET_SECONDS: moengageQueueTimeBudgetSeconds
  KOGNITIV_MAPPINGS: empty(kognitivMappings) ? '' : string(kognitivMappings)
  KOGNITIV_MAPPINGS_FILE: kognitivMappingsFile
  KOGNITIV_TIMEZONE: kognitivTimezone
  KOGNITIV_DATE_ORDER: kognitivDateOrder
  KOGNITIV_NUMBER_FORMAT: kognitivNumberFormat
  KOGNITIV_RETRY_HORIZON_HOURS: kognitivRetryHorizonHours
  // Always set: the queue trigger's %KOGNITIV_SERVICE_BUS_QUEUE% must resolve even when disabled.
  KOGNITIV_SERVICE_BUS_QUEUE: serviceBusQueueName
}

// Secrets are Key Vault references (versionless) resolved by the platform with the user-assigned
// identity (keyVaultReferenceIdentity); an optional credential not given has no setting.
var secretUri = '${keyVault.outputs.uri}secrets/'
var apiKeySetting = {
  MOENGAGE_API_KEY: '@Microsoft.KeyVault(SecretUri=${secretUri}moengage-api-key)'
}
var usernameSetting = empty(kognitivAuthUsername) ? {} : {
  KOGNITIV_AUTH_USERNAME: '@Microsoft.KeyVault(SecretUri=${secretUri}kognitiv-auth-username)'
}
var passwordSetting = empty(kognitivAuthPassword) ? {} : {
  KOGNITIV_AUTH_PASSWORD: '@Microsoft.KeyVault(SecretUri=${secretUri}kognitiv-auth-password)'
}
var passwordPreviousSetting = empty(kognitivAuthPasswordPrevious) ? {} : {
  KOGNITIV_AUTH_PASSWORD_PREVIOUS: '@Microsoft.KeyVault(SecretUri=${secretUri}kognitiv-auth-password-previous)'
}
var tokenSetting = empty(kognitivAuthToken) ? {} : {
  KOGNITIV_AUTH_TOKEN: '@Microsoft.KeyVault(SecretUri=${secretUri}kognitiv-auth-token)'
}
var tokenPreviousSetting = empty(kognitivAuthTokenPrevious) ? {} : {
  KOGNITIV_AUTH_TOKEN_PREVIOUS: '@Microsoft.KeyVault(SecretUri=${secretUri}kognitiv-auth-token-previous)'
}
var secretSettings = union(apiKeySetting, usernameSetting, passwordSetting, passwordPreviousSetting, tokenSetting, tokenPreviousSetting)

// Queue mode is on when a Service Bus connection setting is present; direct mode omits them and
// switches the queue trigger off.
var queueSettings = queueMode ? {
  KOGNITIV_SERVICE_BUS__fullyQualifiedNamespace: serviceBus!.outputs.fullyQualifiedNamespace
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
    maximumInstanceCount: maximumInstanceCount
    // extraAppSettings first: a name the template sets is always the template's.
    appSettings: union(extraAppSettings, appSettingsFromParameters, secretSettings, queueSettings)
  }
}

output AZURE_LOCATION string = location
output AZURE_TENANT_ID string = tenant().tenantId
output AZURE_RESOURCE_GROUP string = rg.name
output AZURE_FUNCTION_APP_NAME string = functionApp.outputs.name
output SERVICE_API_NAME string = functionApp.outputs.name
output SERVICE_API_URI string = 'https://${functionApp.outputs.defaultHostName}'
// The webhook's base: append /<event> (default workspace) or /<workspace>/<event>. The
// postdeploy hook (infra/hooks/) prints every URL to paste into Kognitiv.
output KOGNITIV_WEBHOOK_URL string = 'https://${functionApp.outputs.defaultHostName}/api/kognitiv'
output AZURE_KEY_VAULT_NAME string = keyVault.outputs.name
output SERVICE_BUS_NAMESPACE string = queueMode ? serviceBus!.outputs.fullyQualifiedNamespace : ''
output SERVICE_BUS_QUEUE string = queueMode ? serviceBusQueueName : ''
output SERVICE_BUS_DEAD_LETTER_QUEUE string = queueMode ? deadLetterQueueName : ''
output APPLICATIONINSIGHTS_RESOURCE_ID string = dashboard.outputs.applicationInsightsId
