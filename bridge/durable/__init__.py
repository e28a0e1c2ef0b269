"""What the durable path stores and sends: queue messages, the Service Bus gateway, the
delivered-keys record, claim checks, member order."""
