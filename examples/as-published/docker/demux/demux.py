"""demux stage (as published)."""

import subprocess
import ffmpeg
