"""mux: put the generated subtitles into the video container as a subtitle stream."""

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
    parser = argparse.ArgumentParser(prog="mux", description=__doc__)
    parser.add_argument("video", type=Path)
    parser.add_argument("subtitles", type=Path)
    parser.add_argument("output", type=Path)
    parser.add_argument("--language", default="eng")
    args = parser.parse_args(argv)
    ffmpeg = shutil.which("ffmpeg")
    if ffmpeg is None:
        Console(stderr=True).print("[red]mux: ffmpeg is not installed[/]")
        return 2
    command = [ffmpeg, "-nostdin", "-y", "-i", str(args.video), "-i", str(args.subtitles)]
    command += ["-map", "0", "-map", "1", "-c", "copy", "-c:s", "mov_text"]
    command += ["-metadata:s:s:0", f"language={args.language}", str(args.output)]
    return subprocess.run(command, check=False).returncode


if __name__ == "__main__":
    sys.exit(main())
