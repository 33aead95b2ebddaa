"""Every HDF5 reader opens its file through binlatent.hdf5.open_h5: a truncated, damaged or missing file, or a
missing entry, names the file (and the entry) and what to do, where HDF5's own message names neither."""

from __future__ import annotations

import re

import numpy as np
import pytest

from binlatent import codecs, datasets
from binlatent.datasets.file import file_dataset
from binlatent.hdf5 import ArtifactReadError, open_h5
from binlatent.io import read_h5, read_h5_attrs, read_h5_names, write_h5

SPLIT_SIZES = {"train": 100, "valid": 10, "test": 10}


def data_file(path, shape=(4, 4)):
    """A data stage's file of tiny binary splits."""
    arrays = {f"x_{s}": np.zeros((n, int(np.prod(shape))), np.uint8) for s, n in SPLIT_SIZES.items()}
    write_h5(path, arrays, {"seed": 1}, {"source": "test", "image_shape": list(shape), "pixels": "binary"})
    return path


READERS = {
    "read_h5": read_h5,
    "read_h5_names": read_h5_names,
    "read_h5_attrs": read_h5_attrs,
    "load_splits": datasets.load_splits,
    "pixel_kind": datasets.pixel_kind,
    "image_shape": datasets.image_shape,
    "split_blocks": lambda path: datasets.split_blocks(path, "test"),
    "data_reference_rows": codecs.data_reference_rows,
}


@pytest.mark.parametrize("reader", READERS)
def test_a_truncated_file_names_itself_and_says_to_rerun_the_step_that_wrote_it(tmp_path, reader):
    path = data_file(tmp_path / "digits.h5")
    path.write_bytes(path.read_bytes()[: path.stat().st_size // 2])
    with pytest.raises(ArtifactReadError) as err:
        READERS[reader](path)
    message = str(err.value)
    assert message.startswith(f"{path}: not a readable HDF5 file, truncated or damaged (")
    assert "truncated file" in message  # HDF5's own words kept in the parentheses
    assert message.endswith("delete it and rerun the step that wrote it (snakemake remakes a missing output)")


def test_a_missing_file_is_named(tmp_path):
    with pytest.raises(ArtifactReadError, match=rf"^{re.escape(str(tmp_path / 'none.h5'))}: no such file; delete"):
        read_h5(tmp_path / "none.h5")


def test_a_missing_dataset_or_attribute_names_the_file_the_entry_and_what_it_holds(tmp_path):
    path = data_file(tmp_path / "digits.h5")
    with pytest.raises(ArtifactReadError) as err:
        read_h5(path, ["z_train"])
    assert str(err.value).startswith(f"{path}: no dataset or group 'z_train' (it holds: x_test, x_train, x_valid;")
    bare = tmp_path / "bare.h5"
    write_h5(bare, {"x_train": np.zeros((2, 3))})
    with pytest.raises(ArtifactReadError, match=r"bare.h5: no attribute 'pixels' \(it holds: x_train; attributes: "):
        datasets.pixel_kind(bare)


def test_damaged_data_inside_an_intact_file_is_named(tmp_path):
    path = tmp_path / "codes.h5"
    write_h5(path, {"z_train": np.random.default_rng(0).random((2000, 50))})  # gzip-compressed: over 4096 values
    damaged = bytearray(path.read_bytes())
    middle = len(damaged) // 2
    damaged[middle : middle + 4000] = bytes(4000)
    path.write_bytes(bytes(damaged))
    with pytest.raises(ArtifactReadError, match=rf"^{re.escape(str(path))}: cannot be read, truncated or damaged"):
        read_h5(path)


def test_errors_of_the_callers_own_code_pass_through_unchanged(tmp_path):
    path = data_file(tmp_path / "digits.h5")
    with pytest.raises(KeyError, match="not h5py's"), open_h5(path):
        raise KeyError("not h5py's")


def test_a_truncated_user_file_names_itself_and_says_to_check_it(tmp_path):
    path = tmp_path / "mine.h5"
    data_file(path)
    path.write_bytes(path.read_bytes()[:300])
    with pytest.raises(datasets.DataError) as err:
        file_dataset(path, n_valid=2, seed=0)
    assert str(err.value).startswith(f"{path}: not a readable HDF5 file, truncated or damaged (")
    assert str(err.value).endswith("check that the file was written completely (e.g. copy or save it again)")
