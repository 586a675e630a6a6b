"""asr stage (as published)."""

import torch
import whisperx
