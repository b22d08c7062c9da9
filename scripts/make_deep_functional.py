#!/usr/bin/env python3
"""Writes a deep Functional Keras 2 model as an architecture JSON (`model.to_json()` form) and a Keras 2
`save_weights` HDF5 file, twice: with its layers listed in call order and listed last-first. Used by
scripts/bench_deep_functional.sh to show that reading a model is linear in its number of layers (issue 21, item 7).

The model is a chain on 4 inputs: a Dense(4) then three Activation layers (tanh, relu, linear), repeated, so
there are LAYERS layers besides the InputLayer. Its weights are small random arrays; nothing is compared against
Keras, only the time to read and convert is measured.

Needs h5py and numpy (no TensorFlow):
    python scripts/make_deep_functional.py [--layers 20000] [--out /tmp/kiln-deep]
writes OUT/in_order.json, OUT/reversed.json and OUT/weights.h5.
"""

import argparse
import json
import os

import h5py
import numpy as np


def layer_specs(count):
    """The InputLayer and `count` layers, in call order, as Keras 2's to_json writes them."""
    specs = [{
        "class_name": "InputLayer",
        "config": {"batch_input_shape": [None, 4], "dtype": "float32", "sparse": False, "ragged": False, "name": "input"},
        "name": "input",
        "inbound_nodes": [],
    }]
    previous = "input"
    for index in range(count):
        if index % 4 == 0:
            name = f"dense_{index}"
            spec = {"class_name": "Dense", "config": {
                "name": name, "trainable": True, "dtype": "float32", "units": 4, "activation": "linear",
                "use_bias": True}}
        else:
            name = f"activation_{index}"
            spec = {"class_name": "Activation", "config": {
                "name": name, "trainable": True, "dtype": "float32", "activation": ["tanh", "relu", "linear"][index % 4 - 1]}}
        spec["name"] = name
        spec["inbound_nodes"] = [[[previous, 0, 0, {}]]]
        specs.append(spec)
        previous = name
    return specs, previous


def architecture(specs, output):
    return {
        "class_name": "Functional",
        "config": {"name": "deep", "trainable": True, "layers": specs,
                   "input_layers": [["input", 0, 0]], "output_layers": [[output, 0, 0]]},
        "keras_version": "2.15.0",
        "backend": "tensorflow",
    }


def write_weights(path, specs):
    rng = np.random.default_rng(21)
    # libver="latest": attributes above 64 KiB (layer_names of 20,000 layers) need dense attribute storage.
    with h5py.File(path, "w", libver="latest") as f:
        f.attrs["backend"] = "tensorflow"
        f.attrs["keras_version"] = "2.15.0"
        f.attrs["layer_names"] = [s["name"].encode() for s in specs]
        for spec in specs:
            group = f.create_group(spec["name"])
            if spec["class_name"] != "Dense":
                group.attrs["weight_names"] = np.array([], dtype="S1")
                continue
            name = spec["name"]
            group.attrs["weight_names"] = [f"{name}/kernel:0".encode(), f"{name}/bias:0".encode()]
            group[f"{name}/kernel:0"] = (np.eye(4) + rng.normal(0, 0.1, (4, 4))).astype(np.float32)
            group[f"{name}/bias:0"] = rng.normal(0, 0.1, 4).astype(np.float32)


def main():
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--layers", type=int, default=20000)
    parser.add_argument("--out", default="/tmp/kiln-deep")
    args = parser.parse_args()
    os.makedirs(args.out, exist_ok=True)
    specs, output = layer_specs(args.layers)
    with open(os.path.join(args.out, "in_order.json"), "w") as f:
        json.dump(architecture(specs, output), f)
    with open(os.path.join(args.out, "reversed.json"), "w") as f:
        json.dump(architecture(list(reversed(specs)), output), f)
    write_weights(os.path.join(args.out, "weights.h5"), specs)
    print(f"wrote {args.out}/in_order.json, reversed.json and weights.h5 ({args.layers} layers)")


if __name__ == "__main__":
    main()
