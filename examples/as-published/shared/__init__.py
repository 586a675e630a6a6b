"""Shared helpers of the pipeline stages (as published)."""
