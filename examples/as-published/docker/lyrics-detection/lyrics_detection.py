"""lyrics-detection stage (as published)."""

import librosa
import torch
import transformers
