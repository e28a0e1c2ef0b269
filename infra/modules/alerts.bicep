// Alert rules of the delivery dashboard (docs/operations.md "Delivery dashboard and alerts"): log alerts on
// the app's Application Insights (queries in infra/alerts/*.kql), metric alerts on the Service Bus
// queue (queue mode), and an action group that e-mails `alertEmail` (none when it is empty: the
// alerts still fire and show in Azure Monitor > Alerts).

param applicationInsightsName string
param location string
param tags object

@description('Prefix of the rule names, e.g. the resource token.')
param namePrefix string

@description('E-mail address the alerts go to; empty: no action group.')
param alertEmail string = ''

@description('Service Bus namespace of queue mode; empty in direct mode (no metric alerts).')
param serviceBusNamespaceName string = ''

@description('Main Service Bus queue (queue mode).')
param queueName string = ''

@minValue(1)
@maxValue(100)
@description('Failure ratio alert: percent of outcomes in 15 minutes that are not deliveries.')
param failureRatioPercent int = 10

@minValue(1)
@description('Failure ratio alert: fewest outcomes in 15 minutes for the ratio to count.')
param failureMinimumOutcomes int = 5

@allowed([
  30
  60
  120
  180
  360
])
@description('No-delivery alert: minutes with webhooks arriving and nothing delivered.')
param noDeliveryMinutes int = 60

@allowed([
  15
  30
  60
  360
])
@description('Queue backlog alerts: minutes a message may wait in the main queue.')
param backlogMinutes int = 30

resource applicationInsights 'Microsoft.Insights/components@2020-02-02' existing = {
  name: applicationInsightsName
}

var queueMode = !empty(serviceBusNamespaceName)
var emailOn = !empty(alertEmail)
var troubleshooting = 'What to do: docs/operations.md#'

resource actionGroup 'Microsoft.Insights/actionGroups@2023-01-01' = if (emailOn) {
  name: 'ag-${namePrefix}'
  location: 'global'
  tags: tags
  properties: {
    groupShortName: 'kognitiv'
    enabled: true
    emailReceivers: [
      {
        name: 'operator'
        emailAddress: alertEmail
        useCommonAlertSchema: true
      }
    ]
  }
}

var actionGroupIds = emailOn ? [
  actionGroup.id
] : []
var metricAlertActions = emailOn ? [
  {
    actionGroupId: actionGroup.id
  }
] : []

var logAlerts = [
  {
    name: 'dead-letters'
    displayName: 'Kognitiv bridge: dead letters appeared'
    description: 'The app dead-lettered messages (invalid payload, mapping failed, MoEngage refused an element, retries exhausted). ${troubleshooting}dead-letters-appeared'
    severity: 2
    windowSize: 'PT15M'
    query: loadTextContent('../alerts/dead-letters.kql')
  }
  {
    name: 'credentials-refused'
    displayName: 'Kognitiv bridge: MoEngage refuses the credentials'
    description: 'MoEngage answered 401 or 403: nothing is delivered until the settings are fixed (queued messages wait). ${troubleshooting}moengage-refuses-the-credentials'
    severity: 1
    windowSize: 'PT15M'
    query: loadTextContent('../alerts/credentials-refused.kql')
  }
  {
    name: 'failure-ratio'
    displayName: 'Kognitiv bridge: failure ratio above ${failureRatioPercent}%'
    description: 'More than ${failureRatioPercent}% of the outcomes in 15 minutes were not deliveries. ${troubleshooting}failure-ratio-above-the-threshold'
    severity: 2
    windowSize: 'PT15M'
    query: format('let failure_ratio = {0} / 100.0;\nlet minimum_outcomes = {1};\n{2}', failureRatioPercent, failureMinimumOutcomes, loadTextContent('../alerts/failure-ratio.kql'))
  }
  {
    name: 'no-deliveries'
    displayName: 'Kognitiv bridge: webhooks arrive, nothing delivered'
    description: 'Webhooks arrived for ${noDeliveryMinutes} minutes and nothing reached MoEngage. ${troubleshooting}webhooks-arrive-nothing-delivered'
    severity: 1
    windowSize: noDeliveryMinutes < 60 ? 'PT${noDeliveryMinutes}M' : 'PT${noDeliveryMinutes / 60}H'
    query: loadTextContent('../alerts/no-deliveries.kql')
  }
  {
    name: 'queue-backlog'
    displayName: 'Kognitiv bridge: messages waited over ${backlogMinutes} minutes in the queue'
    description: 'A message processed in the last 15 minutes had waited more than ${backlogMinutes} minutes in the main queue. ${troubleshooting}queue-backlog'
    severity: 2
    windowSize: 'PT15M'
    query: format('let backlog_minutes = {0};\n{1}', backlogMinutes, loadTextContent('../alerts/queue-backlog.kql'))
  }
]

resource logAlert 'Microsoft.Insights/scheduledQueryRules@2023-12-01' = [for rule in logAlerts: {
  name: 'alert-${namePrefix}-${rule.name}'
  location: location
  tags: tags
  kind: 'LogAlert'
  properties: {
    displayName: rule.displayName
    description: rule.description
    severity: rule.severity
    enabled: true
    scopes: [
      applicationInsights.id
    ]
    evaluationFrequency: 'PT5M'
    windowSize: rule.windowSize
    criteria: {
      allOf: [
        {
          query: rule.query
          timeAggregation: 'Count'
          operator: 'GreaterThan'
          threshold: 0
          failingPeriods: {
            numberOfEvaluationPeriods: 1
            minFailingPeriodsToAlert: 1
          }
        }
      ]
    }
    autoMitigate: true
    actions: {
      actionGroups: actionGroupIds
    }
  }
}]

var serviceBusNamespaceId = resourceId('Microsoft.ServiceBus/namespaces', queueMode ? serviceBusNamespaceName : 'none')
var backlogWindow = backlogMinutes < 60 ? 'PT${backlogMinutes}M' : 'PT${backlogMinutes / 60}H'

var metricAlerts = [
  {
    name: 'servicebus-dead-letters'
    description: 'Service Bus moved messages of the main queue to its $DeadLetterQueue (delivery count exceeded or expired). ${troubleshooting}dead-letters-appeared'
    severity: 2
    windowSize: 'PT15M'
    metricName: 'DeadletteredMessages'
    timeAggregation: 'Maximum'
  }
  {
    name: 'queue-backlog-metric'
    description: 'The main queue held active messages during all of the last ${backlogMinutes} minutes: the trigger is stopped or cannot keep up. ${troubleshooting}queue-backlog'
    severity: 2
    windowSize: backlogWindow
    metricName: 'ActiveMessages'
    timeAggregation: 'Minimum'
  }
]

resource metricAlert 'Microsoft.Insights/metricAlerts@2018-03-01' = [for rule in metricAlerts: if (queueMode) {
  name: 'alert-${namePrefix}-${rule.name}'
  location: 'global'
  tags: tags
  properties: {
    description: rule.description
    severity: rule.severity
    enabled: true
    scopes: [
      serviceBusNamespaceId
    ]
    evaluationFrequency: 'PT5M'
    windowSize: rule.windowSize
    targetResourceType: 'Microsoft.ServiceBus/namespaces'
    autoMitigate: true
    criteria: {
      'odata.type': 'Microsoft.Azure.Monitor.SingleResourceMultipleMetricCriteria'
      allOf: [
        {
          criterionType: 'StaticThresholdCriterion'
          name: rule.metricName
          metricNamespace: 'Microsoft.ServiceBus/namespaces'
          metricName: rule.metricName
          dimensions: [
            {
              name: 'EntityName'
              operator: 'Include'
              values: [
                queueName
              ]
            }
          ]
          operator: 'GreaterThan'
          threshold: 0
          timeAggregation: rule.timeAggregation
        }
      ]
    }
    actions: metricAlertActions
  }
}]
