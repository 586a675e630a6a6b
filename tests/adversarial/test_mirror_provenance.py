"""A lock whose hashes came from a mirror says so, without credentials.

The CUDA index is mirrored (``LOCKAUDIT_INDEX_MIRRORS``) to the CPU index through a URL that
carries a user and a token. The body of every lock keeps the routed index (what ``check``
verifies, and what a build without the mirror installs from); the header of each lock whose
own packages came through the mirror names the index and the mirror, the token redacted.
Locks of images that took nothing through it say nothing of it.
"""

from __future__ import annotations

from pathlib import Path

from tests.corpus.harness import Cli, cli_env
from tests.indexserver import IndexServer


def test_a_mirror_is_recorded_without_its_credentials(
    root: Path, tmp_path: Path, server: IndexServer
) -> None:
    cu121 = server.index_url("pytorch-cu121")
    mirror = server.index_url("pytorch-cpu").replace("http://", "http://builder:s3cret-token@")
    env = cli_env(server, tmp_path / "cold")
    env["LOCKAUDIT_INDEX_MIRRORS"] = f"{cu121}={mirror}"

    ran = Cli(root, env).run("compile", "--all", "--upgrade")

    assert ran.returncode == 0, ran.stdout + ran.stderr
    redacted = server.index_url("pytorch-cpu").replace("http://", "http://builder:***@")
    for slug in ("base-ml-cuda", "base-ml-cuda.layer"):
        text = (root / "locks" / f"{slug}.txt").read_text(encoding="utf-8")
        header = text.split("# body-digest:", 1)[0]
        assert f"# mirror: {cu121} {redacted}\n" in header, header
        assert "# index: " + cu121 in text  # the body keeps the routed index
    for path in (root / "locks").iterdir():
        assert "s3cret-token" not in path.read_text(encoding="utf-8"), path
    # base:cpu takes nothing from the CUDA index; asr:cpu is routed to the CPU index itself
    for slug in ("base-cpu", "asr-cpu"):
        assert "# mirror:" not in (root / "locks" / f"{slug}.txt").read_text(encoding="utf-8")
    assert "s3cret-token" not in ran.stdout + ran.stderr

    check = Cli(root, env).run("check")
    assert check.returncode == 0, check.stdout + check.stderr
