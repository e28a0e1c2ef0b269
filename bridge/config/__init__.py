"""Settings, workspaces, mapping configuration, the Kognitiv credentials."""
