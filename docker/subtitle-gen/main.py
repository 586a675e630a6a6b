"""subtitle-gen: write the final segments as a subtitle file (format from the extension)."""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path

import pysubs2
from dotenv import load_dotenv


def main(argv: list[str] | None = None) -> int:
    load_dotenv()
    parser = argparse.ArgumentParser(prog="subtitle-gen", description=__doc__)
    parser.add_argument("segments", type=Path, help="JSON list of {start, end, text} in seconds")
    parser.add_argument("output", type=Path, help=".srt, .ass or .vtt")
    args = parser.parse_args(argv)
    subs = pysubs2.SSAFile()
    for segment in json.loads(args.segments.read_text(encoding="utf-8")):
        start, end = pysubs2.make_time(s=segment["start"]), pysubs2.make_time(s=segment["end"])
        subs.append(pysubs2.SSAEvent(start=start, end=end, text=segment["text"].strip()))
    subs.save(str(args.output))
    return 0


if __name__ == "__main__":
    sys.exit(main())
