"""demux: extract the audio track of a media file as 16 kHz mono WAV, the input of every stage."""

from __future__ import annotations

import argparse
import shutil
import subprocess
import sys
from pathlib import Path

from dotenv import load_dotenv
from rich.console import Console


def main(argv: list[str] | None = None) -> int:
    load_dotenv()
    parser = argparse.ArgumentParser(prog="demux", description=__doc__)
    parser.add_argument("media", type=Path)
    parser.add_argument("audio", type=Path)
    args = parser.parse_args(argv)
    ffmpeg = shutil.which("ffmpeg")
    if ffmpeg is None:
        Console(stderr=True).print("[red]demux: ffmpeg is not installed[/]")
        return 2
    command = [ffmpeg, "-nostdin", "-y", "-i", str(args.media), "-vn", "-ac", "1", "-ar", "16000"]
    return subprocess.run([*command, str(args.audio)], check=False).returncode


if __name__ == "__main__":
    sys.exit(main())
