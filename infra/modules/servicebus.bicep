// Service Bus for the durable path (queue mode). Only Microsoft Entra identities can send or
// receive (disableLocalAuth): no connection string or SAS key exists to leak.
//
// The main queue follows docs/durable-path.md "Queue settings and creation". The dead-letter destination
// queue is where the app writes its own dead letters (KOGNITIV_SERVICE_BUS_DEAD_LETTER_QUEUE);
// it keeps them until an operator acts: they never expire and are never moved on by reads.
// infra/README.md lists every place a letter can end up.

param namespaceName string
param location string
param tags object

@description('Main queue the webhook enqueues to and the queue trigger reads.')
param queueName string

@description('Queue the app sends its dead letters to.')
param deadLetterQueueName string

// TimeSpan.MaxValue: Service Bus's "never expires".
var neverExpires = 'P10675199DT2H48M5.4775807S'

resource namespace 'Microsoft.ServiceBus/namespaces@2024-01-01' = {
  name: namespaceName
  location: location
  tags: tags
  sku: {
    name: 'Standard'
    tier: 'Standard'
  }
  properties: {
    disableLocalAuth: true
    minimumTlsVersion: '1.2'
    publicNetworkAccess: 'Enabled'
  }
}

resource queue 'Microsoft.ServiceBus/namespaces/queues@2024-01-01' = {
  parent: namespace
  name: queueName
  properties: {
    // Batch locks are not renewed: a batch must finish inside the (maximal) lock.
    lockDuration: 'PT5M'
    // Only crashes reach it: normal failures are rescheduled, not abandoned.
    maxDeliveryCount: 10
    // A Kognitiv delivery repeated within a day has the same MessageId and is dropped.
    requiresDuplicateDetection: true
    duplicateDetectionHistoryTimeWindow: 'P1D'
    // Nothing silently expires: an unprocessed message moves to $DeadLetterQueue after 14 days.
    defaultMessageTimeToLive: 'P14D'
    deadLetteringOnMessageExpiration: true
    requiresSession: false
    enablePartitioning: false
    enableBatchedOperations: true
    // Room for a long MoEngage outage's backlog (the Standard tier's largest size).
    maxSizeInMegabytes: 5120
  }
}

resource deadLetterQueue 'Microsoft.ServiceBus/namespaces/queues@2024-01-01' = {
  parent: namespace
  name: deadLetterQueueName
  properties: {
    lockDuration: 'PT1M'
    // Letters stay until an operator replays or removes them.
    defaultMessageTimeToLive: neverExpires
    deadLetteringOnMessageExpiration: false
    // Operator reads that abandon a letter must not forward it to this queue's own
    // $DeadLetterQueue: the Service Bus maximum.
    maxDeliveryCount: 2000
    // A dead-letter write retried after a lost acknowledgement, or the same message
    // dead-lettered again after its batch was redelivered, is kept once. A replayed letter gets
    // a new MessageId, so it can always be dead-lettered again.
    requiresDuplicateDetection: true
    duplicateDetectionHistoryTimeWindow: 'P1D'
    requiresSession: false
    enablePartitioning: false
    enableBatchedOperations: true
    maxSizeInMegabytes: 5120
  }
}

output namespaceName string = namespace.name
// https://<namespace>.servicebus.windows.net:443/ -> <namespace>.servicebus.windows.net
output fullyQualifiedNamespace string = replace(replace(namespace.properties.serviceBusEndpoint, 'https://', ''), ':443/', '')
output queueName string = queue.name
output deadLetterQueueName string = deadLetterQueue.name
