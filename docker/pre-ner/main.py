"""pre-ner: named entities of the source-language transcript, kept out of translation."""

from __future__ import annotations

import argparse
import json
import os
import sys
from pathlib import Path

import spacy
from dotenv import load_dotenv


def main(argv: list[str] | None = None) -> int:
    load_dotenv()
    parser = argparse.ArgumentParser(prog="pre-ner", description=__doc__)
    parser.add_argument("segments", type=Path, help="JSON list of {start, end, text}")
    parser.add_argument("output", type=Path)
    args = parser.parse_args(argv)
    # The spaCy model is not a package of the index: it is provided by the deployment.
    nlp = spacy.load(os.environ.get("SPACY_MODEL", "en_core_web_sm"))
    segments = json.loads(args.segments.read_text(encoding="utf-8"))
    entities = [
        {"segment": i, "text": ent.text, "label": ent.label_}
        for i, doc in enumerate(nlp.pipe(s["text"] for s in segments))
        for ent in doc.ents
    ]
    args.output.write_text(json.dumps(entities, indent=2), encoding="utf-8")
    return 0


if __name__ == "__main__":
    sys.exit(main())
