"""Test support for ``lockaudit build``: a real Docker engine and small workspaces to build."""
