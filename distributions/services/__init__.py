"""Writes of the distributions app, one module per sub-domain."""
