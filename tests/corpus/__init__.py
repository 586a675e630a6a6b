"""The reliability corpus: bad inputs (``cases.toml``), the base workspace, the harness."""
