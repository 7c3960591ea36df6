"""This host's L2 and L3 cache sizes, as Linux's sysfs reports them for CPU 0."""

from __future__ import annotations

from pathlib import Path

CACHE_DIR = Path("/sys/devices/system/cpu/cpu0/cache")


def parse_size(text: str) -> int:
    """A sysfs cache size ("48K", "2M", "1024") in bytes."""
    units = {"K": 1024, "M": 1024**2, "G": 1024**3}
    if text[-1:].upper() in units:
        return int(text[:-1]) * units[text[-1].upper()]
    return int(text)


def cache_bytes(cache_dir: Path = CACHE_DIR) -> tuple[int, int]:
    """(L2 bytes, L3 bytes); 0 for a level sysfs does not describe."""
    sizes = {"2": 0, "3": 0}
    for index in sorted(cache_dir.glob("index*")) if cache_dir.is_dir() else []:
        try:
            level = (index / "level").read_text().strip()
            if level in sizes:
                sizes[level] = parse_size((index / "size").read_text().strip())
        except (OSError, ValueError):
            continue
    return sizes["2"], sizes["3"]
