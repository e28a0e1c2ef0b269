"""What the commands run: replay, erase, dead letters, validate, the delivery report."""
