"""Hostile inputs: tampered locks, hostile indexes and workspaces, each with its exact outcome."""
