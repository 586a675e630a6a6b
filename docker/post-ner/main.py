"""post-ner: entities of the translated transcript, snapped to the TMDB cast spelling."""

from __future__ import annotations

import argparse
import json
import os
import sys
from pathlib import Path

import spacy
from dotenv import load_dotenv
from rapidfuzz import fuzz, process


def main(argv: list[str] | None = None) -> int:
    load_dotenv()
    parser = argparse.ArgumentParser(prog="post-ner", description=__doc__)
    parser.add_argument("segments", type=Path, help="JSON list of {start, end, text}")
    parser.add_argument("tmdb", type=Path, help="output of the tmdb stage")
    parser.add_argument("output", type=Path)
    parser.add_argument("--min-score", type=float, default=85.0)
    args = parser.parse_args(argv)
    nlp = spacy.load(os.environ.get("SPACY_MODEL", "en_core_web_sm"))
    cast = json.loads(args.tmdb.read_text(encoding="utf-8"))["cast"]
    segments = json.loads(args.segments.read_text(encoding="utf-8"))
    for segment, doc in zip(segments, nlp.pipe(s["text"] for s in segments), strict=True):
        for ent in doc.ents:
            if ent.label_ != "PERSON":
                continue
            match = process.extractOne(ent.text, cast, scorer=fuzz.WRatio)
            if match is not None and match[1] >= args.min_score:
                segment["text"] = segment["text"].replace(ent.text, match[0])
    args.output.write_text(json.dumps(segments, indent=2, ensure_ascii=False), encoding="utf-8")
    return 0


if __name__ == "__main__":
    sys.exit(main())
