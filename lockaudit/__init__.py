"""lockaudit: machine-checked dependency locks for families of Python Docker images."""

__version__ = "0.1.0"
