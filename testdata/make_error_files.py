#!/usr/bin/env python3
"""Writes testdata/errors/: one small file per class of hostile input that kiln must refuse with a clear
message, from the act_relu fixtures (a Dense(6) on 8 inputs). expected.txt beside them says, per file, the
command to run and what its error must say; ErrorFileTests runs them.

Needs h5py and numpy (no TensorFlow): `python testdata/make_error_files.py`. Deterministic: a second run
writes byte-identical files.
"""

import os
import shutil
import struct
import zlib

import h5py
import numpy as np

ROOT = os.path.dirname(os.path.abspath(__file__))
OUT = os.path.join(ROOT, "errors")
H5_MODEL = os.path.join(ROOT, "fixtures", "act_relu_keras2_h5", "model.h5")
KERAS_MODEL = os.path.join(ROOT, "fixtures", "act_relu_keras3_keras", "model.keras")


def path(name):
    return os.path.join(OUT, name)


def copy_h5(name):
    shutil.copyfile(H5_MODEL, path(name))
    return h5py.File(path(name), "r+")


# ---------------------------------------------------------------- zip archives, written by hand


def keras_members():
    """config.json, metadata.json and model.weights.h5 of the Keras 3 fixture, in its order."""
    import zipfile

    with zipfile.ZipFile(KERAS_MODEL) as archive:
        return [(info.filename, archive.read(info.filename)) for info in archive.infolist()]


def zip_bytes(entries):
    """A zip archive of `entries`, dicts with name and data, and optionally: deflate (bool), crc (a wrong
    CRC-32 to declare), size (a wrong uncompressed size to declare; above 4 GiB it is written as ZIP64),
    symlink (mark the entry as a Unix symbolic link). Times are fixed so the bytes are reproducible."""
    out = bytearray()
    central = bytearray()
    for entry in entries:
        name = entry["name"].encode()
        data = entry["data"]
        crc = entry.get("crc", zlib.crc32(data) & 0xFFFFFFFF)
        if entry.get("deflate"):
            compressor = zlib.compressobj(9, zlib.DEFLATED, -15)
            stored = compressor.compress(data) + compressor.flush()
            method = 8
        else:
            stored = data
            method = 0
        size = entry.get("size", len(data))
        zip64 = size >= 0xFFFFFFFF
        extra_local = struct.pack("<HHQQ", 1, 16, size, len(stored)) if zip64 else b""
        field_size = 0xFFFFFFFF if zip64 else size
        field_stored = 0xFFFFFFFF if zip64 else len(stored)
        version = 45 if zip64 else 20
        offset = len(out)
        out += struct.pack(
            "<IHHHHHIIIHH", 0x04034B50, version, 0, method, 0, 0x21, crc, field_stored, field_size, len(name), len(extra_local)
        )
        out += name + extra_local + stored
        made_by = (3 << 8) | version
        attributes = (0o120777 << 16) if entry.get("symlink") else (0o100644 << 16)
        extra_central = struct.pack("<HHQQ", 1, 16, size, len(stored)) if zip64 else b""
        central += struct.pack(
            "<IHHHHHHIIIHHHHHII",
            0x02014B50, made_by, version, 0, method, 0, 0x21, crc, field_stored, field_size,
            len(name), len(extra_central), 0, 0, 0, attributes, offset,
        )
        central += name + extra_central
    start = len(out)
    out += central
    out += struct.pack("<IHHHHIIH", 0x06054B50, 0, 0, len(entries), len(entries), len(central), start, 0)
    return bytes(out)


def write(name, data):
    with open(path(name), "wb") as f:
        f.write(data)


def keras_with(name, change):
    """The Keras 3 fixture rewritten with `change(entries)` applied to its member list."""
    entries = [{"name": n, "data": d, "deflate": n != "model.weights.h5"} for n, d in keras_members()]
    change(entries)
    write(name, zip_bytes(entries))


def weights_image(edit):
    """The fixture's model.weights.h5 after `edit(h5py.File)`, as bytes."""
    scratch = path(".scratch.weights.h5")
    with open(scratch, "wb") as f:
        f.write(dict(keras_members())["model.weights.h5"])
    with h5py.File(scratch, "r+") as f:
        edit(f)
    with open(scratch, "rb") as f:
        data = f.read()
    os.remove(scratch)
    return data


def member(entries, name):
    return next(e for e in entries if e["name"] == name)


# ---------------------------------------------------------------- the files


def hdf5_files():
    # A dataset whose bytes live in another file (HDF5 external storage): reading it would read that file.
    with open(path("external_storage.bin"), "wb") as f:
        f.write(np.arange(48, dtype="<f4").tobytes())
    with copy_h5("external_storage.h5") as f:
        del f["model_weights/dense/dense/kernel:0"]
        f.create_dataset("model_weights/dense/dense/kernel:0", shape=(8, 6), dtype="<f4", external=[("external_storage.bin", 0, 192)])

    # A layer's group is an external link to another model file, which would be read silently.
    with copy_h5("external_link.h5") as f:
        del f["model_weights/dense"]
        f["model_weights/dense"] = h5py.ExternalLink("../fixtures/act_relu_keras2_h5/model.h5", "/model_weights/dense")

    # A layer's group is a soft link to a group elsewhere in the file.
    with copy_h5("soft_link.h5") as f:
        f.move("model_weights/dense", "model_weights/elsewhere")
        f["model_weights/dense"] = h5py.SoftLink("/model_weights/elsewhere")

    # A kernel that declares 40000 x 40000 floats (6.4 GB) and stores none: HDF5 would return fill values.
    with copy_h5("fill_value_bomb.h5") as f:
        del f["model_weights/dense/dense/kernel:0"]
        f.create_dataset("model_weights/dense/dense/kernel:0", shape=(40000, 40000), dtype="<f4")

    # A valid model with a 512-byte user block before the HDF5 superblock: must be read like any other.
    with h5py.File(H5_MODEL, "r") as source, h5py.File(path("userblock.h5"), "w", userblock_size=512, track_order=False) as f:
        for key in source:
            source.copy(source[key], f, name=key)
        for key, value in source.attrs.items():
            f.attrs[key] = value


def archive_files():
    # The central directory's CRC-32 of config.json does not match its bytes.
    def bad_crc(entries):
        config = member(entries, "config.json")
        config["crc"] = (zlib.crc32(config["data"]) ^ 0xFFFF) & 0xFFFFFFFF

    keras_with("bad_crc.keras", bad_crc)

    # model.weights.h5 declares 1 TiB uncompressed (ZIP64): refused before inflating.
    keras_with("zip_bomb_declared.keras", lambda entries: member(entries, "model.weights.h5").update(size=1 << 40, deflate=True))

    # model.weights.h5 declares its real size but inflates to 4 MiB of zeros: stopped while inflating.
    def lying(entries):
        weights = member(entries, "model.weights.h5")
        weights.update(size=len(weights["data"]), data=bytes(4 << 20), deflate=True)
        weights["crc"] = zlib.crc32(weights["data"]) & 0xFFFFFFFF

    keras_with("zip_bomb_inflating.keras", lying)

    # model.weights.h5 honestly declares 8 MiB that deflate to 8 KiB (zeros): a ratio no model file has.
    def ratio(entries):
        weights = member(entries, "model.weights.h5")
        weights.update(data=bytes(8 << 20), deflate=True)

    keras_with("zip_bomb_ratio.keras", ratio)

    # An entry whose name leaves the archive.
    keras_with("zip_traversal.keras", lambda entries: entries.append({"name": "../../escaped.txt", "data": b"x"}))

    # An absolute entry name.
    keras_with("zip_absolute.keras", lambda entries: entries.append({"name": "/tmp/absolute.txt", "data": b"x"}))

    # Two entries named config.json.
    keras_with("zip_duplicate.keras", lambda entries: entries.append(dict(member(entries, "config.json"))))

    # model.weights.h5 is a symbolic link entry.
    def symlink(entries):
        member(entries, "model.weights.h5").update(data=b"/etc/passwd", symlink=True)

    keras_with("zip_symlink.keras", symlink)

    # The archive cut short: its central directory and end record are gone.
    with open(KERAS_MODEL, "rb") as f:
        write("truncated.keras", f.read()[:4000])

    # The weights inside the archive keep a dataset in another file (external storage).
    def external(f):
        del f["layers/dense/vars/0"]
        f.create_dataset("layers/dense/vars/0", shape=(8, 6), dtype="<f4", external=[("external_storage.bin", 0, 192)])

    keras_with("external_storage.keras", lambda entries: member(entries, "model.weights.h5").update(data=weights_image(external)))

    # A group of the weights is hard-linked inside itself: walking the groups would never end.
    def cycle(f):
        f["layers/dense/layers/again"] = f["layers/dense"]

    keras_with("group_cycle.keras", lambda entries: member(entries, "model.weights.h5").update(data=weights_image(cycle)))


def npy(name, header, data=b""):
    header = header + " " * ((64 - (10 + len(header) + 1) % 64) % 64) + "\n"
    write(name, b"\x93NUMPY\x01\x00" + struct.pack("<H", len(header)) + header.encode() + data)


def npy_and_kir_files():
    npy("huge_shape.npy", "{'descr': '<f4', 'fortran_order': False, 'shape': (100000, 100000, 100000), }")
    npy("overflow_shape.npy", "{'descr': '<f4', 'fortran_order': False, 'shape': (4611686018427387904, 4611686018427387904), }")
    npy("zero_rows.npy", "{'descr': '<f4', 'fortran_order': False, 'shape': (0, 8), }")
    npy("trailing_bytes.npy", "{'descr': '<f4', 'fortran_order': False, 'shape': (1, 8), }", bytes(32 + 16))
    write("empty.kir", b"")
    write("not_kir.kir", b"PK\x03\x04 this is a zip archive, not Kiln IR\n")
    write(
        "huge_input.kir",
        b"// An input of 1000000 x 1000000 floats per example: random inputs would need terabytes.\n"
        b"graph @g {\n  input %x : f32[N,1000000,1000000]\n  %y = Relu(%x) : f32[N,1000000,1000000]\n  output %y\n}\n",
    )
    write(
        "overflow_shape.kir",
        b"graph @g {\n  input %x : f32[N,4611686018427387904,4]\n  %y = Relu(%x) : f32[N,4611686018427387904,4]\n  output %y\n}\n",
    )
    # Pads whose sum overflows an Int: shape inference must refuse them, not trap.
    write(
        "overflow_pads.kir",
        b"graph @g {\n  input %x : f32[N,4]\n"
        b"  %y = Pad(%x) {pads = [0, 9223372036854775807, 0, 9223372036854775807], value = 0.0} : f32[N,4]\n  output %y\n}\n",
    )
    # The weights file beside a .kir declares a blob far larger than the file.
    write("huge_blob.kir", b"graph @g {\n  input %x : f32[N,4]\n  %y = Relu(%x) : f32[N,4]\n  output %y\n}\n")
    write("huge_blob.kir.weights", b"KILNWTS1" + struct.pack("<I", 1) + b"0" * 64 + struct.pack("<Q", 1 << 50))
    # Two outputs whose names map to one file name, x_y.npy: run must write both.
    write(
        "colliding_outputs.kir",
        b"graph @g {\n  input %x : f32[N,8]\n  %x/y = Relu(%x) : f32[N,8]\n  %x_y = Sigmoid(%x) : f32[N,8]\n  output %x/y, %x_y\n}\n",
    )


# ---------------------------------------------------------------- hostile layer configurations


def with_config(name, layers, input_shape=(8,), edit=None):
    """The act_relu .h5 with its model_config replaced by a Sequential model of an input of `input_shape` and
    `layers` (class name, config) after it; its weights (those of layer 'dense') stay. `edit(h5py.File)` may
    change the weights too."""
    import json

    config = {
        "class_name": "Sequential",
        "config": {
            "name": "hostile",
            "layers": [{"class_name": "InputLayer", "config": {"batch_input_shape": [None, *input_shape], "dtype": "float32", "name": "input"}}]
            + [{"class_name": class_name, "config": layer} for class_name, layer in layers],
        },
    }
    with copy_h5(name) as f:
        f.attrs["model_config"] = json.dumps(config, sort_keys=True)
        if edit:
            edit(f)


def config_files():
    big = 1 << 40
    # A Dense whose units no Int holds (1e20): a size taken from a float must be a whole number in range.
    with_config("units_huge.h5", [("Dense", {"name": "dense", "units": 1e20})])
    # An integer field at 2^63, one past Int64.
    with_config("integer_2_63.h5", [("Dense", {"name": "dense", "units": 9223372036854775808})])
    # Strides of 0 with 'same' padding: the padding computation divides by the stride.
    with_config(
        "strides_zero.h5",
        [("Conv2D", {"name": "conv", "filters": 1, "kernel_size": [1, 1], "strides": [0, 0], "padding": "same"})],
        input_shape=(4, 4, 1),
    )
    # A dilation rate whose dilated kernel no Int holds.
    with_config(
        "dilation_huge.h5",
        [("Conv1D", {"name": "conv", "filters": 1, "kernel_size": [3], "dilation_rate": [4503599627370496], "padding": "same"})],
        input_shape=(4, 1),
    )
    # A depth multiplier that multiplies the channels past any model.
    with_config(
        "depth_multiplier_huge.h5",
        [("DepthwiseConv2D", {"name": "conv", "kernel_size": [1, 1], "depth_multiplier": 4503599627370496})],
        input_shape=(4, 4, 2),
    )
    with_config("zero_padding_huge.h5", [("ZeroPadding1D", {"name": "pad", "padding": [big, big]})], input_shape=(4, 1))
    with_config("zero_padding_negative.h5", [("ZeroPadding1D", {"name": "pad", "padding": [-2, 1]})], input_shape=(4, 1))
    with_config("upsampling_huge.h5", [("UpSampling2D", {"name": "up", "size": [big, big]})], input_shape=(2, 2, 1))
    with_config("reshape_huge.h5", [("Reshape", {"name": "reshape", "target_shape": [big, big]})])
    with_config("group_normalization_zero.h5", [("GroupNormalization", {"name": "norm", "groups": 0})], input_shape=(4, 4))
    with_config("batch_normalization_axis.h5", [("BatchNormalization", {"name": "norm", "axis": 7})], input_shape=(2, 2, 4))
    with_config("repeat_vector_negative.h5", [("RepeatVector", {"name": "repeat", "n": -1})])
    with_config("repeat_vector_huge.h5", [("RepeatVector", {"name": "repeat", "n": big})])
    with_config("global_pooling_rank2.h5", [("GlobalAveragePooling2D", {"name": "pool"})])
    with_config("empty_layer_name.h5", [("Dense", {"name": "", "units": 6})])
    with_config("activation_number.h5", [("Dense", {"name": "dense", "units": 6, "activation": 3})])
    # An input dimension of -8, which Keras never writes (an unknown size is null).
    with_config("negative_input_dimension.h5", [("Dense", {"name": "dense", "units": 6})], input_shape=(-8,))

    # weight_names of the Dense lists '' (the path of its group, not a dataset).
    def empty_weight_name(f):
        f["model_weights/dense"].attrs["weight_names"] = [b"dense/kernel:0", b""]

    with_config("empty_weight_name.h5", [("Dense", {"name": "dense", "units": 6})], edit=empty_weight_name)


def changed_byte(name, offset, change):
    """The act_relu .h5 with the byte at `offset` replaced by change(byte). Found by scripts/corrupt_hdf5.py:
    libhdf5 1.10.8 (Debian 12) crashes with SIGSEGV, or loops forever, on each of these files."""
    with open(H5_MODEL, "rb") as f:
        data = bytearray(f.read())
    assert data[offset] == 0, f"{name}: the fixture changed; find new offsets with scripts/corrupt_hdf5.py"
    data[offset] = change(data[offset])
    write(name, bytes(data))


def corrupt_byte_files():
    # One changed byte in four places of the metadata that make libhdf5 read through a bad pointer.
    changed_byte("corrupt_byte_902.h5", 902, lambda b: b ^ 0x01)
    changed_byte("corrupt_byte_2075.h5", 2075, lambda b: 0xFF)
    changed_byte("corrupt_byte_2980.h5", 2980, lambda b: b ^ 0x01)
    changed_byte("corrupt_byte_3012.h5", 3012, lambda b: 0xFF)
    # One that sends libhdf5 into an endless loop.
    changed_byte("corrupt_byte_1022_loop.h5", 1022, lambda b: 0xFF)


def main():
    os.makedirs(OUT, exist_ok=True)
    hdf5_files()
    corrupt_byte_files()
    archive_files()
    npy_and_kir_files()
    config_files()


if __name__ == "__main__":
    main()
