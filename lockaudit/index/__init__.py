"""Package index access: the one place lockaudit gets package metadata (see ``types``)."""
