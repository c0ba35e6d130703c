"""Where seedchat keeps its files, and how it writes them (atomically).

Data (models, the conversation database), config (settings) and cache (wheels,
downloads) come from platformdirs. When ``SEEDCHAT_HOME`` is set, all three live
under it instead: ``$SEEDCHAT_HOME/{data,config,cache}``. Tests point it at a
temporary directory.
"""

from __future__ import annotations

import os
import shutil
import tempfile
from dataclasses import dataclass
from pathlib import Path

import platformdirs

from seedchat.errors import PathsError, SeedchatError

APP_NAME = "seedchat"
HOME_ENV = "SEEDCHAT_HOME"


@dataclass(frozen=True)
class Paths:
    data: Path
    config: Path
    cache: Path

    # what lives in them
    models = property(lambda self: self.data / "models")
    database = property(lambda self: self.data / "seedchat.db")
    settings_file = property(lambda self: self.config / "settings.json")
    presets_file = property(lambda self: self.config / "presets.json")  # the user's presets
    lan_password_file = property(lambda self: self.config / "lan-password")  # ui --lan (0600)
    downloads = property(lambda self: self.cache / "downloads")

    def ensure(self) -> Paths:
        """Create the directories; raise :class:`PathsError` when one cannot be."""
        for path in (self.data, self.models, self.config, self.cache):
            try:
                path.mkdir(parents=True, exist_ok=True)
            except OSError as exc:
                raise PathsError(
                    f"Cannot create seedchat's directory {path}: {exc.strerror or exc}",
                    hint=f"Check its permissions, or set {HOME_ENV} to a writable folder.",
                ) from exc
        return self


def get_paths() -> Paths:
    """The directories in force now (reads ``SEEDCHAT_HOME`` on every call)."""
    home = os.environ.get(HOME_ENV)
    if home:
        root = Path(home).expanduser()
        return Paths(data=root / "data", config=root / "config", cache=root / "cache")
    return Paths(
        data=Path(platformdirs.user_data_dir(APP_NAME, appauthor=False)),
        config=Path(platformdirs.user_config_dir(APP_NAME, appauthor=False)),
        cache=Path(platformdirs.user_cache_dir(APP_NAME, appauthor=False)),
    )


def check_writable(directory: Path) -> str | None:
    """Return None if a file can be created in ``directory``, else the reason why not."""
    try:
        directory.mkdir(parents=True, exist_ok=True)
        with tempfile.NamedTemporaryFile(dir=directory, prefix=".probe-", delete=True):
            pass
    except OSError as exc:
        return exc.strerror or str(exc)
    return None


def free_bytes(directory: Path) -> int | None:
    """Free space on the disk holding ``directory`` (or its nearest existing parent)."""
    path = directory
    while not path.exists():
        if path.parent == path:
            return None
        path = path.parent
    try:
        return shutil.disk_usage(path).free
    except OSError:
        return None


def atomic_write_text(path: Path, text: str) -> None:
    """Write ``text`` to ``path`` through a temporary file and a rename."""
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.", suffix=".tmp")
    try:
        with os.fdopen(fd, "w", encoding="utf-8") as fh:
            fh.write(text)
            fh.flush()
            os.fsync(fh.fileno())
        os.replace(tmp, path)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise


def save_text(
    path: Path,
    text: str,
    failure: str,
    hint: str,
    error: type[SeedchatError] = PathsError,
) -> None:
    """:func:`atomic_write_text`, a failure raised as ``error`` that says
    "``failure`` ``path``: why" with ``hint`` (the old file, if any, is left whole)."""
    try:
        atomic_write_text(path, text)
    except OSError as exc:
        raise error(f"{failure} {path}: {exc.strerror or exc}", hint=hint) from exc
