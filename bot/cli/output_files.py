"""Files the commands write (--out, --csv, --chart): owner-only, whole or not at all, safely placed.

Every file a command writes may hold people's data, so it is created readable by its owner
alone (0600), written to a temporary file in the same folder and renamed into place (a reader
never sees half a file, and a failure leaves nothing behind), and never written through a
symbolic link: the link itself is replaced, and only with --force. The live database and its
SQLite side files are never a target, and an existing file is replaced only with --force.
"""

from __future__ import annotations

import errno
import os
import stat
import sys
import tempfile
from collections.abc import Iterable, Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import IO, Any

from sqlalchemy import Engine
from sqlalchemy.engine import URL, make_url
from sqlalchemy.orm import Session, sessionmaker

from handlers.core.errors import Refusal

STDOUT = "-"
SQLITE_SIDE_FILES = ("", "-wal", "-shm", "-journal")


def database_files(url: str | URL | None) -> list[Path]:
    """The files of a SQLite database (with its -wal, -shm and -journal); none for others."""
    if url is None:
        return []
    parsed = make_url(url) if isinstance(url, str) else url
    if parsed.get_backend_name() != "sqlite" or parsed.database in (None, "", ":memory:"):
        return []
    database = str(parsed.database)
    return [Path(database + suffix) for suffix in SQLITE_SIDE_FILES]


def database_files_of(sessions: sessionmaker[Session]) -> list[Path]:
    """The database files behind a session factory (bound to an engine or a connection)."""
    bind: Any = sessions.kw.get("bind")
    engine: Engine | None = getattr(bind, "engine", None)
    return database_files(engine.url) if engine is not None else []


def check_target(path: str, *, protected: Iterable[Path] = (), force: bool = False) -> Path:
    """The path to write, or a Refusal saying plainly why not (before any work is done)."""
    target = Path(path)
    if _is_protected(target, protected):
        raise Refusal(
            f"{path} is qi-nudge's own database (or one of its files): writing there would "
            "destroy it. Choose another file name."
        )
    if target.is_dir():
        raise Refusal(f"{path} is a folder. Give a file name in it, e.g. {target / 'export'}.")
    if target.is_symlink():
        if not force:
            raise Refusal(
                f"{path} is a link to another file. qi-nudge never writes through a link: give "
                "another file name, or add --force to replace the link itself with the file."
            )
    elif target.exists():
        if not target.is_file():
            raise Refusal(f"{path} is not an ordinary file: choose another file name.")
        if not force:
            raise Refusal(f"{path} already exists. Add --force to replace it.")
    folder = target.parent
    if folder.exists() and not folder.is_dir():
        raise Refusal(f"Could not write {path}: {folder} is a file, not a folder.")
    if not folder.is_dir():
        raise Refusal(f"There is no folder {folder}: create it first, or choose another place.")
    return target


@contextmanager
def open_output(
    path: str | None,
    *,
    protected: Iterable[Path] = (),
    force: bool = False,
    binary: bool = False,
) -> Iterator[IO[Any]]:
    """A file to write at `path` (the screen when None or "-"), put in place when the block ends.

    The file is made only if the block finishes: an error inside it leaves nothing behind, and
    an existing file is untouched.
    """
    if path is None or path == STDOUT:
        yield sys.stdout.buffer if binary else sys.stdout
        return
    target = check_target(path, protected=protected, force=force)
    try:
        # mkstemp creates the file new (O_EXCL, so never through a link) and readable by its
        # owner alone, in the target's folder so that the rename below stays on one disk.
        handle, temporary = tempfile.mkstemp(
            dir=target.parent, prefix=f".{target.name}.", suffix=".part"
        )
    except OSError as error:
        raise _refusal(path, error) from None
    try:
        # newline="": the csv module writes its own line endings.
        mode = "wb" if binary else "w"
        text = {} if binary else {"encoding": "utf-8", "newline": ""}
        with os.fdopen(handle, mode, **text) as out:
            yield out
            out.flush()
            os.fsync(out.fileno())
        _put_in_place(Path(temporary), target, path, force=force)
    except OSError as error:
        Path(temporary).unlink(missing_ok=True)
        raise _refusal(path, error) from None
    except BaseException:
        Path(temporary).unlink(missing_ok=True)
        raise


def write_output(
    path: str, content: bytes, *, protected: Iterable[Path] = (), force: bool = False
) -> None:
    """Write `content` to `path` as `open_output` does."""
    with open_output(path, protected=protected, force=force, binary=True) as out:
        out.write(content)


def _put_in_place(temporary: Path, target: Path, shown: str, *, force: bool) -> None:
    """Rename the finished file to `target`; without `force`, never over a file made meanwhile."""
    if force:
        os.replace(temporary, target)  # replaces a link itself, never what it points to
        return
    try:
        os.link(temporary, target)  # fails if anything appeared at target since the check
    except FileExistsError:
        raise Refusal(f"{shown} already exists. Add --force to replace it.") from None
    except OSError as error:
        if error.errno not in (errno.EPERM, errno.ENOTSUP, errno.EOPNOTSUPP, errno.EXDEV):
            raise
        # A file system without hard links: check again, then rename.
        if os.path.lexists(target):
            raise Refusal(f"{shown} already exists. Add --force to replace it.") from None
        os.replace(temporary, target)
        return
    temporary.unlink()


def _is_protected(target: Path, protected: Iterable[Path]) -> bool:
    """Whether `target` is one of the `protected` files: by resolved path, or the same inode."""
    real = os.path.realpath(target)
    try:
        seen = os.stat(target)
    except OSError:
        seen = None
    for path in protected:
        if os.path.realpath(path) == real:
            return True
        if seen is not None and stat.S_ISREG(seen.st_mode):
            try:
                if os.path.samestat(seen, os.stat(path)):
                    return True
            except OSError:
                continue
    return False


def _refusal(path: str, error: OSError) -> Refusal:
    """One plain sentence for a file that could not be written."""
    folder = Path(path).parent
    if isinstance(error, PermissionError):
        return Refusal(f"Could not write {path}: qi-nudge may not write in {folder}.")
    if isinstance(error, FileNotFoundError) and not folder.is_dir():
        return Refusal(f"There is no folder {folder}: create it first, or choose another place.")
    if isinstance(error, NotADirectoryError):
        return Refusal(f"Could not write {path}: {folder} is not a folder.")
    reason = error.strerror or type(error).__name__
    return Refusal(f"Could not write {path}: {reason}.")
