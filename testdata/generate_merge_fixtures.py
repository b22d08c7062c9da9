"""Generates the fixtures of `kiln merge` with real Keras 2 (tf_keras) and Keras 3.

Usage:  python testdata/generate_merge_fixtures.py      (from a venv with testdata/requirements.txt)

Each case is a directory testdata/merge/<case>/ holding several models that are merged together:
    <model>.keras or <model>.h5          a model as Keras saves it
    inputs/<model>/<input name>.npy      a fixed input batch of that model (float32)
    expected/<model>/<output name>.npy   Keras's own predictions of that model on it (float32)
    meta.json                            Keras versions, files, inputs and outputs per model, and how to merge
                                         (share_inputs, pipes, and ensembles as NAME=KIND)

Cases:
    shared_backbone  two classifier heads trained on one frozen backbone, saved as two separate models that carry
                     identical backbone weights (head_a.keras, head_b.h5)
    unrelated        three unrelated models: a Keras 2 MLP (.h5) and a Keras 3 model (.h5) that both read an input
                     `features` of the same shape, and a Keras 3 CNN (.keras) on an image
    chain            a two-stage chain: stage2 reads what stage1 outputs (its expected outputs are Keras's on
                     stage1's Keras outputs)

Keras 2 and Keras 3 run in separate child processes. Everything is seeded and a second run writes byte-identical
files (the .keras archives get the fixed save date of generate_fixtures.py).
"""

import json
import os
import shutil
import subprocess
import sys
from pathlib import Path

from generate_fixtures import normalize_keras_archive, predict, seeded, setup_environment

ROOT = Path(__file__).resolve().parent
MERGE = ROOT / "merge"


def without_optimizer(keras, model):
    """An uncompiled copy with the same weights, so the files hold no optimizer state."""
    clone = keras.models.clone_model(model)
    clone.set_weights(model.get_weights())
    return clone


def save(keras, model, directory, name, fmt):
    path = directory / f"{name}.{fmt}"
    clone = without_optimizer(keras, model)
    if fmt == "h5":
        clone.save(path, include_optimizer=False)
    else:
        clone.save(path)
        normalize_keras_archive(path)
    return path


def write_model(case, name, keras, model, fmt, inputs, outputs, description):
    """Saves one model of a case with its inputs and Keras's outputs; returns its meta.json entry."""
    import numpy as np

    directory = MERGE / case
    path = save(keras, model, directory, name, fmt)
    (directory / "inputs" / name).mkdir(parents=True, exist_ok=True)
    (directory / "expected" / name).mkdir(parents=True, exist_ok=True)
    for key, value in inputs.items():
        np.save(directory / "inputs" / name / f"{key}.npy", np.ascontiguousarray(value, dtype=np.float32))
    for key, value in outputs.items():
        np.save(directory / "expected" / name / f"{key}.npy", np.ascontiguousarray(value, dtype=np.float32))
    print(f"  {case}/{path.name:<16} {path.stat().st_size:>8} bytes")
    return {
        "file": path.name,
        "keras": keras.__version__,
        "description": description,
        "inputs": list(inputs),
        "outputs": list(outputs),
    }


def write_meta(case, entries, merge):
    meta = {"models": entries, "merge": merge}
    (MERGE / case / "meta.json").write_text(json.dumps(meta, indent=2, sort_keys=True) + "\n")


def fresh(case):
    directory = MERGE / case
    if directory.exists():
        shutil.rmtree(directory)
    directory.mkdir(parents=True)


def build_shared_backbone(keras):
    """A small CNN backbone trained once, frozen, and two heads trained on it separately."""
    import numpy as np

    layers = keras.layers
    rng = np.random.default_rng(2024)
    seeded(keras, 61)
    # Synthetic 8x8 images: four classes by which quadrant holds a bright blob, plus noise.
    count = 512
    labels = rng.integers(0, 4, size=count)
    x = rng.normal(0, 0.3, size=(count, 8, 8, 1)).astype(np.float32)
    for i, label in enumerate(labels):
        r, c = divmod(int(label), 2)
        x[i, r * 4:r * 4 + 4, c * 4:c * 4 + 4, 0] += 1.0
    # A second labelling for the second head: whether the blob is on the left or right, top or bottom, crossed.
    labels_b = (labels + 1) % 4

    image = keras.Input(shape=(8, 8, 1), name="image")
    h = layers.Conv2D(8, 3, padding="same", activation="relu", name="conv")(image)
    h = layers.MaxPooling2D(2, name="pool")(h)
    h = layers.Conv2D(8, 3, padding="same", activation="relu", name="conv_1")(h)
    h = layers.GlobalAveragePooling2D(name="gap")(h)
    features = layers.Dense(16, activation="relu", name="features")(h)
    backbone = keras.Model(image, features, name="backbone")
    pretrain = keras.Model(image, layers.Dense(4, activation="softmax", name="pretrain_head")(features))
    pretrain.compile(optimizer=keras.optimizers.Adam(3e-3), loss="sparse_categorical_crossentropy")
    pretrain.fit(x, labels, epochs=4, batch_size=64, verbose=0, shuffle=False)
    backbone.trainable = False
    frozen = [w.copy() for w in backbone.get_weights()]

    hidden = layers.Dense(8, activation="relu", name="head_hidden")(features)
    head_a = keras.Model(image, layers.Dense(4, activation="softmax", name="probs")(hidden), name="head_a")
    head_b = keras.Model(image, layers.Dense(4, activation="softmax", name="probs")(features), name="head_b")
    for head, y in ((head_a, labels), (head_b, labels_b)):
        head.compile(optimizer=keras.optimizers.Adam(3e-3), loss="sparse_categorical_crossentropy")
        head.fit(x, y, epochs=3, batch_size=64, verbose=0, shuffle=False)
    for before, after in zip(frozen, backbone.get_weights()):
        assert np.array_equal(before, after), "the frozen backbone changed while training a head"

    batch = x[:16]
    fresh("shared_backbone")
    entries = {
        "head_a": write_model("shared_backbone", "head_a", keras, head_a, "keras", {"image": batch},
                              {"probs": predict(head_a, batch)[0]}, "frozen CNN backbone + Dense(8, relu) + Dense(4, softmax)"),
        "head_b": write_model("shared_backbone", "head_b", keras, head_b, "h5", {"image": batch},
                              {"probs": predict(head_b, batch)[0]}, "frozen CNN backbone + Dense(4, softmax)"),
    }
    write_meta("shared_backbone", entries, {"share_inputs": "auto", "pipes": [], "ensembles": ["average=mean", "vote=vote"]})


def unrelated_features():
    """The `features` batch both MLPs of the unrelated case read (so sharing it changes nothing)."""
    import numpy as np

    return np.random.default_rng(77).normal(0, 1, size=(8, 10)).astype(np.float32)


def randomize(model, rng):
    import numpy as np

    for layer in model.layers:
        weights = layer.get_weights()
        if weights:
            layer.set_weights([rng.normal(0, 0.5, w.shape).astype(np.float32) for w in weights])


def build_unrelated_keras2(keras):
    import numpy as np

    layers = keras.layers
    seeded(keras, 67)
    rng = np.random.default_rng(67)
    mlp = keras.Sequential([
        keras.Input(shape=(10,), name="features"),
        layers.Dense(12, activation="tanh", name="dense"),
        layers.Dense(3, activation="softmax", name="scores"),
    ], name="mlp_k2")
    randomize(mlp, rng)
    x = unrelated_features()
    entry = write_model("unrelated", "mlp_k2", keras, mlp, "h5", {"features": x}, {"scores": predict(mlp, x)[0]},
                        "Keras 2 MLP on features[10]")
    (MERGE / "unrelated" / "mlp_k2.json").write_text(json.dumps(entry, indent=2, sort_keys=True) + "\n")


def build_unrelated_keras3(keras):
    import numpy as np

    layers = keras.layers
    seeded(keras, 71)
    rng = np.random.default_rng(71)
    regress = keras.Sequential([
        keras.Input(shape=(10,), name="features"),
        layers.Dense(6, activation="relu", name="dense"),
        layers.Dense(2, name="value"),
    ], name="regressor")
    randomize(regress, rng)
    x = unrelated_features()
    entries = {"regressor": write_model("unrelated", "regressor", keras, regress, "h5", {"features": x},
                                        {"value": predict(regress, x)[0]}, "Keras 3 regressor on features[10]")}

    image = keras.Input(shape=(6, 6, 2), name="image")
    h = layers.Conv2D(4, 3, activation="relu", name="conv")(image)
    h = layers.Flatten(name="flatten")(h)
    out = layers.Dense(5, activation="sigmoid", name="tags")(h)
    cnn = keras.Model(image, out, name="tagger")
    randomize(cnn, rng)
    xi = rng.normal(0, 1, size=(8, 6, 6, 2)).astype(np.float32)
    entries["tagger"] = write_model("unrelated", "tagger", keras, cnn, "keras", {"image": xi}, {"tags": predict(cnn, xi)[0]},
                                    "Keras 3 CNN on image[6,6,2]")
    keras2 = MERGE / "unrelated" / "mlp_k2.json"
    entries["mlp_k2"] = json.loads(keras2.read_text())
    keras2.unlink()
    write_meta("unrelated", entries, {"share_inputs": "auto", "pipes": []})

    # The chain: stage2 reads what stage1 outputs.
    seeded(keras, 73)
    rng = np.random.default_rng(73)
    stage1 = keras.Sequential([
        keras.Input(shape=(6,), name="x"),
        layers.Dense(8, activation="tanh", name="encode"),
    ], name="stage1")
    stage2 = keras.Sequential([
        keras.Input(shape=(8,), name="code"),
        layers.Dense(5, activation="relu", name="hidden"),
        layers.Dense(3, activation="softmax", name="classify"),
    ], name="stage2")
    randomize(stage1, rng)
    randomize(stage2, rng)
    x = rng.normal(0, 1, size=(8, 6)).astype(np.float32)
    code = predict(stage1, x)[0]
    fresh("chain")
    entries = {
        "stage1": write_model("chain", "stage1", keras, stage1, "keras", {"x": x}, {"encode": code}, "Dense(8, tanh)"),
        "stage2": write_model("chain", "stage2", keras, stage2, "keras", {"code": code}, {"classify": predict(stage2, code)[0]},
                              "Dense(5, relu) + Dense(3, softmax) on stage1's output"),
    }
    write_meta("chain", entries, {"share_inputs": "none", "pipes": ["stage1.encode=stage2.code"]})


def main():
    setup_environment()
    if len(sys.argv) == 3 and sys.argv[1] == "--keras":
        if sys.argv[2] == "2":
            import tf_keras as keras
            build_unrelated_keras2(keras)
        else:
            import keras
            build_shared_backbone(keras)
            build_unrelated_keras3(keras)
        return
    MERGE.mkdir(parents=True, exist_ok=True)
    fresh("unrelated")
    for version in (2, 3):
        print(f"Keras {version}:")
        subprocess.run([sys.executable, __file__, "--keras", str(version)], check=True)


if __name__ == "__main__":
    main()
