"""The HTTP flow: the webhook, its body checks, the health endpoint."""
