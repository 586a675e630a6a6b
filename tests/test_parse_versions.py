"""versions.txt: settings, pins, notes, and every way a line can be wrong."""

from __future__ import annotations

from pathlib import Path

import pytest
from packaging.version import Version

from lockaudit.errors import InputError, Location
from lockaudit.parsing.versions import Setting, parse_versions, parse_versions_text

DATA = Path(__file__).parent / "data" / "parsing"


def test_fixture_file() -> None:
    parsed = parse_versions(DATA, "versions.txt")
    assert parsed.settings == (
        Setting("PYTHON_VERSION", "3.11", Location("versions.txt", 2)),
        Setting("CUDA_VERSION", "12.1", Location("versions.txt", 3)),
        Setting("CUDNN", "8", Location("versions.txt", 4)),
    )
    assert parsed.setting("CUDA_VERSION") == "12.1"
    assert parsed.setting("MISSING") is None
    torch = parsed.pin("Torch")
    assert torch is not None
    assert torch.pinned_version == Version("2.1.0+cu121")
    assert torch.location == Location("versions.txt", 7)
    whisper = parsed.pin("faster_whisper")
    assert whisper is not None and whisper.requirement.marker is not None
    assert parsed.pin("numpy") is None
    assert [p.name for p in parsed.pins] == ["torch", "torchaudio", "faster-whisper"]
    assert parsed.notes == (
        (Location("versions.txt", 1), "Compatibility matrix of the speech pipeline"),
        (Location("versions.txt", 6), "torch 2.1.0 is the last release built for cu121 we tested"),
        (Location("versions.txt", 7), "from the cu121 index"),
    )


@pytest.mark.parametrize(
    ("text", "key", "value"),
    [
        pytest.param("PYTHON_VERSION=3.11", "PYTHON_VERSION", "3.11", id="plain"),
        pytest.param("CUDA_VERSION = 12.1", "CUDA_VERSION", "12.1", id="spaces"),
        pytest.param("BASE_TAG='3.11-slim'", "BASE_TAG", "3.11-slim", id="single-quoted"),
        pytest.param('A1="x y"', "A1", "x y", id="double-quoted"),
        pytest.param("EMPTY=", "EMPTY", "", id="empty"),
        pytest.param("\ufeffKEY=v\r\n", "KEY", "v", id="bom-crlf"),
    ],
)
def test_settings(text: str, key: str, value: str) -> None:
    parsed = parse_versions_text(text, "versions.txt")
    assert parsed.setting(key) == value
    assert parsed.pins == ()


@pytest.mark.parametrize(
    ("text", "name", "version"),
    [
        pytest.param("torch==2.1.0", "torch", "2.1.0", id="pin"),
        pytest.param("TORCH==2.1.0", "torch", "2.1.0", id="upper-case-name-is-a-pin-not-a-key"),
        pytest.param("ctranslate2>=3.24", "ctranslate2", None, id="range"),
    ],
)
def test_pins(text: str, name: str, version: str | None) -> None:
    parsed = parse_versions_text(text, "versions.txt")
    pin = parsed.pin(name)
    assert pin is not None
    assert pin.pinned_version == (Version(version) if version else None)
    assert parsed.settings == ()


@pytest.mark.parametrize(
    ("text", "prefix"),
    [
        pytest.param(
            "# ok\nthis is not a line", "versions.txt:2: expected a '# note', KEY=VALUE", id="prose"
        ),
        pytest.param(
            "torch = 2.1.0", "versions.txt:1: expected a '# note'", id="name-space-version"
        ),
        pytest.param("lower_key=1", "versions.txt:1: expected a '# note'", id="lower-case-key"),
        pytest.param("torch==", "versions.txt:1: expected a '# note'", id="bad-pin"),
        pytest.param(
            "A=1\nA=2",
            "versions.txt:2: A is set twice (first at versions.txt:1)",
            id="duplicate-setting",
        ),
        pytest.param(
            "torch==2.1.0\n\nTorch==2.1.1",
            "versions.txt:3: torch is pinned twice (first at versions.txt:1)",
            id="duplicate-pin",
        ),
    ],
)
def test_errors(text: str, prefix: str) -> None:
    with pytest.raises(InputError) as info:
        parse_versions_text(text, "versions.txt")
    assert str(info.value).startswith(prefix)


@pytest.mark.parametrize(
    ("path", "prefix"),
    [
        pytest.param("nope.txt", "nope.txt: no such file", id="missing"),
        pytest.param(
            "requirements/binary.txt", "requirements/binary.txt:2: binary file", id="binary"
        ),
    ],
)
def test_file_errors(path: str, prefix: str) -> None:
    with pytest.raises(InputError) as info:
        parse_versions(DATA, path)
    assert str(info.value).startswith(prefix)
