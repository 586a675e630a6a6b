"""Write the trimmed copies of corpus repositories from git clones of them.

    python tests/realworld/materialize.py <owner>__<name>=<git dir> ...

For each repository, every file of its ``files.sha256`` is read at the commit of its
``expected.toml`` (``git show <commit>:<path>``: bare clones work, nothing is checked out) and
written under ``LOCKAUDIT_REALWORLD_DIR`` (default ``../shared/realworld`` beside the repository),
after checking its sha256. Exits 1 naming each file that is missing or differs.
"""

from __future__ import annotations

import hashlib
import subprocess
import sys
from pathlib import Path

if __package__ in (None, ""):  # run as a script: make ``tests.realworld`` importable
    sys.path.insert(0, str(Path(__file__).resolve().parents[2]))

from tests.realworld.compare import data_root, load_expected


def materialize(repo: str, git_dir: Path, out: Path) -> list[str]:
    expected = load_expected(repo)
    commit = expected.meta["commit"]
    wrong = []
    for digest, path in expected.files:
        shown = subprocess.run(
            ["git", "-C", str(git_dir), "show", f"{commit}:{path}"],
            capture_output=True, check=False,
        )
        if shown.returncode != 0:
            wrong.append(f"{repo}/{path}: not at {commit[:12]} in {git_dir}")
            continue
        if hashlib.sha256(shown.stdout).hexdigest() != digest:
            wrong.append(f"{repo}/{path}: sha256 differs from files.sha256")
            continue
        target = out / repo / path
        target.parent.mkdir(parents=True, exist_ok=True)
        partial = target.with_name(target.name + ".partial")
        partial.write_bytes(shown.stdout)
        partial.replace(target)
    return wrong


def main(argv: list[str]) -> int:
    if not argv or any("=" not in arg for arg in argv):
        print(__doc__, file=sys.stderr)
        return 2
    wrong = []
    for arg in argv:
        repo, _, git_dir = arg.partition("=")
        wrong += materialize(repo, Path(git_dir), data_root())
    for line in wrong:
        print(line, file=sys.stderr)
    return 1 if wrong else 0


if __name__ == "__main__":
    raise SystemExit(main(sys.argv[1:]))
