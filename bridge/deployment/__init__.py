"""The composition of a deployment: each workspace's settings, mapper, sender, record and
gateway, built once."""
