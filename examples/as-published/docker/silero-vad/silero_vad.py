"""silero-vad stage (as published)."""

import torch
import torchaudio
