"""pip's configuration as pip reads it: where users say which indexes they install from.

Files, lowest priority first (a later file overrides a key of an earlier one, as in pip):
global (``/etc/xdg/pip/pip.conf``, ``/etc/pip.conf``), user (``~/.pip/pip.conf``, then
``$XDG_CONFIG_HOME/pip/pip.conf``), site (``$VIRTUAL_ENV/pip.conf``), then ``PIP_CONFIG_FILE``.
``PIP_CONFIG_FILE=os.devnull`` disables every file; an existing ``PIP_CONFIG_FILE`` replaces the
user files (pip's rule). In each file ``[global]`` is read, then the command's section
(``[install]`` by default: the Dockerfiles run ``pip install``). Environment variables
(``PIP_INDEX_URL``, ``PIP_EXTRA_INDEX_URL``, ``PIP_FIND_LINKS``, ``PIP_CERT``, ``PIP_NO_INDEX``,
``PIP_TIMEOUT``, ``PIP_RETRIES``, ``PIP_TRUSTED_HOST``, ``PIP_CLIENT_CERT``) override files.
Multi-valued options are whitespace separated and replace, never append.

When nothing names an index, pip's own default is asked of the installed pip at run time:
lockaudit does not hard-code any index.
"""

from __future__ import annotations

import configparser
import os
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from lockaudit.errors import IndexFetchError

__all__ = [
    "PipConfig",
    "config_files",
    "default_file_host",
    "default_index_url",
    "read_pip_config",
]

_KEYS = (
    "index-url",
    "extra-index-url",
    "find-links",
    "cert",
    "no-index",
    "timeout",
    "default-timeout",  # pip's other name of --timeout
    "retries",
    "trusted-host",
    "client-cert",
)


@dataclass(frozen=True)
class PipConfig:
    """The index options pip would use; ``index_url`` None means pip's default index."""

    index_url: str | None = None
    extra_index_urls: tuple[str, ...] = ()
    find_links: tuple[str, ...] = ()
    cert: str | None = None
    no_index: bool = False
    timeout: float | None = None  # seconds, per connect and per read (pip's socket timeout)
    retries: int | None = None  # retries after a failed attempt (pip's default: 5)
    trusted_hosts: tuple[str, ...] = ()  # host or host:port: TLS not verified, as pip does
    client_cert: str | None = None  # PEM file with the client's key and certificate
    files: tuple[Path, ...] = field(default=(), compare=False)  # files that were read


def config_files(
    environ: Mapping[str, str] | None = None, *, etc_dir: Path = Path("/etc")
) -> tuple[Path, ...]:
    """pip's configuration files in increasing priority (existing or not).

    ``etc_dir`` is where the global files live (tests point it elsewhere).
    """
    env = os.environ if environ is None else environ
    explicit = env.get("PIP_CONFIG_FILE")
    if explicit == os.devnull:
        return ()
    home = Path(env.get("HOME") or Path.home())
    xdg_dirs = env.get("XDG_CONFIG_DIRS") or str(etc_dir / "xdg")
    files = [Path(d) / "pip" / "pip.conf" for d in xdg_dirs.split(os.pathsep) if d]
    files.append(etc_dir / "pip.conf")
    if not (explicit and Path(explicit).exists()):
        xdg_home = Path(env.get("XDG_CONFIG_HOME") or home / ".config")
        files += [home / ".pip" / "pip.conf", xdg_home / "pip" / "pip.conf"]
    if env.get("VIRTUAL_ENV"):
        files.append(Path(env["VIRTUAL_ENV"]) / "pip.conf")
    if explicit:
        files.append(Path(explicit))
    return tuple(files)


def _normalize(key: str) -> str:
    return key.strip().lstrip("-").replace("_", "-").lower()


def _read_file(path: Path, command: str, into: dict[str, str]) -> bool:
    parser = configparser.RawConfigParser()
    try:
        if not parser.read(path, encoding="utf-8"):
            return False
    except (configparser.Error, UnicodeDecodeError):
        return False  # pip refuses such a file loudly; we only lose its settings
    for section in ("global", command):
        if parser.has_section(section):
            for key, value in parser.items(section):
                if _normalize(key) in _KEYS:
                    into[_normalize(key)] = value
    return True


def _truthy(value: str) -> bool:
    return value.strip().lower() in ("1", "true", "yes", "on")


def read_pip_config(
    environ: Mapping[str, str] | None = None,
    *,
    command: str = "install",
    etc_dir: Path = Path("/etc"),
) -> PipConfig:
    env = os.environ if environ is None else environ
    values: dict[str, str] = {}
    files = config_files(env, etc_dir=etc_dir)
    read = tuple(path for path in files if _read_file(path, command, values))
    for key in _KEYS:
        env_value = env.get("PIP_" + key.upper().replace("-", "_"))
        if env_value is not None:
            values[key] = env_value
    return PipConfig(
        index_url=values.get("index-url", "").strip() or None,
        extra_index_urls=tuple(values.get("extra-index-url", "").split()),
        find_links=tuple(values.get("find-links", "").split()),
        cert=values.get("cert", "").strip() or None,
        no_index=_truthy(values.get("no-index", "")),
        timeout=_number(values.get("timeout", values.get("default-timeout")), float),
        retries=_number(values.get("retries"), int),
        trusted_hosts=tuple(values.get("trusted-host", "").split()),
        client_cert=values.get("client-cert", "").strip() or None,
        files=read,
    )


def _number(text: str | None, kind: type[float] | type[int]) -> Any:
    """A non-negative number pip would accept; None (pip's default) for anything else."""
    try:
        value = kind(text.strip()) if text else None
    except ValueError:
        return None
    return value if value is not None and value >= 0 else None


def default_index_url() -> str:
    """The index pip uses when configured with none, from the installed pip."""
    try:
        from pip._internal.models.index import PyPI
    except ImportError as e:
        raise IndexFetchError(
            "(pip's default index)",
            "no index URL is configured and pip is not installed to tell its default",
            hint="set index-url in pip.conf or PIP_INDEX_URL, or install pip",
        ) from e
    return str(PyPI.simple_url)


def default_file_host() -> str | None:
    """The host pip's default index serves its files from (another host than its pages),
    from the installed pip; None when pip cannot tell."""
    try:
        from pip._internal.models.index import PyPI
    except ImportError:
        return None
    return str(getattr(PyPI, "file_storage_domain", "") or "") or None
