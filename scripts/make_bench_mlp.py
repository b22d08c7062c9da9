"""Writes the 784-512-512-256-10 MLP used by the pruning and quantization benchmarks: Keras 3, trained
briefly on sklearn's digits upscaled to 28x28 (the fixtures' data), saved as .keras. Not committed (3 MB);
the benchmark scripts make it on demand.
Usage: python scripts/make_bench_mlp.py OUT.keras"""
import os
import sys

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")
sys.path.insert(0, os.path.join(os.path.dirname(__file__), "..", "testdata"))

import numpy as np  # noqa: E402
from generate_fixtures import digits_28x28  # noqa: E402


def main():
    import keras
    keras.utils.set_random_seed(5)
    (x_train, y_train), (x_test, y_test) = digits_28x28()
    model = keras.Sequential([
        keras.Input((28, 28), name="input"),
        keras.layers.Flatten(name="flatten"),
        keras.layers.Dense(512, activation="relu", name="dense"),
        keras.layers.Dense(512, activation="relu", name="dense_1"),
        keras.layers.Dense(256, activation="relu", name="dense_2"),
        keras.layers.Dense(10, activation="softmax", name="dense_3"),
    ], name="mlp_784_512_512_256_10")
    model.compile(optimizer=keras.optimizers.Adam(1e-3), loss="sparse_categorical_crossentropy", metrics=["accuracy"])
    model.fit(x_train, y_train, epochs=8, batch_size=64, verbose=0)
    _, accuracy = model.evaluate(x_test, y_test, verbose=0)
    model.save(sys.argv[1])
    np.save(os.path.splitext(sys.argv[1])[0] + "_heldout.npy", x_test.astype(np.float32))
    np.save(os.path.splitext(sys.argv[1])[0] + "_labels.npy", y_test.astype(np.int64))
    print(f"wrote {sys.argv[1]}: held-out accuracy {accuracy:.4f}", file=sys.stderr)


if __name__ == "__main__":
    main()
