"""second-pass-translation: translate the corrected transcript with a transformers model."""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path

# transformers needs protobuf only when it converts a sentencepiece tokenizer to a fast one;
# importing it here makes a missing package fail at start, not in the middle of a job.
import google.protobuf  # noqa: F401
import torch
from dotenv import load_dotenv
from transformers import pipeline


def main(argv: list[str] | None = None) -> int:
    load_dotenv()
    parser = argparse.ArgumentParser(prog="second-pass-translation", description=__doc__)
    parser.add_argument("segments", type=Path, help="JSON list of {start, end, text}")
    parser.add_argument("output", type=Path)
    parser.add_argument("--model", default="Helsinki-NLP/opus-mt-hi-en")
    parser.add_argument("--batch-size", type=int, default=16)
    args = parser.parse_args(argv)
    translator = pipeline(
        "translation", model=args.model, device=0 if torch.cuda.is_available() else -1
    )
    segments = json.loads(args.segments.read_text(encoding="utf-8"))
    outputs = translator([s["text"] for s in segments], batch_size=args.batch_size)
    for segment, out in zip(segments, outputs, strict=True):
        segment["text"] = out["translation_text"]
    args.output.write_text(json.dumps(segments, indent=2, ensure_ascii=False), encoding="utf-8")
    return 0


if __name__ == "__main__":
    sys.exit(main())
