"""Writes of the workflows app, one module per sub-domain."""
