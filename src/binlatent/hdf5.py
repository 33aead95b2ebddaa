"""Opening an HDF5 file for reading, the one way every reader in the library does it: a file that is missing,
truncated or damaged, or lacks a dataset or attribute that is read from it, stops with a message naming the file
(and the entry) and what to do, instead of HDF5's own words without the file's name.

Only h5py is imported here, so that the modules that plan the workflow can use it without torch.
"""

from __future__ import annotations

import contextlib
import os
import re
from collections.abc import Iterator
from pathlib import Path

import h5py

# What to do about a damaged file, by who wrote it: a step of the workflow, or the user (dataset 'file').
RERUN = "delete it and rerun the step that wrote it (snakemake remakes a missing output)"
CHECK_USER_FILE = "check that the file was written completely (e.g. copy or save it again)"


class ArtifactReadError(OSError):
    """An HDF5 file could not be read; the message names the file, what was wrong and what to do."""


@contextlib.contextmanager
def open_h5(path: str | os.PathLike, fix: str = RERUN) -> Iterator[h5py.File]:
    """`path` opened read-only. A missing, truncated or damaged file, or a read of a dataset or attribute it lacks,
    raises ArtifactReadError naming the file (and the entry) and `fix`, what to do about it."""
    try:
        f = h5py.File(path, "r")
    except FileNotFoundError as err:
        raise ArtifactReadError(f"{path}: no such file; {fix}") from err
    except OSError as err:
        raise ArtifactReadError(f"{path}: not a readable HDF5 file, truncated or damaged ({err}); {fix}") from err
    with f:
        try:
            yield f
        except KeyError as err:
            if not _raised_by_h5py(err):
                raise
            raise ArtifactReadError(f"{path}: {_missing(err)} (it holds: {_contents(f)}); {fix}") from err
        except OSError as err:
            if isinstance(err, ArtifactReadError) or not _raised_by_h5py(err):
                raise
            raise ArtifactReadError(f"{path}: cannot be read, truncated or damaged ({err}); {fix}") from err


def _raised_by_h5py(err: BaseException) -> bool:
    """Whether the innermost frame of `err`'s traceback is h5py's: a read of the file, not the caller's own code."""
    tb = err.__traceback__
    while tb is not None and tb.tb_next is not None:
        tb = tb.tb_next
    return tb is not None and "h5py" in Path(tb.tb_frame.f_code.co_filename).parts


def _missing(err: KeyError) -> str:
    """What a KeyError of h5py says is missing, in words: 'no dataset or group 'x_train'' or 'no attribute ...'."""
    words = str(err.args[0]) if err.args else str(err)
    if "attribute" in words:
        return f"no attribute {_quoted_name(words)}"
    return f"no dataset or group {_quoted_name(words)}"


def _quoted_name(words: str) -> str:
    """The name h5py quotes in its message (object 'x' doesn't exist / can't locate attribute: 'x'), quoted."""
    found = re.search(r"(?:object|attribute:) '([^']*)'", words)
    return f"'{found[1]}'" if found else f"({words})"


def _contents(f: h5py.File) -> str:
    """The file's top-level entries and attributes, for a message about one it lacks."""
    entries = ", ".join(sorted(f.keys())) or "no datasets"
    attrs = ", ".join(sorted(f.attrs.keys()))
    return f"{entries}; attributes: {attrs}" if attrs else entries
