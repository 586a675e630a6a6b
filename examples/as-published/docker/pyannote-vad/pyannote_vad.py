"""pyannote-vad stage (as published)."""

import torch
import pyannote.audio
