"""silero-vad: speech regions of the demuxed audio with Silero VAD (model shipped in the wheel)."""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path

import torch
from dotenv import load_dotenv
from silero_vad import get_speech_timestamps, load_silero_vad, read_audio

SAMPLE_RATE = 16000


def main(argv: list[str] | None = None) -> int:
    load_dotenv()
    parser = argparse.ArgumentParser(prog="silero-vad", description=__doc__)
    parser.add_argument("audio", type=Path, help="16 kHz mono WAV from demux")
    parser.add_argument("output", type=Path)
    parser.add_argument("--threshold", type=float, default=0.5)
    args = parser.parse_args(argv)
    torch.set_num_threads(1)  # Silero is small: more threads only add contention
    model = load_silero_vad()
    wav = read_audio(str(args.audio), sampling_rate=SAMPLE_RATE)
    regions = get_speech_timestamps(
        wav, model, threshold=args.threshold, sampling_rate=SAMPLE_RATE, return_seconds=True
    )
    args.output.write_text(json.dumps(regions, indent=2), encoding="utf-8")
    return 0


if __name__ == "__main__":
    sys.exit(main())
