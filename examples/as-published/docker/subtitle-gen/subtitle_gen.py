"""subtitle-gen stage (as published)."""

import pysubs2
