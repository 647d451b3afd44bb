"""Files at rest: whatever custody writes is for its own user only (0600, folders 0700)."""

from __future__ import annotations

import os
import stat
from pathlib import Path
from typing import TYPE_CHECKING

from custody.errors import ConfigError

if TYPE_CHECKING:  # `custody --help` sets the umask: it must not pay for the config's imports
    from custody.config import Settings

PRIVATE_UMASK = 0o077
SQLITE_SIDE_FILES = ("", "-wal", "-shm", "-journal")


def private_umask() -> None:
    """Create every later file 0600 and folder 0700, whatever umask custody was started with."""
    os.umask(PRIVATE_UMASK)


def _with_side_files(database: Path) -> list[Path]:
    """A SQLite database and the files SQLite keeps beside it."""
    return [database.with_name(database.name + suffix) for suffix in SQLITE_SIDE_FILES]


def _kept_paths(settings: Settings) -> list[Path]:
    """custody's own files and folders: its data folder, and files configured elsewhere."""
    paths: list[Path] = []
    var = settings.path(Path("var"))
    if var.is_dir():
        paths.append(var)
        paths.extend(sorted(var.rglob("*")))
    url = settings.database_url
    if url.startswith("sqlite:///") and ":memory:" not in url:
        paths += _with_side_files(Path(url[len("sqlite:///"):]))
    local = settings.secrets.local
    paths += _with_side_files(settings.path(local.path))
    paths += [settings.path(local.kek_file), settings.path(settings.server.session_key_file)]
    if settings.server.tls_key is not None:
        paths.append(settings.path(settings.server.tls_key))
    return paths


def tighten(settings: Settings) -> list[str]:
    """Take away every permission others have on custody's existing files (0600) and
    folders (0700); return one line per change. Raise ConfigError, with the reason, for
    a file whose mode cannot be changed."""
    changes: list[str] = []
    seen: set[Path] = set()
    for path in _kept_paths(settings):
        if path in seen:
            continue
        seen.add(path)
        try:
            info = path.lstat()
        except FileNotFoundError:
            continue
        if stat.S_ISLNK(info.st_mode) or not (info.st_mode & 0o077):
            continue
        wanted = 0o700 if stat.S_ISDIR(info.st_mode) else 0o600
        try:
            path.chmod(stat.S_IMODE(info.st_mode) & wanted)
        except OSError as exc:
            raise ConfigError(f"{path} is open to other users (mode "
                              f"{stat.S_IMODE(info.st_mode):04o}) and custody cannot change "
                              f"that: {exc.strerror}. Make it {wanted:04o}, owned by the "
                              "user custody runs as") from None
        changes.append(f"{path}: mode {stat.S_IMODE(info.st_mode):04o} -> "
                       f"{stat.S_IMODE(info.st_mode) & wanted:04o} (custody's files are for "
                       "its own user only)")
    return changes
