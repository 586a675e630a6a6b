"""``python -m lockaudit`` runs the command line (as the console script does)."""

from lockaudit.launch import main

main()
