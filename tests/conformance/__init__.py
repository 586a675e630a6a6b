"""Resolver conformance: packse scenarios and pip/uv oracles (see ``test_packse.py``)."""
