"""asr: transcribe with faster-whisper (the CTranslate2 Whisper engine WhisperX is built on)."""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path

import ctranslate2
from dotenv import load_dotenv
from faster_whisper import WhisperModel


def main(argv: list[str] | None = None) -> int:
    load_dotenv()
    parser = argparse.ArgumentParser(prog="asr", description=__doc__)
    parser.add_argument("audio", type=Path, help="16 kHz mono WAV from demux")
    parser.add_argument("output", type=Path)
    parser.add_argument("--model", default="large-v3")
    parser.add_argument("--language")
    args = parser.parse_args(argv)
    # The same image runs on a GPU host or, as the CPU fallback, without one.
    cuda = ctranslate2.get_cuda_device_count() > 0
    model = WhisperModel(
        args.model, device="cuda" if cuda else "cpu", compute_type="float16" if cuda else "int8"
    )
    segments, info = model.transcribe(str(args.audio), language=args.language, word_timestamps=True)
    result = {
        "language": info.language,
        "segments": [{"start": s.start, "end": s.end, "text": s.text} for s in segments],
    }
    args.output.write_text(json.dumps(result, indent=2, ensure_ascii=False), encoding="utf-8")
    return 0


if __name__ == "__main__":
    sys.exit(main())
