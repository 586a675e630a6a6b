"""diarization stage (as published)."""

import torch
import pyannote.audio
