"""pyannote-vad: speech regions with pyannote's segmentation model (a second VAD opinion)."""

from __future__ import annotations

import argparse
import json
import os
import sys
from pathlib import Path

import torch
from dotenv import load_dotenv
from pyannote.audio import Model
from pyannote.audio.pipelines import VoiceActivityDetection


def main(argv: list[str] | None = None) -> int:
    load_dotenv()
    parser = argparse.ArgumentParser(prog="pyannote-vad", description=__doc__)
    parser.add_argument("audio", type=Path, help="16 kHz mono WAV from demux")
    parser.add_argument("output", type=Path)
    parser.add_argument("--model", default="pyannote/segmentation-3.0")
    args = parser.parse_args(argv)
    model = Model.from_pretrained(args.model, use_auth_token=os.environ.get("HF_TOKEN"))
    pipeline = VoiceActivityDetection(segmentation=model)
    pipeline.instantiate({"min_duration_on": 0.0, "min_duration_off": 0.0})
    if torch.cuda.is_available():
        pipeline.to(torch.device("cuda"))
    speech = pipeline(str(args.audio)).get_timeline().support()
    regions = [{"start": s.start, "end": s.end} for s in speech]
    args.output.write_text(json.dumps(regions, indent=2), encoding="utf-8")
    return 0


if __name__ == "__main__":
    sys.exit(main())
