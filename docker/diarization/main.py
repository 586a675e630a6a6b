"""diarization: who speaks when, with the pyannote speaker-diarization pipeline."""

from __future__ import annotations

import argparse
import json
import os
import sys
from pathlib import Path

import torch
from dotenv import load_dotenv
from pyannote.audio import Pipeline


def main(argv: list[str] | None = None) -> int:
    load_dotenv()
    parser = argparse.ArgumentParser(prog="diarization", description=__doc__)
    parser.add_argument("audio", type=Path, help="16 kHz mono WAV from demux")
    parser.add_argument("output", type=Path)
    parser.add_argument("--pipeline", default="pyannote/speaker-diarization-3.1")
    parser.add_argument("--speakers", type=int)
    args = parser.parse_args(argv)
    pipeline = Pipeline.from_pretrained(args.pipeline, use_auth_token=os.environ.get("HF_TOKEN"))
    if torch.cuda.is_available():
        pipeline.to(torch.device("cuda"))
    annotation = pipeline(str(args.audio), num_speakers=args.speakers)
    turns = [
        {"start": turn.start, "end": turn.end, "speaker": speaker}
        for turn, _, speaker in annotation.itertracks(yield_label=True)
    ]
    args.output.write_text(json.dumps(turns, indent=2), encoding="utf-8")
    return 0


if __name__ == "__main__":
    sys.exit(main())
