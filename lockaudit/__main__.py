"""``python -m lockaudit`` runs the command line."""

from lockaudit.cli import main

main()
