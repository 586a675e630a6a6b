"""lyrics-detection: mark windows where singing dominates, so ASR output there is flagged."""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path

import librosa
import torch
from dotenv import load_dotenv
from transformers import pipeline

SAMPLE_RATE = 16000
SUNG = {"Singing", "Music", "Song", "Vocal music"}


def main(argv: list[str] | None = None) -> int:
    load_dotenv()
    parser = argparse.ArgumentParser(prog="lyrics-detection", description=__doc__)
    parser.add_argument("audio", type=Path, help="16 kHz mono WAV from demux")
    parser.add_argument("output", type=Path)
    parser.add_argument("--model", default="MIT/ast-finetuned-audioset-10-10-0.4593")
    parser.add_argument("--window", type=float, default=10.0, help="seconds")
    args = parser.parse_args(argv)
    classify = pipeline(
        "audio-classification", model=args.model, device=0 if torch.cuda.is_available() else -1
    )
    audio, _ = librosa.load(str(args.audio), sr=SAMPLE_RATE, mono=True)
    step = int(args.window * SAMPLE_RATE)
    windows = []
    for start in range(0, len(audio), step):
        labels = classify({"raw": audio[start : start + step], "sampling_rate": SAMPLE_RATE})
        score = sum(item["score"] for item in labels if item["label"] in SUNG)
        windows.append({"start": start / SAMPLE_RATE, "sung": round(score, 3)})
    args.output.write_text(json.dumps(windows, indent=2), encoding="utf-8")
    return 0


if __name__ == "__main__":
    sys.exit(main())
