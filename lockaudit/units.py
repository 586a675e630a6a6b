"""How lockaudit writes sizes: binary units, one decimal (``2.6 GiB``), everywhere."""

from __future__ import annotations


def format_bytes(count: int) -> str:
    value = float(count)
    for unit in ("B", "KiB", "MiB", "GiB"):
        if value < 1024 or unit == "GiB":
            return f"{count} B" if unit == "B" else f"{value:.1f} {unit}"
        value /= 1024
    return f"{count} B"  # unreachable: the loop returns at GiB
