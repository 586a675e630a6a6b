"""second-pass-translation stage (as published)."""

import torch
import transformers
