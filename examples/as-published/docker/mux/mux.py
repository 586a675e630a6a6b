"""mux stage (as published)."""

import subprocess
