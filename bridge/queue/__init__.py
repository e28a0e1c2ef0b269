"""The Service Bus trigger and its batch processing (outcomes, settlement)."""
