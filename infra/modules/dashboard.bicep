// The delivery dashboard: an Azure Monitor workbook over the app's Application Insights (README
// "Delivery dashboard and alerts"). Its content is the data file infra/workbook/delivery.workbook.json,
// with the Application Insights and Service Bus resource ids put in at deployment.

param applicationInsightsName string
param location string
param tags object

@description('Service Bus namespace of queue mode; empty in direct mode (the queue panel stays hidden).')
param serviceBusNamespaceName string = ''

@description('Name shown in Azure Monitor > Workbooks and on the Application Insights resource.')
param displayName string = 'Kognitiv to MoEngage deliveries'

resource applicationInsights 'Microsoft.Insights/components@2020-02-02' existing = {
  name: applicationInsightsName
}

var serviceBusNamespaceId = empty(serviceBusNamespaceName) ? '' : resourceId('Microsoft.ServiceBus/namespaces', serviceBusNamespaceName)
var workbookTemplate = loadTextContent('../workbook/delivery.workbook.json')
var workbookContent = replace(replace(workbookTemplate, '__APPLICATION_INSIGHTS_ID__', applicationInsights.id), '__SERVICE_BUS_NAMESPACE_ID__', serviceBusNamespaceId)

resource workbook 'Microsoft.Insights/workbooks@2023-06-01' = {
  // A stable GUID: re-provisioning updates the same workbook.
  name: guid(applicationInsights.id, 'kognitiv-delivery-workbook')
  location: location
  tags: union(tags, {
    'hidden-title': displayName
  })
  kind: 'shared'
  properties: {
    displayName: displayName
    category: 'workbook'
    sourceId: applicationInsights.id
    serializedData: workbookContent
    version: '1.0'
  }
}

output workbookId string = workbook.id
@description('For kognitiv-bridge report.')
output applicationInsightsId string = applicationInsights.id
