"""tmdb: look a title up on TMDB and write its year and cast (names feed post-ner)."""

from __future__ import annotations

import argparse
import json
import os
import sys
from pathlib import Path

import tmdbsimple
from dotenv import load_dotenv


def main(argv: list[str] | None = None) -> int:
    load_dotenv()
    parser = argparse.ArgumentParser(prog="tmdb", description=__doc__)
    parser.add_argument("title")
    parser.add_argument("output", type=Path)
    parser.add_argument("--year", type=int)
    args = parser.parse_args(argv)
    tmdbsimple.API_KEY = os.environ["TMDB_API_KEY"]
    results = tmdbsimple.Search().movie(query=args.title, year=args.year)["results"]
    if not results:
        print(f"tmdb: no match for {args.title!r}", file=sys.stderr)
        return 1
    movie = tmdbsimple.Movies(results[0]["id"])
    cast = [person["name"] for person in movie.credits()["cast"]]
    record = {"id": movie.id, "title": results[0]["title"], "cast": cast}
    args.output.write_text(json.dumps(record, indent=2), encoding="utf-8")
    return 0


if __name__ == "__main__":
    sys.exit(main())
