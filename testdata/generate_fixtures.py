"""Generates Kiln's test fixtures with real Keras 2 (tf_keras) and Keras 3.

Usage:  python testdata/generate_fixtures.py            (from a venv with testdata/requirements.txt)

Each fixture is a directory testdata/fixtures/<name>/ with
    model.h5 or model.keras     the model as Keras saves it
    inputs/<input name>.npy     a fixed input batch (float32)
    expected/<output name>.npy  Keras's own predictions on it (float32)
    meta.json                   Keras version, format, description, input and output names

Keras 2 and Keras 3 run in separate child processes of this script so that they never share state.
Everything is seeded, so running the script again gives the same numbers.
"""

import json
import os
import shutil
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parent
FIXTURES = ROOT / "fixtures"
ERRORS = ROOT / "errors"
HDF5 = ROOT / "hdf5"

KERAS = None  # the Keras module of this child process

ACTIVATIONS = ["linear", "relu", "sigmoid", "tanh", "softmax", "softplus", "softsign", "elu", "selu", "gelu",
               "swish", "exponential", "hard_sigmoid"]


def setup_environment():
    os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")
    os.environ["TF_DETERMINISTIC_OPS"] = "1"
    os.environ["CUDA_VISIBLE_DEVICES"] = ""
    os.environ["KERAS_BACKEND"] = "tensorflow"
    os.environ["PYTHONHASHSEED"] = "0"


def digits_28x28():
    """sklearn's 8x8 digits, scaled to [0, 1], upscaled 3x (24x24) and zero-padded to 28x28."""
    import numpy as np
    from sklearn.datasets import load_digits

    digits = load_digits()
    images = (digits.images / 16.0).astype(np.float32)
    big = np.kron(images, np.ones((1, 3, 3), dtype=np.float32))
    padded = np.pad(big, ((0, 0), (2, 2), (2, 2)))
    labels = digits.target.astype(np.int64)
    held_out = 297
    return (padded[:-held_out], labels[:-held_out]), (padded[-held_out:], labels[-held_out:])


def digits_8x8():
    """The same split as digits_28x28, as 8x8x1 images (every third pixel of the upscaled ones: the originals)."""
    (x_train, y_train), (x_test, y_test) = digits_28x28()
    return (x_train[:, 2:26:3, 2:26:3, None], y_train), (x_test[:, 2:26:3, 2:26:3, None], y_test)


def write_fixture(name, model, save, inputs, outputs, keras_version, description, extra=None):
    import numpy as np

    directory = FIXTURES / name
    if directory.exists():
        shutil.rmtree(directory)
    (directory / "inputs").mkdir(parents=True)
    (directory / "expected").mkdir()
    model_file = save(directory)
    for key, value in inputs.items():
        # Index inputs keep their integer type; everything else is float32.
        dtype = value.dtype if np.issubdtype(np.asarray(value).dtype, np.integer) else np.float32
        np.save(directory / "inputs" / f"{key}.npy", np.ascontiguousarray(value, dtype=dtype))
    for key, value in outputs.items():
        np.save(directory / "expected" / f"{key}.npy", np.ascontiguousarray(value, dtype=np.float32))
    meta = {
        "keras": keras_version,
        "format": model_file.suffix.lstrip("."),
        "description": description,
        "inputs": list(inputs),
        "outputs": list(outputs),
    }
    meta.update(extra or {})
    (directory / "meta.json").write_text(json.dumps(meta, indent=2, sort_keys=True) + "\n")
    print(f"  {name:<34} {model_file.name:<12} {model_file.stat().st_size:>9} bytes")


def predict(model, x):
    out = model(x, training=False)
    if isinstance(out, (list, tuple)):
        return [o.numpy() for o in out]
    return [out.numpy()]


def seeded(keras_module, seed):
    import numpy as np
    import random
    import tensorflow as tf

    random.seed(seed)
    np.random.seed(seed)
    tf.random.set_seed(seed)
    if hasattr(keras_module.utils, "set_random_seed"):
        keras_module.utils.set_random_seed(seed)


def build_fixtures(version):
    setup_environment()
    import numpy as np

    if version == 2:
        import tf_keras as keras
        tag, kv = "keras2", keras.__version__
    else:
        import keras
        tag, kv = "keras3", keras.__version__
    global KERAS
    KERAS = keras
    layers = keras.layers
    # Shared by the fixtures below in order: add new fixtures at the end (after build_long_graph_fixtures), or
    # give them their own generator, so that the committed data of the existing ones stays the same.
    rng = np.random.default_rng(1234 + version)

    # The Keras MNIST tutorial MLP, trained on sklearn's digits.
    (x_train, y_train), (x_test, y_test) = digits_28x28()
    seeded(keras, 7)
    mlp = keras.Sequential([
        keras.Input(shape=(28, 28), name="input"),
        layers.Flatten(name="flatten"),
        layers.Dense(128, activation="relu", name="dense"),
        layers.Dropout(0.2, name="dropout"),
        layers.Dense(10, activation="softmax", name="dense_1"),
    ], name="mnist_mlp")
    mlp.compile(optimizer=keras.optimizers.Adam(1e-3), loss="sparse_categorical_crossentropy", metrics=["accuracy"])
    mlp.fit(x_train, y_train, epochs=20, batch_size=32, shuffle=True, verbose=0)
    accuracy = float(np.mean(np.argmax(predict(mlp, x_test)[0], axis=1) == y_test))
    batch = x_test[:16]
    expected = {"dense_1": predict(mlp, batch)[0]}
    description = "Keras MNIST tutorial MLP trained on sklearn digits upscaled to 28x28"
    extra = {"keras_test_accuracy": round(accuracy, 4)}
    if version == 2:
        write_fixture(f"mnist_mlp_{tag}_h5", mlp, lambda d: save_h5(mlp, d), {"input": batch}, expected, kv, description, extra)
    else:
        write_fixture(f"mnist_mlp_{tag}_h5", mlp, lambda d: save_h5(mlp, d), {"input": batch}, expected, kv, description, extra)
        write_fixture(f"mnist_mlp_{tag}_keras", mlp, lambda d: save_keras(mlp, d), {"input": batch}, expected, kv,
                      description, extra)
        heldout = FIXTURES / "digits_heldout"
        heldout.mkdir(parents=True, exist_ok=True)
        np.save(heldout / "x.npy", x_test.astype(np.float32))
        np.save(heldout / "labels.npy", y_test.astype(np.int64))

    # One tiny model per activation string.
    for activation in ACTIVATIONS:
        name = activation
        if version == 3 and activation == "swish":
            name = "silu"
        seeded(keras, 11)
        model = keras.Sequential([
            keras.Input(shape=(8,), name="input"),
            layers.Dense(6, activation=name, name="dense"),
        ], name=f"act_{name}")
        kernel = rng.normal(0, 0.6, size=(8, 6)).astype(np.float32)
        bias = rng.normal(0, 0.5, size=(6,)).astype(np.float32)
        model.get_layer("dense").set_weights([kernel, bias])
        x = rng.normal(0, 2, size=(32, 8)).astype(np.float32)
        if activation == "exponential":
            x = x / 2  # keep exp() in a range where float32 relative error is meaningful
        fixture = f"act_{name}_{tag}_" + ("h5" if version == 2 else "keras")
        saver = (lambda m: (lambda d: save_h5(m, d)))(model) if version == 2 else (lambda m: (lambda d: save_keras(m, d)))(model)
        write_fixture(fixture, model, saver, {"input": x}, {"dense": predict(model, x)[0]}, kv,
                      f"Dense(6, activation='{name}')")

    # The activation layers themselves.
    seeded(keras, 13)
    model = keras.Sequential([
        keras.Input(shape=(8,), name="input"),
        layers.Dense(12, name="dense"),
        layers.ReLU(name="relu"),
        layers.Dense(12, name="dense_1"),
        layers.Activation("tanh", name="activation"),
        layers.Dense(5, name="dense_2"),
        layers.Softmax(name="softmax"),
    ], name="layers")
    for layer_name in ["dense", "dense_1", "dense_2"]:
        layer = model.get_layer(layer_name)
        kernel, bias = layer.get_weights()
        layer.set_weights([rng.normal(0, 0.5, size=kernel.shape).astype(np.float32),
                           rng.normal(0, 0.3, size=bias.shape).astype(np.float32)])
    x = rng.normal(0, 1.5, size=(16, 8)).astype(np.float32)
    expected = {"softmax": predict(model, x)[0]}
    description = "Dense -> ReLU -> Dense -> Activation(tanh) -> Dense -> Softmax layers"
    if version == 2:
        write_fixture(f"layers_{tag}_h5", model, lambda d: save_h5(model, d), {"input": x}, expected, kv, description)
    else:
        write_fixture(f"layers_{tag}_h5", model, lambda d: save_h5(model, d), {"input": x}, expected, kv, description)
        write_fixture(f"layers_{tag}_keras", model, lambda d: save_keras(model, d), {"input": x}, expected, kv, description)

    # A Functional model: one layer called twice (shared weights) and two output heads.
    seeded(keras, 19)
    inp = keras.Input(shape=(8,), name="input")
    shared = layers.Dense(8, activation="tanh", name="shared")
    h = shared(shared(inp))
    h = layers.Dropout(0.1, name="dropout")(h)
    probs = layers.Dense(3, activation="softmax", name="probs")(h)
    score = layers.Dense(1, activation="sigmoid", name="score")(h)
    model = keras.Model(inp, [probs, score], name="two_heads")
    for layer_name in ["shared", "probs", "score"]:
        layer = model.get_layer(layer_name)
        layer.set_weights([rng.normal(0, 0.6, size=w.shape).astype(np.float32) for w in layer.get_weights()])
    x = rng.normal(0, 1.5, size=(16, 8)).astype(np.float32)
    probs_out, score_out = predict(model, x)
    expected = {"probs": probs_out, "score": score_out}
    description = "Functional: a Dense layer called twice (shared weights), Dropout, two output heads"
    write_fixture(f"functional_{tag}_h5", model, lambda d: save_h5(model, d), {"input": x}, expected, kv, description)
    if version == 3:
        write_fixture(f"functional_{tag}_keras", model, lambda d: save_keras(model, d), {"input": x}, expected, kv, description)

    build_cnn_fixtures(keras, layers, tag, kv, rng, version)
    build_nested_fixture(keras, layers, kv, rng, version)
    build_norm_fixture(keras, layers, kv, rng, version)
    build_more_fixture(keras, layers, kv, rng, version)
    build_resample_fixture(keras, layers, kv, rng, version)
    build_group_norm_fixture(keras, layers, kv, rng, version)
    build_transpose_fixture(keras, layers, kv, rng, version)
    build_relu_dot_fixture(keras, layers, kv, rng, version)
    build_bilinear_fixture(keras, layers, kv, rng, version)
    build_embedding_fixture(keras, layers, kv, rng, version)
    build_channels_first_fixture(keras, layers, kv, rng, version)
    build_nested_outputs_fixture(keras, layers, kv, rng, version)
    build_multi_axis_fixture(keras, layers, kv, rng, version)
    build_json_weights_fixture(keras, layers, kv, rng, version)
    build_fixed_strings_fixtures(version)

    if version == 3:
        # A layer Kiln does not read, for the error tests.
        ERRORS.mkdir(parents=True, exist_ok=True)
        seeded(keras, 17)
        write_unknown_layer_error(keras, layers)
        (ERRORS / "not_hdf5.h5").write_text("This is a text file, not an HDF5 model.\n")

        # GELU, exact and tanh-approximated, for an IR-level test. Its own generator, so that fixtures added
        # above (which draw from the shared `rng`) do not change these values.
        x = np.random.default_rng(4321).normal(0, 3, size=(4, 16)).astype(np.float32)
        gelu = FIXTURES / "gelu_approximate"
        if gelu.exists():
            shutil.rmtree(gelu)
        (gelu / "inputs").mkdir(parents=True)
        (gelu / "expected").mkdir()
        np.save(gelu / "inputs" / "x.npy", x)
        np.save(gelu / "expected" / "exact.npy", keras.activations.gelu(x, approximate=False).numpy())
        np.save(gelu / "expected" / "approximate.npy", keras.activations.gelu(x, approximate=True).numpy())

        # The digits' held-out split, for accuracy checks (quantization, pruning): the 8x8 images times 16
        # (whole numbers 0..16, so uint8 holds them exactly) and their labels. The 28x28 inputs of the MLPs are
        # these images repeated 3x3 and padded by 2; the CNN reads them as they are.
        (_, _), (x_test, y_test) = digits_28x28()
        digits = ROOT / "digits"
        digits.mkdir(exist_ok=True)
        small = x_test[:, 2:26:3, 2:26:3]
        np.save(digits / "heldout_images_x16.npy", np.rint(small * 16).astype(np.uint8))
        np.save(digits / "heldout_labels.npy", y_test.astype(np.int64))

    build_digits_cnn_fixture(keras, layers, kv, version)
    if version == 3:
        write_hdf5_strings()
    build_long_graph_fixtures(keras, layers, kv, version)
    build_unknown_size_fixtures(keras, layers, kv, version)
    build_op_layer_fixtures(keras, layers, kv, version)
    build_recurrent_fixtures(keras, layers, kv, version)


def write_unknown_layer_error(keras, layers):
    """A Keras 3 model with a layer Kiln does not read (ConvLSTM1D), for the error tests."""
    ERRORS.mkdir(parents=True, exist_ok=True)
    seeded(keras, 17)
    model = keras.Sequential([keras.Input(shape=(3, 4, 2), name="input"), layers.ConvLSTM1D(2, 2, name="conv_lstm")])
    model.save(ERRORS / "unknown_layer.h5")


def output_names(layer_names):
    """Keras's names of a model's outputs from the layers producing them: a layer named again gets _1, _2..."""
    names, counts = [], {}
    for layer in layer_names:
        proposal = layer
        while proposal in names:
            counts[layer] = counts.get(layer, 0) + 1
            proposal = f"{layer}_{counts[layer]}"
        names.append(proposal)
    return names


def build_recurrent_fixtures(keras, layers, kv, version):
    """SimpleRNN, LSTM, GRU and Bidirectional with every option that changes inference (`--only recurrent`): an
    unknown sequence length at two lengths with batch 3 and batch 1, return_sequences, return_state, go_backwards,
    hard_sigmoid (Keras 2's and Keras 3's differ), GRU reset_after both ways, use_bias, unroll, initial states as
    inputs, and every Bidirectional merge_mode with a backward_layer. Their own generator keeps their data
    independent of the fixtures before them."""
    global np
    import numpy as np
    rng = np.random.default_rng(1300 + version)

    def save(name, model, inputs, producers, description):
        outputs = predict(model, [inputs[k] for k in inputs] if len(inputs) > 1 else next(iter(inputs.values())))
        save_both(name, model, inputs, dict(zip(output_names(producers), outputs)), kv, description, version)

    seeded(keras, 131)
    x = keras.Input((None, 3), name="x")
    seq = layers.LSTM(4, return_sequences=True, name="lstm_seq")(x)
    last, h, c = layers.LSTM(3, return_state=True, recurrent_activation="hard_sigmoid", name="lstm_state")(seq)
    rnn = layers.SimpleRNN(2, activation="relu", name="rnn")(seq)
    model = keras.Model(x, [seq, last, h, c, rnn], name="recurrent_lstm")
    randomize(model, rng)
    for length, batch in ((6, 3), (2, 1)):
        inputs = {"x": rng.normal(0, 1, size=(batch, length, 3)).astype(np.float32)}
        save(f"recurrent_lstm_t{length}", model, inputs, ["lstm_seq", "lstm_state", "lstm_state", "lstm_state", "rnn"],
             f"sequences of unknown length, here {length} at batch {batch}: LSTM (return_sequences; return_state with "
             "hard_sigmoid), SimpleRNN (relu)")

    seeded(keras, 137)
    x = keras.Input((5, 3), name="x")
    after = layers.GRU(4, reset_after=True, return_sequences=True, name="gru_after")(x)
    before = layers.GRU(3, reset_after=False, go_backwards=True, return_sequences=True, name="gru_before")(after)
    backwards = layers.SimpleRNN(2, use_bias=False, go_backwards=True, name="rnn_backwards")(before)
    unrolled = layers.LSTM(2, unroll=True, use_bias=False, activation="softsign", name="lstm_unrolled")(after)
    model = keras.Model(x, [before, backwards, unrolled], name="recurrent_gru")
    randomize(model, rng)
    inputs = {"x": rng.normal(0, 1, size=(2, 5, 3)).astype(np.float32)}
    save("recurrent_gru", model, inputs, ["gru_before", "rnn_backwards", "lstm_unrolled"],
         "GRU reset_after True and False (go_backwards, return_sequences), SimpleRNN without bias going backwards, "
         "an unrolled LSTM without bias (softsign)")

    seeded(keras, 139)
    x = keras.Input((4, 3), name="x")
    h0 = keras.Input((3,), name="h0")
    c0 = keras.Input((3,), name="c0")
    g0 = keras.Input((2,), name="g0")
    lstm = layers.LSTM(3, return_sequences=True, name="lstm")(x, initial_state=[h0, c0])
    gru = layers.GRU(2, name="gru")(x, initial_state=[g0])
    model = keras.Model([x, h0, c0, g0], [lstm, gru], name="recurrent_states")
    randomize(model, rng)
    inputs = {"x": rng.normal(0, 1, size=(2, 4, 3)).astype(np.float32),
              "h0": rng.normal(0, 1, size=(2, 3)).astype(np.float32),
              "c0": rng.normal(0, 1, size=(2, 3)).astype(np.float32),
              "g0": rng.normal(0, 1, size=(2, 2)).astype(np.float32)}
    save("recurrent_states", model, inputs, ["lstm", "gru"], "initial states as inputs of an LSTM and a GRU")

    seeded(keras, 149)
    x = keras.Input((None, 3), name="x")
    concat = layers.Bidirectional(layers.LSTM(3, return_sequences=True), merge_mode="concat", name="bi_concat")(x)
    summed = layers.Bidirectional(layers.GRU(2, return_sequences=True), merge_mode="sum", name="bi_sum")(concat)
    product = layers.Bidirectional(layers.SimpleRNN(2), merge_mode="mul", name="bi_mul")(summed)
    average = layers.Bidirectional(layers.LSTM(2), merge_mode="ave", name="bi_ave")(x)
    forward_out, backward_out = layers.Bidirectional(layers.GRU(2, return_sequences=True), merge_mode=None,
                                                     name="bi_none")(x)
    states = layers.Bidirectional(
        layers.LSTM(2, return_state=True), backward_layer=layers.LSTM(2, return_state=True, go_backwards=True,
                                                                       activation="relu"),
        name="bi_states")(x)
    model = keras.Model(x, [concat, product, average, forward_out, backward_out] + list(states),
                        name="recurrent_bidirectional")
    randomize(model, rng)
    for length, batch in ((4, 2), (1, 1)):
        inputs = {"x": rng.normal(0, 1, size=(batch, length, 3)).astype(np.float32)}
        save(f"recurrent_bidirectional_t{length}", model, inputs,
             ["bi_concat", "bi_mul", "bi_ave", "bi_none", "bi_none"] + ["bi_states"] * 5,
             f"Bidirectional of unknown length, here {length} at batch {batch}: merge_mode concat, sum, mul, ave, None; "
             "a backward_layer with return_state")

    seeded(keras, 151)
    x = keras.Input((None, 3), name="x")
    seq = layers.GRU(4, return_sequences=True, name="gru")(x)
    steps = layers.TimeDistributed(layers.Dense(2, activation="softmax"), name="per_step")(seq)
    model = keras.Model(x, steps, name="recurrent_time_distributed")
    randomize(model, rng)
    inputs = {"x": rng.normal(0, 1, size=(2, 5, 3)).astype(np.float32)}
    save("recurrent_time_distributed", model, inputs, ["per_step"],
         "a GRU's sequence into TimeDistributed(Dense) with softmax, unknown length, here 5")


def build_masked_recurrent_fixtures(keras, layers, kv, version):
    """Masked recurrent layers (`--only recurrent_masked`): Embedding(mask_zero=True) and Masking into LSTM, GRU,
    SimpleRNN and Bidirectional (Keras repeats the previous output at a masked step, a Bidirectional returning
    sequences gives zeros there), through Dense and a recurrent sequence, into GlobalAveragePooling1D, with an
    initial state, with go_backwards; tokens padded at the end, with gaps in the middle and a row of padding only,
    at batch 3 and batch 1, with fixed lengths (Kiln reverses a go_backwards sequence only for a known length, and the
    Swift executor multiplies by Masking's mask only on known shapes)."""
    global np
    import numpy as np
    rng = np.random.default_rng(1400 + version)

    def save(name, model, inputs, producers, description):
        outputs = predict(model, [inputs[k] for k in inputs] if len(inputs) > 1 else next(iter(inputs.values())))
        save_both(name, model, inputs, dict(zip(output_names(producers), outputs)), kv, description, version)

    seeded(keras, 157)
    tokens = keras.Input((6,), dtype="int32", name="tokens")
    h0 = keras.Input((3,), name="h0")
    e = layers.Embedding(9, 3, mask_zero=True, name="embedding")(tokens)
    seq = layers.LSTM(3, return_sequences=True, name="lstm_seq")(e)
    last = layers.GRU(2, name="gru_last")(seq)
    backwards = layers.SimpleRNN(2, go_backwards=True, return_sequences=True, name="rnn_backwards")(e)
    started = layers.GRU(3, return_sequences=True, name="gru_started")(e, initial_state=[h0])
    bi_seq = layers.Bidirectional(layers.LSTM(2, return_sequences=True), name="bi_seq")(e)
    bi_last = layers.Bidirectional(layers.GRU(2), merge_mode="ave", name="bi_last")(seq)
    # A row of padding only (the "gaps" case) would make a masked average 0 / 0: the pooling is in the other model.
    model = keras.Model([tokens, h0], [seq, last, backwards, started, bi_seq, bi_last], name="recurrent_masked_tokens")
    randomize(model, rng)
    producers = ["lstm_seq", "gru_last", "rnn_backwards", "gru_started", "bi_seq", "bi_last"]
    cases = {
        "trailing": np.array([[3, 1, 4, 1, 5, 0], [2, 6, 0, 0, 0, 0], [8, 7, 6, 5, 4, 3]], dtype=np.int32),
        "gaps": np.array([[0, 3, 0, 4, 4, 0], [0, 0, 0, 0, 0, 0], [5, 0, 0, 2, 7, 1]], dtype=np.int32),
        "one": np.array([[7, 0, 2, 0, 0, 0]], dtype=np.int32),
    }
    for case, ids in cases.items():
        inputs = {"tokens": ids, "h0": rng.normal(0, 1, size=(ids.shape[0], 3)).astype(np.float32)}
        save(f"recurrent_masked_tokens_{case}", model, inputs, producers,
             f"Embedding(mask_zero=True) into LSTM, GRU (last output; initial state), SimpleRNN go_backwards "
             f"and Bidirectional: mask {case}, batch {ids.shape[0]}, length {ids.shape[1]}")

    seeded(keras, 163)
    x = keras.Input((5, 2), name="x")
    masked = layers.Masking(mask_value=0.0, name="masking")(x)
    seq = layers.LSTM(3, return_sequences=True, name="lstm_seq")(masked)
    dense = layers.Dense(3, activation="tanh", name="dense")(seq)
    back = layers.GRU(2, go_backwards=True, reset_after=False, name="gru_back")(dense)
    pooled = layers.GlobalAveragePooling1D(name="pool")(dense)
    summed = layers.Bidirectional(layers.SimpleRNN(2, return_sequences=True), merge_mode="sum", name="bi_sum")(masked)
    model = keras.Model(x, [masked, seq, back, pooled, summed], name="recurrent_masked_values")
    randomize(model, rng)
    for case, batch, length, gaps in (("trailing", 3, 5, False), ("gaps", 2, 5, True), ("one", 1, 5, True)):
        values = rng.normal(0, 1, size=(batch, length, 2)).astype(np.float32)
        keep = np.ones((batch, length), dtype=bool)
        if gaps:
            keep[0, [0, 2]] = False
            keep[-1, -2] = False
        else:
            keep[0, 3:] = False
            keep[1, 1:] = False
        values[~keep] = 0.0
        # A step with one feature zero is not masked.
        values[-1, 0, 0] = 0.0
        save(f"recurrent_masked_values_{case}", model, {"x": values}, ["masking", "lstm_seq", "gru_back", "pool", "bi_sum"],
             f"Masking(0.0) into LSTM, through Dense into GRU go_backwards and GlobalAveragePooling1D, and "
             f"Bidirectional SimpleRNN (sum): masked steps {case}, batch {batch}, length {length}")


def build_digits_sequence_fixtures(keras, layers, kv, version):
    """Digits as sequences (`--only recurrent_digits`, Keras 3 only): sklearn's 8x8 digits, each row of the image a
    time step (8 steps of 8 features, scaled to [0, 1]), classified by LSTM(32), GRU(32) and Bidirectional(LSTM(16))
    each into Dense(10, softmax), trained briefly. Inputs: the first 32 held-out digits; meta.json holds their
    labels and Keras's top-1 accuracy. `top1` asks the checks to compare each engine's top-1 with Keras's."""
    if version != 3:
        return
    import numpy as np
    (x_train, y_train), (x_test, y_test) = digits_8x8()
    x_train, x_test = x_train[..., 0], x_test[..., 0]
    forms = {
        "lstm": lambda: layers.LSTM(32, name="lstm"),
        "gru": lambda: layers.GRU(32, name="gru"),
        "bidirectional": lambda: layers.Bidirectional(layers.LSTM(16), name="bidirectional"),
    }
    for form, recurrent in forms.items():
        seeded(keras, 167)
        model = keras.Sequential([keras.Input((8, 8), name="rows"), recurrent(),
                                  layers.Dense(10, activation="softmax", name="digit")], name=f"digits_{form}")
        model.compile(optimizer=keras.optimizers.Adam(0.01), loss="sparse_categorical_crossentropy")
        model.fit(x_train, y_train, epochs=8, batch_size=64, verbose=0)
        model = without_optimizer(model)
        x = np.ascontiguousarray(x_test[:32])
        probabilities = predict(model, x)[0]
        accuracy = float((probabilities.argmax(-1) == y_test[:32]).mean())
        held_out = float((predict(model, x_test)[0].argmax(-1) == y_test).mean())
        write_fixture(f"recurrent_digits_{form}_keras3_keras", model, lambda d: save_keras(model, d), {"rows": x},
                      {"digit": probabilities}, kv,
                      f"sklearn digits, the 8 rows of each image as 8 time steps, classified by {form} "
                      f"(trained 8 epochs; Keras's held-out top-1 {held_out:.3f}, {accuracy:.3f} on these 32)",
                      {"top1": True, "labels": [int(v) for v in y_test[:32]]})


def build_rnn_cell_fixtures(keras, layers, kv, version):
    """The RNN layer around SimpleRNNCell, LSTMCell and GRUCell, and around a list of cells (StackedRNNCells), with
    return_sequences, go_backwards, return_state and a Masking mask (`--only recurrent_cells`)."""
    global np
    import numpy as np
    rng = np.random.default_rng(1500 + version)
    seeded(keras, 173)
    x = keras.Input((5, 3), name="x")
    lstm = layers.RNN(layers.LSTMCell(3), return_sequences=True, name="rnn_lstm")(x)
    gru = layers.RNN(layers.GRUCell(2, reset_after=False), go_backwards=True, name="rnn_gru")(x)
    simple, state = layers.RNN(layers.SimpleRNNCell(2, activation="relu"), return_state=True, name="rnn_simple")(x)
    stacked = layers.RNN([layers.LSTMCell(3), layers.GRUCell(2)], return_sequences=True, name="rnn_stacked")(x)
    backwards = layers.RNN([layers.SimpleRNNCell(2), layers.LSTMCell(2)], go_backwards=True, name="rnn_stacked_back")(lstm)
    masked = layers.Masking(name="masking")(x)
    masked_stack = layers.RNN([layers.GRUCell(2), layers.SimpleRNNCell(2)], name="rnn_masked")(masked)
    model = keras.Model(x, [lstm, gru, simple, state, stacked, backwards, masked_stack], name="recurrent_cells")
    randomize(model, rng)
    values = rng.normal(0, 1, size=(2, 5, 3)).astype(np.float32)
    values[0, 3:] = 0.0
    values[1, 1] = 0.0
    outputs = predict(model, values)
    names = output_names(["rnn_lstm", "rnn_gru", "rnn_simple", "rnn_simple", "rnn_stacked", "rnn_stacked_back", "rnn_masked"])
    save_both("recurrent_cells", model, {"x": values}, dict(zip(names, outputs)), kv,
              "RNN around LSTMCell, GRUCell (reset_after=False, go_backwards), SimpleRNNCell (return_state) and lists of "
              "cells (StackedRNNCells; go_backwards; behind Masking)", version)


def build_cudnn_fixtures(keras, layers, kv, version):
    """Keras 2's CuDNNLSTM and CuDNNGRU (`--only recurrent_cudnn`, Keras 2 only). tf-keras builds and saves them on
    a CPU but runs them only on a GPU, so the expected outputs come from the layers tf-keras documents as their
    equivalents, given the same weights: LSTM with the input and recurrent biases summed, and GRU with
    reset_after=True and the two bias sets as its two bias rows (cuDNN's CUDNN_LSTM and CUDNN_GRU cells)."""
    if version != 2:
        return
    global np
    import numpy as np
    from tf_keras.src.layers.rnn.cudnn_gru import CuDNNGRU
    from tf_keras.src.layers.rnn.cudnn_lstm import CuDNNLSTM
    rng = np.random.default_rng(1600)
    x = keras.Input((5, 3), name="x")
    lstm = CuDNNLSTM(3, return_sequences=True, name="cudnn_lstm")(x)
    gru = CuDNNGRU(2, go_backwards=True, name="cudnn_gru")(lstm)
    model = keras.Model(x, [lstm, gru], name="recurrent_cudnn")
    randomize(model, rng)
    kernel, recurrent, bias, gru_kernel, gru_recurrent, gru_bias = model.get_weights()
    y = keras.Input((5, 3), name="x")
    twin_lstm = layers.LSTM(3, return_sequences=True, name="cudnn_lstm")(y)
    twin_gru = layers.GRU(2, reset_after=True, go_backwards=True, name="cudnn_gru")(twin_lstm)
    twin = keras.Model(y, [twin_lstm, twin_gru])
    twin.set_weights([kernel, recurrent, bias[:12] + bias[12:], gru_kernel, gru_recurrent, gru_bias.reshape(2, 6)])
    values = rng.normal(0, 1, size=(2, 5, 3)).astype(np.float32)
    outputs = predict(twin, values)
    save_both("recurrent_cudnn", model, {"x": values}, dict(zip(["cudnn_lstm", "cudnn_gru"], outputs)), kv,
              "CuDNNLSTM (return_sequences) into CuDNNGRU (go_backwards); expected outputs from tf-keras's LSTM and "
              "GRU(reset_after=True) with the same weights, as tf-keras runs cuDNN layers only on a GPU", version)


def build_time_distributed_fixtures(keras, layers, kv, version):
    """TimeDistributed around layers other than Dense (`--only recurrent_time_distributed_layers`): Conv2D,
    MaxPooling2D, Flatten into an LSTM, and a nested Sequential model, on 4 frames of 6x6."""
    global np
    import numpy as np
    rng = np.random.default_rng(1700 + version)
    seeded(keras, 179)
    x = keras.Input((4, 6, 6, 1), name="frames")
    conv = layers.TimeDistributed(layers.Conv2D(2, 3, activation="relu", name="conv"), name="td_conv")(x)
    pooled = layers.TimeDistributed(layers.MaxPooling2D(2, name="pool"), name="td_pool")(conv)
    flat = layers.TimeDistributed(layers.Flatten(name="flatten"), name="td_flatten")(pooled)
    summary = layers.LSTM(3, name="lstm")(flat)
    inner = keras.Sequential([keras.Input((6, 6, 1)), layers.Conv2D(2, 3, name="inner_conv"),
                              layers.GlobalAveragePooling2D(name="inner_pool")], name="per_frame")
    nested = layers.TimeDistributed(inner, name="td_model")(x)
    model = keras.Model(x, [flat, summary, nested], name="time_distributed_layers")
    randomize(model, rng)
    values = rng.normal(0, 1, size=(2, 4, 6, 6, 1)).astype(np.float32)
    outputs = predict(model, values)
    save_both("recurrent_time_distributed_layers", model, {"frames": values},
              dict(zip(["td_flatten", "lstm", "td_model"], outputs)), kv,
              "TimeDistributed around Conv2D, MaxPooling2D, Flatten (into an LSTM) and a nested Sequential model, "
              "4 frames of 6x6", version)


def build_unknown_size_fixtures(keras, layers, kv, version):
    """Models saved with unknown sizes besides the batch, each written twice with inputs of two sizes: a text
    classifier on tokens of any length (None,), and a fully convolutional network on images of any height and
    width (None, None, 3) with a per-pixel output. Their own generator keeps their data independent."""
    import numpy as np
    rng = np.random.default_rng(5678 + version)
    seeded(keras, 97)
    tokens = keras.Input((None,), dtype="int32", name="tokens")
    t = layers.Embedding(30, 6, name="embedding")(tokens)
    t = layers.Conv1D(5, 3, padding="same", activation="relu", name="conv")(t)
    t = layers.LayerNormalization(name="norm")(t)
    t = layers.GlobalAveragePooling1D(name="pool")(t)
    t = layers.Dense(3, activation="softmax", name="probs")(t)
    text = keras.Model(tokens, t, name="unknown_length")
    randomize(text, rng)
    for length in (5, 12):
        x = rng.integers(0, 30, size=(3, length)).astype(np.int32)
        save_both(f"unknown_length_t{length}", text, {"tokens": x}, {"probs": predict(text, x)[0]}, kv,
                  f"tokens of unknown length (None,), here {length}: Embedding, same-padded Conv1D, LayerNorm, pooling", version)
    seeded(keras, 101)
    image = keras.Input((None, None, 3), name="image")
    h = layers.Conv2D(4, 3, padding="same", activation="relu", name="conv_a")(image)
    h = layers.BatchNormalization(name="bn")(h)
    pixels = layers.Conv2D(2, 1, name="pixels")(h)
    pooled = layers.GlobalMaxPooling2D(name="pool")(h)
    scores = layers.Dense(2, name="scores")(pooled)
    conv = keras.Model(image, [pixels, scores], name="fully_convolutional")
    randomize(conv, rng)
    for height, width in ((6, 9), (11, 4)):
        x = rng.uniform(0, 1, size=(2, height, width, 3)).astype(np.float32)
        p, c = predict(conv, x)
        save_both(f"fully_conv_{height}x{width}", conv, {"image": x}, {"pixels": p, "scores": c}, kv,
                  f"images of unknown height and width (None, None, 3), here {height}x{width}: same-padded convolutions", version)


def build_long_graph_fixtures(keras, layers, kv, version):
    """Graphs whose generated Swift has long stretches of one thing, which must still compile in seconds: a
    16-way Concatenate (Keras 3), and 200 small layers in a row (Keras 2). Their own generator keeps their
    data independent of the fixtures before them."""
    import numpy as np
    rng = np.random.default_rng(4321 + version)
    if version == 3:
        seeded(keras, 83)
        inp = keras.Input((3, 5), name="input")
        branches = [layers.Dense(1 + i % 4, activation="tanh", name=f"branch_{i}")(inp) for i in range(16)]
        joined = layers.Concatenate(axis=-1, name="concat")(branches)
        out = layers.Dense(4, name="dense")(layers.Flatten(name="flatten")(joined))
        model = keras.Model(inp, [joined, out], name="concat16")
        randomize(model, rng)
        x = rng.normal(0, 1, size=(4, 3, 5)).astype(np.float32)
        o1, o2 = predict(model, x)
        write_fixture("concat16_keras3_keras", model, lambda d: save_keras(model, d), {"input": x}, {"concat": o1, "dense": o2},
                      kv, "a Concatenate of 16 Dense branches of 1 to 4 units, on rank 3")
    else:
        # Dense(6) and three activations that keep a signal alive through all of them (slope 1 near 0), 50 times;
        # near-identity kernels, so the rows still differ at the end.
        seeded(keras, 89)
        activations = ["tanh", "elu", "linear"]
        inp = keras.Input((6,), name="input")
        h = inp
        for i in range(200):
            if i % 4 == 0:
                h = layers.Dense(6, name=f"dense_{i}")(h)
            else:
                h = layers.Activation(activations[i % 4 - 1], name=f"activation_{i}")(h)
        model = keras.Model(inp, h, name="deep200")
        for layer in model.layers:
            if layer.get_weights():
                layer.set_weights([np.eye(6, dtype=np.float32) + rng.normal(0, 0.2, (6, 6)).astype(np.float32),
                                   rng.normal(0, 0.1, 6).astype(np.float32)])
        x = rng.normal(0, 1, size=(4, 6)).astype(np.float32)
        write_fixture("deep200_keras2_h5", model, lambda d: save_h5(model, d), {"input": x}, {"activation_199": predict(model, x)[0]},
                      kv, "200 layers: Dense(6) then Activation tanh, elu and linear, 50 times")


def build_attention_fixtures(keras, layers, kv, version):
    """MultiHeadAttention (`--only attention`), each model at two sequence lengths, batch 2: self-attention and a
    causal one (key_dim != value_dim, no bias, output_shape) on tokens of unknown length; cross-attention with a
    separate key and a value of another unknown length, and return_attention_scores with a causal mask and a 2-D
    output_shape; an attention_mask input (fixed lengths, one row of each example masked everywhere) through
    Keras 3's two paths (dropout > 0 and return_attention_scores take its Softmax layer, which zeroes such rows;
    otherwise ops.dot_product_attention, which spreads them evenly). Their own generator keeps their data
    independent."""
    global np
    import numpy as np
    rng = np.random.default_rng(1400 + version)

    def save(name, model, inputs, producers, description, keras3_h5=False):
        outputs = predict(model, [inputs[k] for k in inputs] if len(inputs) > 1 else next(iter(inputs.values())))
        save_both(name, model, inputs, dict(zip(output_names(producers), outputs)), kv, description, version, keras3_h5)

    seeded(keras, 157)
    x = keras.Input((None, 4), name="x")
    plain = layers.MultiHeadAttention(num_heads=2, key_dim=3, name="self_attention")(x, x)
    causal = layers.MultiHeadAttention(num_heads=2, key_dim=2, value_dim=3, use_bias=False, output_shape=5,
                                       name="causal")(x, x, use_causal_mask=True)
    model = keras.Model(x, [plain, causal], name="mha_self")
    randomize(model, rng)
    for length in (5, 3):
        inputs = {"x": rng.normal(0, 1, size=(2, length, 4)).astype(np.float32)}
        save(f"mha_self_t{length}", model, inputs, ["self_attention", "causal"],
             f"MultiHeadAttention on a sequence of unknown length, here {length}: self-attention (2 heads, key_dim 3); "
             "causal self-attention with key_dim 2, value_dim 3, no bias, output_shape 5", keras3_h5=True)

    seeded(keras, 163)
    q = keras.Input((None, 4), name="q")
    v = keras.Input((None, 3), name="v")
    # A key of its own features; made from the value so that Kiln knows their unknown lengths are equal.
    k = layers.Dense(2, name="key_features")(v)
    cross = layers.MultiHeadAttention(num_heads=2, key_dim=3, name="cross")(q, v, key=k)
    shaped, scores = layers.MultiHeadAttention(num_heads=3, key_dim=2, value_dim=2, output_shape=(2, 3),
                                               name="scored")(q, v, return_attention_scores=True, use_causal_mask=True)
    model = keras.Model([q, v], [cross, shaped, scores], name="mha_cross")
    randomize(model, rng)
    for tq, tv in ((4, 6), (3, 2)):
        inputs = {"q": rng.normal(0, 1, size=(2, tq, 4)).astype(np.float32),
                  "v": rng.normal(0, 1, size=(2, tv, 3)).astype(np.float32)}
        save(f"mha_cross_q{tq}_v{tv}", model, inputs, ["cross", "scored", "scored"],
             f"cross-attention with unknown lengths, here query {tq} and key/value {tv}: a key of its own (Dense of the value); "
             "return_attention_scores with use_causal_mask and output_shape (2, 3)")

    for tq, tv in ((4, 5), (3, 2)):
        seeded(keras, 167)
        q = keras.Input((tq, 4), name="q")
        v = keras.Input((tv, 3), name="v")
        m = keras.Input((tq, tv), name="mask")
        softmax_path, scores = layers.MultiHeadAttention(num_heads=2, key_dim=2, value_dim=3, dropout=0.25,
                                                         name="dropout_scores")(
            q, v, attention_mask=m, return_attention_scores=True)
        fast_path = layers.MultiHeadAttention(num_heads=2, key_dim=3, name="masked")(q, v, attention_mask=m)
        causal = layers.MultiHeadAttention(num_heads=1, key_dim=2, name="masked_causal")(
            q, v, attention_mask=m, use_causal_mask=True)
        model = keras.Model([q, v, m], [softmax_path, scores, fast_path, causal], name="mha_mask")
        randomize(model, rng)
        mask = (rng.uniform(0, 1, size=(2, tq, tv)) < 0.7).astype(np.float32)
        mask[:, 1, :] = 0
        inputs = {"q": rng.normal(0, 1, size=(2, tq, 4)).astype(np.float32),
                  "v": rng.normal(0, 1, size=(2, tv, 3)).astype(np.float32),
                  "mask": mask}
        save(f"mha_mask_q{tq}_v{tv}", model, inputs,
             ["dropout_scores", "dropout_scores", "masked", "masked_causal"],
             f"attention_mask as an input (query {tq}, key/value {tv}; row 1 masked everywhere): dropout 0.25 with "
             "return_attention_scores, the plain path, and the mask with use_causal_mask")


def build_transformer_fixtures(keras, layers, kv, version):
    """A two-block transformer encoder classifying sklearn's digits with each image's 8 rows as 8 tokens of 8
    pixels (`--only transformer`): Dense(16) token projection, then twice MultiHeadAttention(2 heads, key_dim 8)
    + residual + LayerNormalization and an exact (erf) GELU feed-forward (Dense 32, Dense 16) + residual +
    LayerNormalization; GlobalAveragePooling1D and Dense(10, softmax). The sequence length is unknown (no
    position encoding), so the same model also runs on the 6 middle rows. Trained briefly on the same split as
    the other digits models; 32 held-out digits as input. Keras 3 writes .keras and .h5, Keras 2 .h5."""
    import numpy as np
    (train, y_train), (test, y_test) = digits_8x8()
    train, test = train[..., 0], test[..., 0]
    seeded(keras, 173)
    tokens = keras.Input((None, 8), name="rows")
    h = layers.Dense(16, name="embed")(tokens)
    for block in (1, 2):
        attended = layers.MultiHeadAttention(num_heads=2, key_dim=8, name=f"attention_{block}")(h, h)
        h = layers.LayerNormalization(epsilon=1e-6, name=f"norm_{block}a")(layers.Add(name=f"residual_{block}a")([h, attended]))
        f = layers.Dense(32, activation="gelu", name=f"ffn_{block}a")(h)
        f = layers.Dense(16, name=f"ffn_{block}b")(f)
        h = layers.LayerNormalization(epsilon=1e-6, name=f"norm_{block}b")(layers.Add(name=f"residual_{block}b")([h, f]))
    h = layers.GlobalAveragePooling1D(name="pool")(h)
    probs = layers.Dense(10, activation="softmax", name="probs")(h)
    model = keras.Model(tokens, probs, name="transformer_digits")
    model.compile(optimizer=keras.optimizers.Adam(3e-3), loss="sparse_categorical_crossentropy")
    model.fit(train, y_train, epochs=25, batch_size=32, verbose=0)
    accuracy = float(np.mean(np.argmax(predict(model, test)[0], axis=1) == y_test))
    tag = "keras2" if version == 2 else "keras3"
    for rows, batch in (("8", test[:32]), ("6", test[:32, 1:7])):
        batch = np.ascontiguousarray(batch, dtype=np.float32)
        name = f"transformer_digits_t{rows}"
        save_both(name, model, {"rows": batch}, {"probs": predict(model, batch)[0]}, kv,
                  f"two-block transformer encoder (MultiHeadAttention, LayerNormalization, exact GELU feed-forward, "
                  f"residuals) on digits rows as tokens, here {rows} rows of 32 held-out digits", version, keras3_h5=False)
        for suffix in ("keras",) if version == 3 else ("h5",):
            path = FIXTURES / f"{name}_{tag}_{suffix}" / "meta.json"
            meta = json.loads(path.read_text())
            meta["keras_test_accuracy"] = round(accuracy, 4)
            path.write_text(json.dumps(meta, indent=2, sort_keys=True) + "\n")


def build_einsum_dense_fixtures(keras, layers, kv, version):
    """EinsumDense (`--only einsum_dense`), each model at two sequence lengths, batch 2: on tokens of unknown length
    the equations Keras 3's MultiHeadAttention uses (abc,cd->abd; abc,cde->abde with bias_axes de and relu;
    abcd,cde->abe); at fixed lengths an output in another order (abc,cd->adb), a contraction over the sequence
    (abc,bd->acd, bias over c only), a left ellipsis (...c,cd->...d) and a summed input letter (abc,ce->ae, no
    bias). Their own generator keeps their data independent."""
    global np
    import numpy as np
    rng = np.random.default_rng(1500 + version)
    EinsumDense = layers.EinsumDense

    def save(name, model, inputs, producers, description):
        outputs = predict(model, next(iter(inputs.values())))
        save_both(name, model, inputs, dict(zip(output_names(producers), outputs)), kv, description, version, keras3_h5=False)

    seeded(keras, 179)
    x = keras.Input((None, 4), name="x")
    projected = EinsumDense("abc,cd->abd", output_shape=(None, 5), bias_axes="d", name="projected")(x)
    heads = EinsumDense("abc,cde->abde", output_shape=(None, 2, 3), bias_axes="de", activation="relu", name="heads")(x)
    merged = EinsumDense("abcd,cde->abe", output_shape=(None, 4), bias_axes="e", name="merged")(heads)
    model = keras.Model(x, [projected, heads, merged], name="einsum_dense")
    randomize(model, rng)
    for length in (5, 2):
        save(f"einsum_dense_t{length}", model, {"x": rng.normal(0, 1, size=(2, length, 4)).astype(np.float32)},
             ["projected", "heads", "merged"],
             f"EinsumDense on tokens of unknown length, here {length}: abc,cd->abd (bias d); abc,cde->abde (bias de, "
             "relu); abcd,cde->abe (bias e)")

    for length in (3, 5):
        seeded(keras, 181)
        x = keras.Input((length, 4), name="x")
        reordered = EinsumDense("abc,cd->adb", output_shape=(6, length), bias_axes="d", name="reordered")(x)
        over_time = EinsumDense("abc,bd->acd", output_shape=(4, 2), bias_axes="c", name="over_time")(x)
        elided = EinsumDense("...c,cd->...d", output_shape=5, bias_axes="d", name="elided")(x)
        summed = EinsumDense("abc,ce->ae", output_shape=3, name="summed")(x)
        model = keras.Model(x, [reordered, over_time, elided, summed], name="einsum_dense_forms")
        randomize(model, rng)
        save(f"einsum_dense_forms_t{length}", model, {"x": rng.normal(0, 1, size=(2, length, 4)).astype(np.float32)},
             ["reordered", "over_time", "elided", "summed"],
             f"EinsumDense at length {length}: abc,cd->adb (output transposed); abc,bd->acd (contracting the "
             "sequence, bias over c only); ...c,cd->...d; abc,ce->ae (b summed, no bias)")


def build_dot_attention_fixtures(keras, layers, kv, version):
    """Keras's Attention layer with score_mode="dot" (`--only dot_attention`), batch 2: on sequences of unknown
    length (query 4 or 3, value 6 or 2), [query, value] and [query, value, key] with use_scale (a trained scalar)
    and use_causal_mask; at fixed lengths, return_attention_scores. Their own generator."""
    global np
    import numpy as np
    rng = np.random.default_rng(1600 + version)

    def save(name, model, inputs, producers, description):
        outputs = predict(model, [inputs[k] for k in inputs])
        save_both(name, model, inputs, dict(zip(output_names(producers), outputs)), kv, description, version, keras3_h5=False)

    seeded(keras, 191)
    q = keras.Input((None, 3), name="q")
    v = keras.Input((None, 3), name="v")
    k = layers.Dense(3, name="key_features")(v)
    plain = layers.Attention(name="plain")([q, v])
    scaled = layers.Attention(use_scale=True, name="scaled")([q, v, k], use_causal_mask=True)
    model = keras.Model([q, v], [plain, scaled], name="dot_attention")
    randomize(model, rng)
    for layer in model.layers:
        if layer.name == "scaled":
            layer.set_weights([np.array(1.7, dtype=np.float32)])
    for tq, tv in ((4, 6), (3, 2)):
        inputs = {"q": rng.normal(0, 1, size=(2, tq, 3)).astype(np.float32),
                  "v": rng.normal(0, 1, size=(2, tv, 3)).astype(np.float32)}
        save(f"dot_attention_q{tq}_v{tv}", model, inputs, ["plain", "scaled"],
             f"Attention (dot) with unknown lengths, here query {tq} and value {tv}: [query, value]; [query, value, key] "
             "with use_scale 1.7 and use_causal_mask")

    for tq, tv in ((4, 5), (2, 3)):
        seeded(keras, 193)
        q = keras.Input((tq, 3), name="q")
        v = keras.Input((tv, 2), name="v")
        k = layers.Dense(3, name="key_features")(v)
        context, scores = layers.Attention(name="scored")([q, v, k], return_attention_scores=True)
        model = keras.Model([q, v], [context, scores], name="dot_attention_scores")
        randomize(model, rng)
        inputs = {"q": rng.normal(0, 1, size=(2, tq, 3)).astype(np.float32),
                  "v": rng.normal(0, 1, size=(2, tv, 2)).astype(np.float32)}
        save(f"dot_attention_scores_q{tq}_v{tv}", model, inputs, ["scored", "scored"],
             f"Attention (dot) with return_attention_scores, query {tq}, value {tv}, a key of its own")


def build_additive_attention_fixtures(keras, layers, kv, version):
    """AdditiveAttention (use_scale both ways) and Attention(score_mode="concat") (use_scale both ways)
    (`--only additive_attention`), on sequences of unknown length (query 4 or 2, value 5 or 3), with
    use_causal_mask and a key of its own, batch 2. Their own generator."""
    global np
    import numpy as np
    rng = np.random.default_rng(1700 + version)
    seeded(keras, 197)
    q = keras.Input((None, 3), name="q")
    v = keras.Input((None, 3), name="v")
    k = layers.Dense(3, name="key_features")(v)
    additive = layers.AdditiveAttention(name="additive")([q, v])
    unscaled = layers.AdditiveAttention(use_scale=False, name="unscaled")([q, v, k], use_causal_mask=True)
    concat = layers.Attention(score_mode="concat", name="concat")([q, v, k])
    concat_scaled = layers.Attention(score_mode="concat", use_scale=True, name="concat_scaled")([q, v], use_causal_mask=True)
    model = keras.Model([q, v], [additive, unscaled, concat, concat_scaled], name="additive_attention")
    randomize(model, rng)
    for layer in model.layers:
        if layer.name == "concat":
            layer.set_weights([np.array(0.8, dtype=np.float32)])
        if layer.name == "concat_scaled":
            layer.set_weights([np.array(1.3, dtype=np.float32), np.array(-0.6, dtype=np.float32)])
    for tq, tv in ((4, 5), (2, 3)):
        inputs = {"q": rng.normal(0, 1, size=(2, tq, 3)).astype(np.float32),
                  "v": rng.normal(0, 1, size=(2, tv, 3)).astype(np.float32)}
        outputs = predict(model, [inputs["q"], inputs["v"]])
        save_both(f"additive_attention_q{tq}_v{tv}", model, inputs,
                  dict(zip(["additive", "unscaled", "concat", "concat_scaled"], outputs)), kv,
                  f"AdditiveAttention and Attention(score_mode='concat') with unknown lengths, here query {tq}, value {tv}: "
                  "use_scale both ways, a key of its own, use_causal_mask", version, keras3_h5=False)


def build_attention_2d_fixtures(keras, layers, kv, version):
    """MultiHeadAttention over two axes (`--only attention_2d`): on a [height, width, channels] grid of 3x2 and of
    2x2, self-attention with the default attention_axes (every axis between the batch and the channels), and
    attention_axes (1, 2) with an attention_mask input [batch, h, w, h, w] (one query position masked everywhere)
    and return_attention_scores. Batch 2; their own generator."""
    global np
    import numpy as np
    rng = np.random.default_rng(1800 + version)
    for height, width in ((3, 2), (2, 2)):
        seeded(keras, 199)
        x = keras.Input((height, width, 4), name="x")
        m = keras.Input((height, width, height, width), name="mask")
        grid = layers.MultiHeadAttention(num_heads=2, key_dim=3, name="grid")(x, x)
        masked, scores = layers.MultiHeadAttention(num_heads=2, key_dim=2, value_dim=3, attention_axes=(1, 2),
                                                   name="masked_grid")(x, x, attention_mask=m, return_attention_scores=True)
        model = keras.Model([x, m], [grid, masked, scores], name="attention_2d")
        randomize(model, rng)
        mask = (rng.uniform(0, 1, size=(2, height, width, height, width)) < 0.7).astype(np.float32)
        mask[:, 0, 1] = 0
        inputs = {"x": rng.normal(0, 1, size=(2, height, width, 4)).astype(np.float32), "mask": mask}
        outputs = predict(model, [inputs["x"], inputs["mask"]])
        save_both(f"attention_2d_{height}x{width}", model, inputs,
                  dict(zip(output_names(["grid", "masked_grid", "masked_grid"]), outputs)), kv,
                  f"MultiHeadAttention over a {height}x{width} grid: default attention_axes; attention_axes (1, 2) with "
                  "an attention_mask input (position (0, 1) masked everywhere) and return_attention_scores", version, keras3_h5=False)


def keras_module(version):
    """The Keras of a child process: tf_keras (Keras 2) or Keras 3; its tag and version."""
    setup_environment()
    if version == 2:
        import tf_keras as keras
        return keras, "keras2", keras.__version__
    import keras
    return keras, "keras3", keras.__version__


def build_op_layer_fixtures(keras, layers, kv, version):
    """Functional models that call TensorFlow (Keras 2: TFOpLambda and SlicingOpLambda layers) or keras.ops
    (Keras 3: operation layers) directly, and a masking Embedding whose mask GlobalAveragePooling1D uses (Keras 3
    records it as a NotEqual op layer). Keras 3 writes .keras files, and .h5 files for the op models (which
    Keras 3 itself cannot load back, but people have them). Outputs pass through Activation('linear') layers
    only to give them plain names. Draws from a generator of its own."""
    global np
    import numpy as np
    rng = np.random.default_rng(4242 + version)
    tag = "keras2" if version == 2 else "keras3"

    def named(value, name):
        return layers.Activation("linear", name="out_" + name)(value)

    def save(name, model, inputs, description, h5=True):
        values = list(inputs.values())
        outputs = dict(zip(model.output_names, flat_outputs(model, values if len(values) > 1 else values[0])))
        if version == 2:
            write_fixture(f"{name}_keras2_h5", model, lambda d: save_h5(model, d), inputs, outputs, kv, description)
            return
        if h5:
            write_fixture(f"{name}_keras3_h5", model, lambda d: save_h5(model, d), inputs, outputs, kv, description)
        write_fixture(f"{name}_keras3_keras", model, lambda d: save_keras(model, d), inputs, outputs, kv, description)

    # Arithmetic with tensors and constants, functions of one operand, activations, comparisons as masks, clipping.
    seeded(keras, 101)
    x = keras.Input((6, 8), name="x")
    y = keras.Input((6, 8), name="y")
    h = layers.Dense(8, name="dense")(x)
    if version == 2:
        import tensorflow as tf
        a = tf.math.add(h, y) * 0.5 - tf.nn.relu(y)
        b = tf.math.divide(a, tf.abs(y) + 1.0)
        c = tf.pow(tf.abs(b) + 0.1, 1.5) + tf.square(a) - tf.math.rsqrt(tf.abs(a) + 1.0)
        d = tf.maximum(c, -1.0) + tf.minimum(a, y) + tf.math.reciprocal(tf.abs(a) + 0.5) + 2.0 ** tf.minimum(a, 1.0)
        e = (tf.math.log(tf.abs(d) + 1.0) + tf.exp(-tf.abs(a)) + tf.sqrt(tf.abs(b)) + tf.tanh(a) + tf.sigmoid(b)
             + tf.math.erf(a) - d - tf.math.subtract(1.0, x))
        act = (tf.nn.relu6(e * 3.0) + tf.nn.gelu(e) + tf.nn.gelu(e, approximate=True) + tf.nn.silu(e) + tf.nn.elu(e)
               + tf.nn.selu(e) + tf.nn.softplus(e) + tf.nn.leaky_relu(e, alpha=0.1))
        probs = tf.nn.softmax(act, axis=1)
        masks = (tf.cast(tf.math.greater(x, y), tf.float32) + tf.cast(x < 0.0, "float32") * 2.0
                 + tf.cast(tf.math.not_equal(x, 0.0), tf.float32) * 4.0 + tf.cast(x >= y, tf.float32) * 8.0
                 + tf.cast(tf.equal(x, x), tf.float32) * 16.0 + tf.cast(tf.less_equal(y, 0.5), tf.float32) * 32.0)
        clipped = tf.clip_by_value(e, -1.0, 1.0) + tf.clip_by_value(x, -0.5, y)
    else:
        from keras import ops
        a = ops.add(h, y) * 0.5 - ops.relu(y)
        b = ops.divide(a, ops.abs(y) + 1.0)
        c = ops.power(ops.absolute(b) + 0.1, 1.5) + ops.square(a) - ops.rsqrt(ops.abs(a) + 1.0)
        d = ops.maximum(c, -1.0) + ops.minimum(a, y) + ops.reciprocal(ops.abs(a) + 0.5) + 2.0 ** ops.minimum(a, 1.0)
        e = (ops.log(ops.abs(d) + 1.0) + ops.exp(-ops.abs(a)) + ops.sqrt(ops.abs(b)) + ops.tanh(a) + ops.sigmoid(b)
             + ops.erf(a) - d - ops.subtract(1.0, x))
        act = (ops.relu6(e * 3.0) + ops.gelu(e, approximate=False) + ops.gelu(e) + ops.silu(e) + ops.elu(e, alpha=0.7)
               + ops.selu(e) + ops.softplus(e) + ops.leaky_relu(e, negative_slope=0.1)
               + keras.activations.relu(e, negative_slope=0.05, max_value=2.0))
        probs = ops.softmax(act, axis=1)
        masks = (ops.cast(ops.greater(x, y), "float32") + ops.cast(x < 0.0, "float32") * 2.0
                 + ops.cast(ops.not_equal(x, 0.0), "float32") * 4.0 + ops.cast(ops.greater_equal(x, y), "float32") * 8.0
                 + ops.cast(ops.equal(x, x), "float32") * 16.0 + ops.cast(ops.less_equal(y, 0.5), "float32") * 32.0)
        clipped = ops.clip(e, -1.0, 1.0) + ops.minimum(ops.maximum(x, -0.5), y)
    model = keras.Model([x, y], [named(e, "math"), named(probs, "activations"), named(masks, "compare"), named(clipped, "clip")],
                        name="op_math")
    randomize(model, rng)
    xi = rng.normal(0, 1.5, size=(4, 6, 8)).astype(np.float32)
    xi[0, 0, :4] = 0.0
    yi = rng.normal(0, 1, size=(4, 6, 8)).astype(np.float32)
    save("op_math", model, {"x": xi, "y": yi},
         "TensorFlow / keras.ops arithmetic with constants, pow, math functions, activations, softmax, comparisons "
         "cast to float, clip")

    # Slicing with strides and negative steps, reshape, transpose, concat, stack, expand/squeeze, reductions, matmul.
    seeded(keras, 103)
    x = keras.Input((6, 8), name="x")
    h = layers.Dense(8, name="dense")(x)
    weights = rng.normal(0, 0.5, size=(8, 3)).astype(np.float32)
    if version == 2:
        import tensorflow as tf
        s1 = h[:, ::2, 1:7:3]
        s2 = h[:, ::-1, -1:0:-2]
        s3 = h[..., tf.newaxis, 3]
        s4 = h[:, 2]
        r = tf.reshape(s2, [-1, 4, 6])
        t = tf.transpose(r, [0, 2, 1])
        cat = tf.concat([t, s2, s3], axis=-1)
        st = tf.stack([t, s2], axis=1)
        ex = tf.squeeze(tf.expand_dims(s4, 1), axis=1)
        means = tf.reduce_mean(cat, axis=1)
        sums = tf.reduce_sum(st, axis=[1, 3], keepdims=True)
        extremes = tf.reduce_max(cat, -1) - tf.reduce_min(st, axis=2)[:, 0, :1]
        mm = tf.matmul(h, x, transpose_b=True) + tf.matmul(s1, s1, transpose_a=True)[:, :1, :1]
        proj = tf.matmul(h, weights)
    else:
        from keras import ops
        s1 = h[:, ::2, 1:7:3]
        s2 = h[:, ::-1, -1:0:-2]
        s3 = h[..., None, 3]
        s4 = h[:, 2]
        r = ops.reshape(s2, (-1, 4, 6))
        t = ops.transpose(r, (0, 2, 1))
        cat = ops.concatenate([t, s2, s3], axis=-1)
        st = ops.stack([t, s2], axis=1)
        ex = ops.squeeze(ops.expand_dims(s4, 1), axis=1)
        means = ops.mean(cat, axis=1)
        sums = ops.sum(st, axis=(1, 3), keepdims=True)
        extremes = ops.max(cat, axis=-1) - ops.min(st, axis=2)[:, 0, :1]
        mm = ops.matmul(h, ops.transpose(x, (0, 2, 1))) + ops.matmul(ops.transpose(s1, (0, 2, 1)), s1)[:, :1, :1]
        proj = ops.matmul(h, weights)
    model = keras.Model(x, [named(cat, "concat"), named(st, "stack"), named(ex, "squeeze"), named(means, "means"),
                            named(sums, "sums"), named(extremes, "extremes"), named(mm, "matmul"), named(proj, "projection")],
                        name="op_layout")
    randomize(model, rng)
    xi = rng.normal(0, 1, size=(4, 6, 8)).astype(np.float32)
    save("op_layout", model, {"x": xi},
         "slicing with strides, negative steps, None and ..., reshape, transpose, concat, stack, expand_dims/squeeze, "
         "reductions with axes and keepdims, matmul with transposes and with a constant")

    # Embedding(mask_zero=True) -> Dense (passes the mask on) -> GlobalAveragePooling1D (averages unmasked steps).
    seeded(keras, 107)
    tokens = keras.Input((7,), dtype="int32", name="tokens")
    e = layers.Embedding(12, 4, mask_zero=True, name="embedding")(tokens)
    e = layers.Dense(5, activation="tanh", name="dense")(e)
    p = layers.GlobalAveragePooling1D(name="pool")(e)
    out = layers.Dense(3, name="head")(p)
    model = keras.Model(tokens, out, name="masked_embedding")
    randomize(model, rng)
    ti = rng.integers(1, 12, size=(6, 7)).astype(np.int32)
    for row, length in enumerate([7, 5, 3, 1, 6, 2]):
        ti[row, length:] = 0
    ti[4, 2] = 0  # a zero inside the sequence is masked too
    save("masked_embedding", model, {"tokens": ti},
         "Embedding(mask_zero=True) -> Dense -> GlobalAveragePooling1D, which averages only the unmasked steps", h5=False)

    # An op layer calling a function Kiln does not read, for the error tests.
    ERRORS.mkdir(parents=True, exist_ok=True)
    x = keras.Input((4,), name="x")
    if version == 2:
        import tensorflow as tf
        keras.Model(x, tf.math.cumsum(x, axis=1) * 2.0, name="cumsum").save(ERRORS / "unsupported_op_layer.h5")
    else:
        from keras import ops
        model = keras.Model(x, ops.cumsum(x, axis=1) * 2.0, name="cumsum")
        model.save(ERRORS / "unsupported_op_layer.keras")
        normalize_keras_archive(ERRORS / "unsupported_op_layer.keras")


def build_only(version, group):
    """Runs one group of fixture builders in this child process (`--only GROUP`)."""
    keras, _, kv = keras_module(version)
    global KERAS
    KERAS = keras
    builders = {"op_layers": build_op_layer_fixtures, "long_graphs": build_long_graph_fixtures, "unknown_sizes": build_unknown_size_fixtures,
                "savedmodel": build_savedmodel_fixtures, "savedmodel_functional": build_savedmodel_functional_fixture,
                "savedmodel_mnist": build_savedmodel_mnist_fixture, "savedmodel_cnn": build_savedmodel_cnn_fixture,
                "savedmodel_recurrent": build_savedmodel_recurrent_fixture,
                "recurrent": build_recurrent_fixtures, "recurrent_masked": build_masked_recurrent_fixtures,
                "recurrent_digits": build_digits_sequence_fixtures, "recurrent_cells": build_rnn_cell_fixtures,
                "recurrent_cudnn": build_cudnn_fixtures,
                "recurrent_time_distributed_layers": build_time_distributed_fixtures,
                "attention": build_attention_fixtures,
                "transformer": build_transformer_fixtures, "einsum_dense": build_einsum_dense_fixtures,
                "dot_attention": build_dot_attention_fixtures, "additive_attention": build_additive_attention_fixtures,
                "attention_2d": build_attention_2d_fixtures}
    builders[group](keras, keras.layers, kv, version)
    if group == "recurrent" and version == 3:
        write_unknown_layer_error(keras, keras.layers)


def build_savedmodel_fixtures(keras, layers, kv, version):
    """TensorFlow SavedModels as Keras 2 writes them with `model.save(dir)` (saved_model.pb, keras_metadata.pb,
    variables/), in the TF Serving layout testdata/savedmodel/<name>/1/, with inputs/, expected/, weights/ and
    meta.json beside the version directory. Keras 3 writes no SavedModel from model.save, so only Keras 2 builds them.
    Draws from a generator of its own."""
    global np
    import numpy as np
    if version != 2:
        return
    rng = np.random.default_rng(151)
    seeded(keras, 151)
    mlp = keras.Sequential([
        keras.Input(shape=(4,), name="features"),
        layers.Dense(8, activation="relu", name="hidden"),
        layers.Dense(3, activation="softmax", name="scores"),
    ], name="mlp")
    randomize(mlp, rng)
    batch = rng.normal(0, 1, (5, 4)).astype(np.float32)
    write_savedmodel("mlp", mlp, {"features": batch}, kv,
                     "Dense(8, relu) -> Dense(3, softmax) saved with model.save('mlp/1') (TF Serving layout)")


def build_savedmodel_mnist_fixture(keras, layers, kv, version):
    """The TF Serving tutorial's model: the Keras MNIST MLP trained on the digits (as mnist_mlp_*), saved with
    model.save('mnist_model/1/') (without its optimizer) into testdata/savedmodel/mnist_model/. Keras 2 only; its own
    generator and seed."""
    global np
    import numpy as np
    if version != 2:
        return
    (x_train, y_train), (x_test, y_test) = digits_28x28()
    seeded(keras, 153)
    mlp = keras.Sequential([
        keras.Input(shape=(28, 28), name="input"),
        layers.Flatten(name="flatten"),
        layers.Dense(128, activation="relu", name="dense"),
        layers.Dropout(0.2, name="dropout"),
        layers.Dense(10, activation="softmax", name="dense_1"),
    ], name="mnist_mlp")
    mlp.compile(optimizer=keras.optimizers.Adam(1e-3), loss="sparse_categorical_crossentropy", metrics=["accuracy"])
    mlp.fit(x_train, y_train, epochs=20, batch_size=32, shuffle=True, verbose=0)
    accuracy = float(np.mean(np.argmax(predict(mlp, x_test)[0], axis=1) == y_test))
    write_savedmodel("mnist_model", mlp, {"input": x_test[:16]}, kv,
                     "Keras MNIST tutorial MLP trained on sklearn digits upscaled to 28x28, saved with "
                     "model.save('mnist_model/1/') as in the TF Serving tutorial",
                     {"keras_test_accuracy": round(accuracy, 4)}, include_optimizer=False, weights=False)


def build_savedmodel_cnn_fixture(keras, layers, kv, version):
    """A CNN SavedModel whose layers hold several variables each (SeparableConv2D: depthwise kernel, pointwise
    kernel, bias; BatchNormalization; LayerNormalization), in testdata/savedmodel/cnn/. Keras 2 only; a generator
    of its own."""
    global np
    import numpy as np
    if version != 2:
        return
    rng = np.random.default_rng(154)
    seeded(keras, 154)
    cnn = keras.Sequential([
        keras.Input(shape=(8, 8, 3), name="pixels"),
        layers.SeparableConv2D(6, 3, padding="same", activation="relu", name="separable"),
        layers.DepthwiseConv2D(3, depth_multiplier=2, name="depthwise"),
        layers.BatchNormalization(name="bn"),
        layers.MaxPooling2D(2, name="pool"),
        layers.Conv2D(5, 1, name="pointwise"),
        layers.GlobalAveragePooling2D(name="gap"),
        layers.LayerNormalization(name="norm"),
        layers.Dense(4, activation="softmax", name="classes"),
    ], name="cnn")
    randomize(cnn, rng)
    write_savedmodel("cnn", cnn, {"pixels": rng.normal(0, 1, (4, 8, 8, 3)).astype(np.float32)}, kv,
                     "SeparableConv2D, DepthwiseConv2D, BatchNormalization, MaxPooling2D, Conv2D, GlobalAveragePooling2D, "
                     "LayerNormalization, Dense, saved with model.save('cnn/1')", weights=False)


def build_savedmodel_recurrent_fixture(keras, layers, kv, version):
    """A recurrent SavedModel (testdata/savedmodel/recurrent/): an LSTM returning sequences into a
    Bidirectional GRU, whose variables sit one level deeper than other layers' (the layer's cell, and for
    Bidirectional its forward and backward layers). Keras 2 only; a generator of its own."""
    global np
    import numpy as np
    if version != 2:
        return
    rng = np.random.default_rng(155)
    seeded(keras, 155)
    model = keras.Sequential([
        keras.Input(shape=(6, 3), name="steps"),
        layers.LSTM(5, return_sequences=True, name="lstm"),
        layers.Bidirectional(layers.GRU(4, name="gru"), merge_mode="concat", name="bidirectional"),
        layers.Dense(2, name="head"),
    ], name="recurrent")
    randomize(model, rng)
    write_savedmodel("recurrent", model, {"steps": rng.normal(0, 1, (3, 6, 3)).astype(np.float32)}, kv,
                     "LSTM(5, return_sequences) -> Bidirectional(GRU(4)) -> Dense(2), saved with model.save('recurrent/1')",
                     weights=False)


def write_savedmodel(name, model, inputs, kv, description, extra=None, include_optimizer=True, weights=True):
    """testdata/savedmodel/<name>/: the model saved with model.save('<name>/1'), inputs/, expected/ (Keras's
    predictions, by output name), weights/<layer>.<weight>.npy (unless `weights` is false) and meta.json."""
    import numpy as np
    directory = ROOT / "savedmodel" / name
    if directory.exists():
        shutil.rmtree(directory)
    (directory / "inputs").mkdir(parents=True)
    (directory / "expected").mkdir()
    model.save(directory / "1", include_optimizer=include_optimizer)
    for key, value in inputs.items():
        np.save(directory / "inputs" / f"{key}.npy", value)
    outputs = predict(model, list(inputs.values()) if len(inputs) > 1 else next(iter(inputs.values())))
    for key, value in zip(model.output_names, outputs):
        np.save(directory / "expected" / f"{key}.npy", value.astype(np.float32))
    # Each weight as Keras holds it, weights/<layer>.<weight>.npy, to check the checkpoint reader against.
    for weight in model.weights if weights else []:
        (directory / "weights").mkdir(exist_ok=True)
        weight_name = weight.name.split(":")[0].replace("/", ".")
        np.save(directory / "weights" / f"{weight_name}.npy", weight.numpy().astype(np.float32))
    meta = {"keras": kv, "format": "savedmodel", "inputs": list(inputs), "outputs": list(model.output_names),
            "description": description}
    meta.update(extra or {})
    (directory / "meta.json").write_text(json.dumps(meta, indent=2, sort_keys=True) + "\n")
    size = sum(f.stat().st_size for f in (directory / "1").rglob("*") if f.is_file())
    print(f"  {'savedmodel/' + name + '/1':<34} {size:>9} bytes")


def build_savedmodel_functional_fixture(keras, layers, kv, version):
    """A Functional SavedModel with two inputs, two outputs, a nested Sequential model and a BatchNormalization
    (non-trainable variables), in testdata/savedmodel/functional/. Keras 2 only; a generator of its own."""
    global np
    import numpy as np
    if version != 2:
        return
    rng = np.random.default_rng(152)
    seeded(keras, 152)
    image = keras.Input(shape=(6, 6, 1), name="image")
    extra = keras.Input(shape=(3,), name="extra")
    x = layers.Conv2D(4, 3, name="conv")(image)
    x = layers.BatchNormalization(name="bn")(x)
    x = layers.ReLU(name="relu")(x)
    x = layers.Flatten(name="flatten")(x)
    joined = layers.Concatenate(name="joined")([x, extra])
    head = keras.Sequential([
        keras.Input(shape=(67,), name="head_input"),
        layers.Dense(6, activation="relu", name="head_hidden"),
        layers.Dense(4, name="head_out"),
    ], name="head")
    logits = head(joined)
    aux = layers.Dense(2, activation="sigmoid", name="aux")(extra)
    model = keras.Model([image, extra], [logits, aux], name="functional")
    randomize(model, rng)
    inputs = {"image": rng.normal(0, 1, (3, 6, 6, 1)).astype(np.float32),
              "extra": rng.normal(0, 1, (3, 3)).astype(np.float32)}
    write_savedmodel("functional", model, inputs, kv,
                     "two inputs, two outputs: Conv2D + BatchNormalization + ReLU + Flatten, Concatenate, a nested "
                     "Sequential (Dense, Dense) and a Dense, saved with model.save('functional/1')")


def build_digits_cnn_fixture(keras, layers, kv, version):
    """The digits classifier CNN for accuracy checks (quantization): trained on the same split as the MLP, long
    enough to be a real classifier (cnn_bn is a layer-coverage model and classifies poorly). Keras 3 only. Draws
    nothing from the shared generator."""
    import numpy as np
    if version != 3:
        return
    (small_train, y_train), (small_test, y_test) = digits_8x8()
    seeded(keras, 79)
    cnn = keras.Sequential([
        keras.Input(shape=(8, 8, 1), name="input"),
        layers.Conv2D(8, 3, padding="same", name="conv"),
        layers.BatchNormalization(name="bn"),
        layers.ReLU(name="relu"),
        layers.MaxPooling2D(2, name="pool"),
        layers.Conv2D(16, 3, padding="same", activation="relu", name="conv_1"),
        layers.Flatten(name="flatten"),
        layers.Dense(10, activation="softmax", name="dense"),
    ], name="digits_cnn")
    cnn.compile(optimizer=keras.optimizers.Adam(3e-3), loss="sparse_categorical_crossentropy")
    cnn.fit(small_train, y_train, epochs=30, batch_size=32, verbose=0)
    accuracy = float(np.mean(np.argmax(predict(cnn, small_test)[0], axis=1) == y_test))
    batch = small_test[:16].astype(np.float32)
    write_fixture("digits_cnn_keras3_keras", cnn, lambda d: save_keras(cnn, d), {"input": batch},
                  {"dense": predict(cnn, batch)[0]}, kv,
                  "digits classifier: Conv2D + BatchNormalization + ReLU + MaxPooling2D + Conv2D + Flatten + Dense, "
                  "trained on 8x8 digits", {"keras_test_accuracy": round(accuracy, 4)})


def without_optimizer(model):
    """An uncompiled copy with the same weights, so the files hold no optimizer state."""
    clone = KERAS.models.clone_model(model)
    clone.set_weights(model.get_weights())
    clone.optimizer = None
    return clone


def randomize(model, rng, scale=0.5):
    """Random weights (and positive variances for BatchNormalization), so untrained models test real values."""
    for layer in model.layers:
        weights = layer.get_weights()
        if not weights:
            continue
        if type(layer).__name__ == "BatchNormalization":
            weights = [rng.uniform(0.5, 1.5, w.shape).astype(np.float32) if i in (0, 3) else
                       rng.normal(0, 0.3, w.shape).astype(np.float32) for i, w in enumerate(weights)]
        else:
            weights = [rng.normal(0, scale, w.shape).astype(np.float32) for w in weights]
        layer.set_weights(weights)


def save_both(name, model, inputs, outputs, kv, description, version, keras3_h5=True):
    """Keras 2: .h5. Keras 3: .h5 (unless `keras3_h5` is false) and .keras."""
    tag = "keras2" if version == 2 else "keras3"
    if version == 2 or keras3_h5:
        write_fixture(f"{name}_{tag}_h5", model, lambda d: save_h5(model, d), inputs, outputs, kv, description)
    if version == 3:
        write_fixture(f"{name}_{tag}_keras", model, lambda d: save_keras(model, d), inputs, outputs, kv, description)


def build_cnn_fixtures(keras, layers, tag, kv, rng, version):
    global np
    import numpy as np

    # A small CNN with BatchNormalization, trained on the 8x8 digits.
    (small_train, y_train), (small_test, _) = digits_8x8()
    seeded(keras, 23)
    cnn = keras.Sequential([
        keras.Input(shape=(8, 8, 1), name="input"),
        layers.Conv2D(8, 3, padding="same", name="conv"),
        layers.BatchNormalization(name="bn"),
        layers.ReLU(name="relu"),
        layers.MaxPooling2D(2, name="pool"),
        layers.Conv2D(16, 3, padding="same", activation="relu", name="conv_1"),
        layers.BatchNormalization(name="bn_1"),
        layers.GlobalAveragePooling2D(name="gap"),
        layers.Dropout(0.1, name="dropout"),
        layers.Dense(10, activation="softmax", name="dense"),
    ], name="digits_cnn")
    cnn.compile(optimizer=keras.optimizers.Adam(3e-3), loss="sparse_categorical_crossentropy")
    cnn.fit(small_train, y_train, epochs=6, batch_size=64, verbose=0)
    batch = small_test[:16].astype(np.float32)
    save_both("cnn_bn", cnn, {"input": batch}, {"dense": predict(cnn, batch)[0]}, kv,
              "Conv2D + BatchNormalization + ReLU + MaxPooling2D + GlobalAveragePooling2D, trained on 8x8 digits", version)

    # A mobile-style block: depthwise and separable convolutions, ReLU6, a residual Add.
    seeded(keras, 29)
    inp = keras.Input(shape=(10, 10, 4), name="input")
    h = layers.DepthwiseConv2D(3, padding="same", depth_multiplier=2, name="depthwise")(inp)
    h = layers.BatchNormalization(name="bn")(h)
    h = layers.ReLU(max_value=6.0, name="relu6")(h)
    h = layers.Conv2D(4, 1, name="project")(h)
    h = layers.Add(name="residual")([inp, h])
    h = layers.SeparableConv2D(6, 3, strides=2, padding="same", activation="relu", name="separable")(h)
    h = layers.ZeroPadding2D(((1, 0), (0, 1)), name="zero_pad")(h)
    h = layers.AveragePooling2D(2, strides=1, padding="same", name="avg_pool")(h)
    out = layers.GlobalMaxPooling2D(name="gmp")(h)
    block = keras.Model(inp, out, name="mobile_block")
    randomize(block, rng)
    x = rng.normal(0, 1, size=(8, 10, 10, 4)).astype(np.float32)
    save_both("mobile_block", block, {"input": x}, {"gmp": predict(block, x)[0]}, kv,
              "DepthwiseConv2D, BatchNormalization, ReLU(max_value=6), residual Add, SeparableConv2D, ZeroPadding2D", version)

    # Two inputs, two outputs, merges and 1-D convolutions.
    seeded(keras, 31)
    seq = keras.Input(shape=(12, 3), name="sequence")
    feats = keras.Input(shape=(5,), name="features")
    a = layers.Conv1D(6, 3, padding="causal", dilation_rate=2, name="causal")(seq)
    b = layers.Conv1D(6, 3, padding="same", use_bias=False, name="same")(seq)
    m = layers.Maximum(name="maximum")([a, b])
    n = layers.Minimum(name="minimum")([a, b])
    avg = layers.Average(name="average")([m, n])
    sub = layers.Subtract(name="subtract")([m, n])
    mul = layers.Multiply(name="multiply")([avg, sub])
    c = layers.Concatenate(axis=-1, name="concat")([mul, a])
    c = layers.Conv1D(4, 2, strides=2, groups=2, name="grouped")(c)
    c = layers.LeakyReLU(name="leaky")(c)
    c = layers.MaxPooling1D(2, padding="same", name="pool")(c)
    c = layers.Reshape((12,), name="reshape")(c)
    f = layers.Rescaling(0.5, offset=-1.0, name="rescale")(feats)
    f = layers.Dense(12, name="dense_f")(f)
    f = layers.ELU(name="elu")(f)
    joined = layers.Add(name="add")([c, f])
    out_a = layers.Dense(3, activation="softmax", name="class")(joined)
    p = layers.Permute((2, 1), name="permute")(a)
    out_b = layers.GlobalAveragePooling1D(name="gap")(p)
    two = keras.Model([seq, feats], [out_a, out_b], name="two_in_two_out")
    randomize(two, rng)
    xs = rng.normal(0, 1, size=(8, 12, 3)).astype(np.float32)
    xf = rng.normal(0, 1, size=(8, 5)).astype(np.float32)
    oa, ob = predict(two, [xs, xf])
    save_both("two_in_two_out", two, {"sequence": xs, "features": xf}, {"class": oa, "gap": ob}, kv,
              "two inputs, two outputs: Conv1D (causal, dilated, grouped), merges, Concatenate, Reshape, Permute, Rescaling", version)


def build_nested_fixture(keras, layers, kv, rng, version):
    """A Sequential block used twice inside a Functional model, and a Functional sub-model."""
    import numpy as np
    seeded(keras, 37)
    block = keras.Sequential([keras.Input((6,), name="block_input"), layers.Dense(5, activation="tanh", name="inner_a"),
                              layers.Dense(6, name="inner_b")], name="block")
    sub_in = keras.Input((6,), name="sub_input")
    sub_out = layers.Dense(4, activation="relu", name="inner_c")(sub_in)
    sub = keras.Model(sub_in, sub_out, name="sub")
    inp = keras.Input((6,), name="input")
    h = block(inp)
    h = block(h)
    out = layers.Dense(3, activation="softmax", name="head")(sub(h))
    model = keras.Model(inp, out, name="nested")
    randomize(model, rng)
    x = rng.normal(0, 1, size=(8, 6)).astype(np.float32)
    save_both("nested", model, {"input": x}, {"head": predict(model, x)[0]}, kv,
              "a Sequential block called twice and a Functional sub-model inside a Functional model", version)


def build_norm_fixture(keras, layers, kv, rng, version):
    """Normalization (adapted), LayerNormalization over one and two axes, PReLU, RepeatVector, Dot."""
    import numpy as np
    seeded(keras, 41)
    data = rng.normal(2, 3, size=(64, 4, 6)).astype(np.float32)
    norm = layers.Normalization(axis=-1, name="normalization")
    norm.adapt(data)
    inp = keras.Input((4, 6), name="input")
    h = norm(inp)
    h = layers.LayerNormalization(axis=-1, name="layer_norm")(h)
    h = layers.PReLU(shared_axes=[1], name="prelu")(h)
    h = layers.LayerNormalization(axis=[1, 2], center=False, epsilon=1e-5, name="layer_norm_2d")(h)
    if version == 3:
        h = layers.LayerNormalization(axis=-1, rms_scaling=True, name="rms_norm")(h)
    else:
        h = layers.ThresholdedReLU(theta=0.1, name="thresholded")(h)
    f = layers.Flatten(name="flatten")(h)
    d = layers.Dense(8, name="dense")(f)
    if version == 3:
        d = layers.UnitNormalization(name="unit_norm")(d)
    r = layers.RepeatVector(3, name="repeat")(d)
    r = layers.Flatten(name="flatten_2")(r)
    out = layers.Dense(4, name="out")(r)
    a = layers.Dense(5, name="branch_a")(f)
    b = layers.Dense(5, name="branch_b")(f)
    cosine = layers.Dot(axes=1, normalize=True, name="cosine")([a, b])
    model = keras.Model(inp, [out, cosine], name="norms")
    for layer in model.layers:
        if layer.name in ("normalization",):
            continue
        weights = layer.get_weights()
        if weights:
            layer.set_weights([rng.normal(0.5, 0.5, w.shape).astype(np.float32) for w in weights])
    x = rng.normal(2, 3, size=(8, 4, 6)).astype(np.float32)
    o1, o2 = predict(model, x)
    save_both("norms", model, {"input": x}, {"out": o1, "cosine": o2}, kv,
              "Normalization, LayerNormalization (1 and 2 axes, rms_scaling in Keras 3), PReLU, ThresholdedReLU (Keras 2), "
              "UnitNormalization (Keras 3), RepeatVector, Dot(normalize=True)", version)


def build_more_fixture(keras, layers, kv, rng, version):
    """3-D and 1-D variants and the inference-time identities."""
    import numpy as np
    seeded(keras, 43)
    vol = keras.Input((5, 6, 6, 2), name="volume")
    v = layers.ZeroPadding3D(1, name="pad3d")(vol)
    v = layers.Conv3D(3, 3, strides=(1, 2, 2), name="conv3d")(v)
    v = layers.SpatialDropout3D(0.2, name="spatial_dropout3d")(v)
    v = layers.MaxPooling3D(2, padding="same", name="max_pool3d")(v)
    v = layers.AveragePooling3D((1, 2, 2), name="avg_pool3d")(v)
    v = layers.GlobalAveragePooling3D(name="gap3d")(v)
    seq = keras.Input((10, 4), name="sequence")
    s = layers.ZeroPadding1D((2, 1), name="pad1d")(seq)
    s = layers.DepthwiseConv1D(3, depth_multiplier=2, name="depthwise1d")(s)
    s = layers.GaussianNoise(0.5, name="noise")(s)
    s = layers.SeparableConv1D(5, 3, padding="same", activation="elu", name="separable1d")(s)
    s = layers.GaussianDropout(0.3, name="gaussian_dropout")(s)
    s = layers.AveragePooling1D(3, strides=2, padding="same", name="avg_pool1d")(s)
    s = layers.AlphaDropout(0.1, name="alpha_dropout")(s)
    s = layers.SpatialDropout1D(0.1, name="spatial_dropout1d")(s)
    s = layers.GlobalMaxPooling1D(name="gmp1d")(s)
    s = layers.ActivityRegularization(l1=0.01, name="activity")(s)
    model = keras.Model([vol, seq], [v, s], name="more_layers")
    randomize(model, rng)
    xv = rng.normal(0, 1, size=(4, 5, 6, 6, 2)).astype(np.float32)
    xs = rng.normal(0, 1, size=(4, 10, 4)).astype(np.float32)
    ov, os_ = predict(model, [xv, xs])
    save_both("more_layers", model, {"volume": xv, "sequence": xs}, {"gap3d": ov, "activity": os_}, kv,
              "Conv3D, pooling 1D/3D, ZeroPadding 1D/3D, DepthwiseConv1D, SeparableConv1D, noise and dropout identities", version)


def build_resample_fixture(keras, layers, kv, rng, version):
    """UpSampling (nearest) and Cropping in 1, 2 and 3 dimensions."""
    import numpy as np
    seeded(keras, 47)
    image = keras.Input((5, 6, 3), name="image")
    i = layers.UpSampling2D((2, 3), name="up2d")(image)
    i = layers.Cropping2D(((1, 2), (3, 0)), name="crop2d")(i)
    i = layers.Conv2D(4, 3, strides=2, name="conv")(i)
    seq = keras.Input((7, 2), name="sequence")
    s = layers.UpSampling1D(3, name="up1d")(seq)
    s = layers.Cropping1D((2, 1), name="crop1d")(s)
    vol = keras.Input((3, 4, 4, 2), name="volume")
    v = layers.UpSampling3D((1, 2, 1), name="up3d")(vol)
    v = layers.Cropping3D(((0, 1), (1, 1), (0, 2)), name="crop3d")(v)
    model = keras.Model([image, seq, vol], [i, s, v], name="resample")
    randomize(model, rng)
    xi = rng.normal(0, 1, size=(3, 5, 6, 3)).astype(np.float32)
    xs = rng.normal(0, 1, size=(3, 7, 2)).astype(np.float32)
    xv = rng.normal(0, 1, size=(3, 3, 4, 4, 2)).astype(np.float32)
    oi, os_, ov = predict(model, [xi, xs, xv])
    save_both("resample", model, {"image": xi, "sequence": xs, "volume": xv}, {"conv": oi, "crop1d": os_, "crop3d": ov}, kv,
              "UpSampling1D/2D/3D (nearest) and Cropping1D/2D/3D", version)


def build_group_norm_fixture(keras, layers, kv, rng, version):
    """GroupNormalization over images and sequences."""
    import numpy as np
    if not hasattr(layers, "GroupNormalization"):
        print(f"  (Keras {version} has no GroupNormalization)")
        return
    seeded(keras, 53)
    image = keras.Input((5, 4, 6), name="image")
    i = layers.GroupNormalization(groups=3, name="group_norm")(image)
    i = layers.Conv2D(4, 1, name="conv")(i)
    i = layers.GroupNormalization(groups=2, center=False, epsilon=1e-5, name="group_norm_2")(i)
    model = keras.Model(image, i, name="group_norms")
    randomize(model, rng)
    x = rng.normal(1, 2, size=(4, 5, 4, 6)).astype(np.float32)
    save_both("group_norm", model, {"image": x}, {"group_norm_2": predict(model, x)[0]}, kv, "GroupNormalization", version)


def build_transpose_fixture(keras, layers, kv, rng, version):
    """Transposed convolutions: valid and same, strides, output_padding, dilation, with and without bias."""
    import numpy as np
    seeded(keras, 59)
    image = keras.Input((4, 5, 3), name="image")
    i = layers.Conv2DTranspose(4, 3, strides=2, padding="same", name="up_same")(image)
    i = layers.Conv2DTranspose(3, (2, 3), strides=(2, 1), padding="valid", activation="relu", name="up_valid")(i)
    i = layers.Conv2DTranspose(2, 3, strides=2, padding="same", output_padding=1, use_bias=False, name="up_out_pad")(i)
    # TensorFlow's CPU kernels run dilated transposed convolutions only through tf_keras (Keras 2).
    if version == 2:
        j = layers.Conv2DTranspose(2, 3, dilation_rate=2, padding="same", name="dilated")(image)
    else:
        j = layers.Conv2DTranspose(2, 3, padding="same", name="dilated")(image)
    seq = keras.Input((6, 2), name="sequence")
    s = layers.Conv1DTranspose(3, 4, strides=3, padding="valid", name="up1d")(seq)
    # Keras 3.12 drops Conv1DTranspose's output_padding from the saved config (a model it reloads computes a
    # shorter output than the one it saved), so only the Keras 2 fixture uses it.
    s = layers.Conv1DTranspose(2, 3, strides=2, padding="valid", output_padding=1 if version == 2 else None, name="up1d_pad")(s)
    vol = keras.Input((2, 3, 3, 2), name="volume")
    v = layers.Conv3DTranspose(2, 2, strides=2, padding="same", name="up3d")(vol)
    model = keras.Model([image, seq, vol], [i, j, s, v], name="transposed")
    randomize(model, rng)
    xi = rng.normal(0, 1, size=(2, 4, 5, 3)).astype(np.float32)
    xs = rng.normal(0, 1, size=(2, 6, 2)).astype(np.float32)
    xv = rng.normal(0, 1, size=(2, 2, 3, 3, 2)).astype(np.float32)
    oi, oj, os_, ov = predict(model, [xi, xs, xv])
    save_both("conv_transpose", model, {"image": xi, "sequence": xs, "volume": xv},
              {"up_out_pad": oi, "dilated": oj, "up1d_pad": os_, "up3d": ov}, kv,
              "Conv1DTranspose, Conv2DTranspose, Conv3DTranspose (valid, same, strides, output_padding, dilation)", version)


def build_relu_dot_fixture(keras, layers, kv, rng, version):
    """ReLU with every combination of max_value, negative_slope and threshold; Dot on rank-3 inputs."""
    import numpy as np
    seeded(keras, 61)
    a = keras.Input((5, 6), name="a")
    b = keras.Input((4, 6), name="b")
    v = keras.Input((6,), name="v")
    r1 = layers.ReLU(max_value=1.5, negative_slope=0.1, threshold=0.4, name="relu_all")(a)
    r2 = layers.ReLU(threshold=0.3, name="relu_threshold")(b)
    r3 = layers.ReLU(negative_slope=0.2, threshold=0.25, name="relu_slope_threshold")(a)
    r4 = layers.ReLU(max_value=2.0, threshold=0.5, name="relu_max_threshold")(b)
    r5 = layers.ReLU(max_value=6.0, negative_slope=0.05, name="relu_max_slope")(a)
    d1 = layers.Dot(axes=(2, 2), name="dot_22")([r1, r2])
    d2 = layers.Dot(axes=(1, 1), normalize=True, name="dot_11_cosine")([a, r3])
    d3 = layers.Dot(axes=(2, 1), name="dot_21")([r5, layers.Permute((2, 1), name="permute")(r4)])
    d4 = layers.Dot(axes=(1, 2), name="dot_vector")([v, a])
    model = keras.Model([a, b, v], [d1, d2, d3, d4], name="relu_dot")
    xa = rng.normal(0, 1, size=(3, 5, 6)).astype(np.float32)
    xb = rng.normal(0, 1, size=(3, 4, 6)).astype(np.float32)
    xv = rng.normal(0, 1, size=(3, 6)).astype(np.float32)
    o1, o2, o3, o4 = predict(model, [xa, xb, xv])
    save_both("relu_dot", model, {"a": xa, "b": xb, "v": xv},
              {"dot_22": o1, "dot_11_cosine": o2, "dot_21": o3, "dot_vector": o4}, kv,
              "ReLU (max_value, negative_slope, threshold combinations), Dot on rank 3 (axes, normalize), Permute", version)


def build_bilinear_fixture(keras, layers, kv, rng, version):
    """UpSampling2D with bilinear interpolation."""
    import numpy as np
    seeded(keras, 67)
    image = keras.Input((5, 4, 3), name="image")
    up = layers.UpSampling2D((2, 3), interpolation="bilinear", name="up_bilinear")(image)
    conv = layers.Conv2D(2, 3, name="conv")(up)
    up2 = layers.UpSampling2D(2, interpolation="bilinear", name="up_bilinear_2")(conv)
    model = keras.Model(image, [up, up2], name="bilinear")
    randomize(model, rng)
    x = rng.normal(0, 1, size=(2, 5, 4, 3)).astype(np.float32)
    o1, o2 = predict(model, x)
    save_both("bilinear", model, {"image": x}, {"up_bilinear": o1, "up_bilinear_2": o2}, kv,
              "UpSampling2D(interpolation='bilinear')", version)


def build_embedding_fixture(keras, layers, kv, rng, version):
    """Embedding on int32 indices and on float indices (cast to int32 by Keras)."""
    import numpy as np
    seeded(keras, 71)
    tokens = keras.Input((7,), dtype="int32", name="tokens")
    e = layers.Embedding(20, 4, name="embedding")(tokens)
    e = layers.Conv1D(3, 2, activation="relu", name="conv")(e)
    e = layers.GlobalAveragePooling1D(name="pool")(e)
    e = layers.Dense(2, name="dense")(e)
    codes = keras.Input((5,), name="codes")
    c = layers.Embedding(10, 3, name="code_embedding")(codes)
    c = layers.Flatten(name="flatten")(c)
    model = keras.Model([tokens, codes], [e, c], name="embedding")
    randomize(model, rng)
    xt = rng.integers(0, 20, size=(4, 7)).astype(np.int32)
    # Whole and fractional float indices: Keras truncates them toward zero.
    xc = (rng.integers(0, 10, size=(4, 5)) + rng.choice([0.0, 0.5, 0.9], size=(4, 5))).astype(np.float32)
    xc = np.minimum(xc, 9.5).astype(np.float32)
    oe, oc = predict(model, [xt, xc])
    save_both("embedding", model, {"tokens": xt, "codes": xc}, {"dense": oe, "flatten": oc}, kv,
              "Embedding on int32 indices and on float indices", version)


def build_channels_first_fixture(keras, layers, kv, rng, version):
    """channels_first layers. TensorFlow's CPU kernels run convolution and pooling only channels_last, so
    Keras cannot evaluate this model here; its outputs come from the same layers built channels_last with
    the same weights, on transposed inputs, with spatial outputs transposed back."""
    import numpy as np

    def build(data_format):
        first = data_format == "channels_first"
        kw = {"data_format": data_format}
        image = keras.Input((3, 8, 8) if first else (8, 8, 3), name="image")
        h = layers.Conv2D(4, 3, padding="same", name="conv", **kw)(image)
        h = layers.BatchNormalization(axis=1 if first else -1, name="bn")(h)
        h = layers.ReLU(name="relu")(h)
        h = layers.MaxPooling2D(2, name="pool", **kw)(h)
        h = layers.ZeroPadding2D(1, name="pad", **kw)(h)
        h = layers.DepthwiseConv2D(3, depth_multiplier=2, name="depthwise", **kw)(h)
        h = layers.UpSampling2D(2, name="up", **kw)(h)
        h = layers.Cropping2D(((1, 0), (0, 2)), name="crop", **kw)(h)
        h = layers.AveragePooling2D(2, padding="same", name="avg", **kw)(h)
        flat = layers.Flatten(name="flatten", **kw)(h)
        dense = layers.Dense(3, name="dense")(flat)
        gap = layers.GlobalAveragePooling2D(name="gap", **kw)(h)
        sequence = keras.Input((4, 10) if first else (10, 4), name="sequence")
        s = layers.Conv1D(3, 3, strides=2, name="conv1d", **kw)(sequence)
        s = layers.GlobalMaxPooling1D(name="gmp", **kw)(s)
        return keras.Model([image, sequence], [h, dense, gap, s], name="channels_first")

    seeded(keras, 73)
    model = build("channels_first")
    randomize(model, rng)
    twin = build("channels_last")
    twin.set_weights(model.get_weights())
    xi = rng.normal(0, 1, size=(2, 3, 8, 8)).astype(np.float32)
    xs = rng.normal(0, 1, size=(2, 4, 10)).astype(np.float32)
    h, dense, gap, s = predict(twin, [xi.transpose(0, 2, 3, 1), xs.transpose(0, 2, 1)])
    save_both("channels_first", model, {"image": xi, "sequence": xs},
              {"avg": h.transpose(0, 3, 1, 2), "dense": dense, "gap": gap, "gmp": s}, kv,
              "channels_first Conv1D/2D, DepthwiseConv2D, pooling, padding, cropping, upsampling, Flatten, BatchNormalization(axis=1) "
              "(outputs from the channels_last twin with the same weights)", version)


def flat_outputs(model, x):
    """The model's outputs on x, flattened in Keras's order (nested lists of outputs are allowed)."""
    def flatten(value):
        if isinstance(value, (list, tuple)):
            return [leaf for item in value for leaf in flatten(item)]
        return [value.numpy()]
    return flatten(model(x, training=False))


def build_nested_outputs_fixture(keras, layers, kv, rng, version):
    """Outputs given as nested lists (outputs=[[a, [b]], c]), a layer called with a keyword argument
    (`training=False`, written as [layer, node, tensor, {kwargs}] by Keras 2 and as kwargs by Keras 3), and an
    output produced by a nested model (named after it, though Keras numbers its call 1)."""
    import numpy as np
    seeded(keras, 83)
    inner_input = keras.Input((6,), name="inner_input")
    inner = keras.Model(inner_input, layers.Dense(3, activation="tanh", name="inner_dense")(inner_input), name="inner")
    inp = keras.Input((6,), name="input")
    a = layers.Dense(4, activation="relu", name="a")(inp)
    b = layers.Dense(5, name="b")(a)
    b = layers.Dropout(0.3, name="dropout")(b, training=False)
    c = inner(inp)
    model = keras.Model(inp, [[a, [b]], c], name="nested_outputs")
    randomize(model, rng)
    x = rng.normal(0, 1, size=(5, 6)).astype(np.float32)
    outputs = dict(zip(model.output_names, flat_outputs(model, x)))
    save_both("nested_outputs", model, {"input": x}, outputs, kv,
              "outputs as nested lists [[a, [b]], c], a call with training=False, an output made by a nested model", version)


def build_multi_axis_fixture(keras, layers, kv, rng, version):
    """Softmax over several axes, BatchNormalization over several axes (Keras 2 only: Keras 3 takes one axis),
    LayerNormalization over a non-trailing axis and without scale."""
    import numpy as np
    seeded(keras, 89)
    image = keras.Input((3, 4, 5), name="image")
    h = layers.Conv2D(6, 1, name="conv")(image)
    if version == 2:
        h = layers.BatchNormalization(axis=[1, 3], epsilon=1e-3, name="bn_multi")(h)
    h = layers.Softmax(axis=[1, 2], name="softmax_multi")(h)
    sequence = keras.Input((7, 4), name="sequence")
    s = layers.LayerNormalization(axis=1, name="layer_norm_axis1")(sequence)
    s = layers.LayerNormalization(axis=-1, scale=False, name="layer_norm_no_scale")(s)
    s = layers.Softmax(axis=[-2, -1], name="softmax_all")(s)
    model = keras.Model([image, sequence], [h, s], name="multi_axis")
    randomize(model, rng)
    xi = rng.normal(0, 2, size=(4, 3, 4, 5)).astype(np.float32)
    xs = rng.normal(1, 2, size=(4, 7, 4)).astype(np.float32)
    oi, os_ = flat_outputs(model, [xi, xs])
    save_both("multi_axis", model, {"image": xi, "sequence": xs}, {"softmax_multi": oi, "softmax_all": os_}, kv,
              "Softmax over several axes, BatchNormalization(axis=[1, 3]) (Keras 2), LayerNormalization over axis 1 and "
              "without scale", version)


def build_json_weights_fixture(keras, layers, kv, rng, version):
    """An architecture JSON (model.to_json()) with the weights model.save_weights() writes: Keras 2's HDF5
    (layer_names at the root) or Keras 3's .weights.h5. Keras 2: a Sequential; Keras 3: a Functional model with
    a nested Sequential."""
    import numpy as np
    seeded(keras, 97)
    if version == 2:
        model = keras.Sequential([
            keras.Input((6, 6, 2), name="input"),
            layers.Conv2D(4, 3, activation="relu", name="conv"),
            layers.BatchNormalization(name="bn"),
            layers.Flatten(name="flatten"),
            layers.Dense(3, activation="softmax", name="dense"),
        ], name="json_sequential")
        weights_file = "model_weights.h5"
    else:
        head = keras.Sequential([keras.Input((16,), name="head_input"), layers.Dense(5, activation="relu", name="head_dense"),
                                 layers.Dense(3, activation="softmax", name="head_out")], name="head")
        inp = keras.Input((6, 6, 2), name="input")
        h = layers.Conv2D(4, 3, activation="relu", name="conv")(inp)
        h = layers.BatchNormalization(name="bn")(h)
        h = layers.Flatten(name="flatten")(h)
        h = layers.Dense(16, name="dense")(h)
        model = keras.Model(inp, head(h), name="json_functional")
        weights_file = "model.weights.h5"
    randomize(model, rng)
    x = rng.normal(0, 1, size=(4, 6, 6, 2)).astype(np.float32)
    outputs = dict(zip(model.output_names, flat_outputs(model, x)))

    def save(directory):
        path = directory / "model.json"
        path.write_text(json.dumps(json.loads(model.to_json()), indent=2, sort_keys=True) + "\n")
        model.save_weights(directory / weights_file)
        return path

    tag = "keras2" if version == 2 else "keras3"
    write_fixture(f"json_weights_{tag}_json", model, save, {"input": x}, outputs, kv,
                  f"architecture JSON (model.to_json()) with {weights_file} (model.save_weights())", {"weights": weights_file})


def build_fixed_strings_fixtures(version):
    """Copies of .h5 fixtures with their string attributes rewritten as fixed-length, null-padded HDF5 strings,
    as Keras 2.0-2.3 and tf.keras up to 2.4 wrote them: the longest name fills its field with no terminating
    null. Draws nothing from the shared generator."""
    import h5py
    import numpy as np
    tag = "keras2" if version == 2 else "keras3"
    for source in ["nested", "cnn_bn"]:
        original = FIXTURES / f"{source}_{tag}_h5"
        name = f"fixed_strings_{source}_{tag}_h5"
        directory = FIXTURES / name
        if directory.exists():
            shutil.rmtree(directory)
        shutil.copytree(original, directory)
        path = directory / "model.h5"
        with h5py.File(path, "r+") as f:
            # Scalars (model_config, keras_version, backend) as fixed-length bytes of their exact length.
            for group in (f, f["model_weights"]):
                for key in ("model_config", "keras_version", "backend"):
                    if key in group.attrs:
                        value = group.attrs[key]
                        group.attrs[key] = np.bytes_(value if isinstance(value, bytes) else value.encode("utf8"))
            weights = f["model_weights"]
            layer_names = [n.decode("utf8") if isinstance(n, bytes) else n for n in weights.attrs["layer_names"]]
            weights.attrs["layer_names"] = np.array([n.encode("utf8") for n in layer_names])
            for layer in layer_names:
                names = weights[layer].attrs["weight_names"]
                if len(names):
                    weights[layer].attrs["weight_names"] = np.array(
                        [n if isinstance(n, bytes) else n.encode("utf8") for n in names])
        meta = json.loads((directory / "meta.json").read_text())
        meta["description"] = f"{source}_{tag}_h5 with fixed-length null-padded string attributes (Keras <= 2.3): " + meta["description"]
        (directory / "meta.json").write_text(json.dumps(meta, indent=2, sort_keys=True) + "\n")
        print(f"  {name:<34} {path.name:<12} {path.stat().st_size:>9} bytes")


def write_hdf5_strings():
    """testdata/hdf5/strings.h5: the same strings in every storage kind HDF5 has, as root attributes and as
    datasets in /datasets: fixed-length null-padded, null-terminated and space-padded ASCII, fixed-length
    null-padded UTF-8 (the longest entry of each fills its field), variable-length ASCII and UTF-8, and
    scalars; plus a 2-D fixed-length dataset and a float one. Made with h5py's low-level API where the
    high-level one cannot choose the padding; no timestamps, so a second run writes the same bytes."""
    import h5py
    import numpy as np
    from h5py import h5a, h5d, h5p, h5s, h5t

    def fixed(size, padding, cset=h5t.CSET_ASCII):
        string = h5t.C_S1.copy()
        string.set_size(size)
        string.set_strpad(padding)
        string.set_cset(cset)
        return string

    def write_fixed(location, name, values, string, dataset, scalar=False):
        data = np.array(values, dtype=f"S{string.get_size()}")
        space = h5s.create(h5s.SCALAR) if scalar else h5s.create_simple((len(values),))
        if scalar:
            data = data.reshape(())
        # NumPy holds the strings null-padded; HDF5 converts them to the file's padding as it writes.
        memory = fixed(string.get_size(), h5t.STR_NULLPAD, string.get_cset())
        if dataset:
            creation = h5p.create(h5p.DATASET_CREATE)
            creation.set_obj_track_times(False)
            h5d.create(location, name.encode(), string, space, dcpl=creation).write(h5s.ALL, h5s.ALL, data, mtype=memory)
        else:
            h5a.create(location, name.encode(), string, space).write(data, mtype=memory)

    names = ["kernel:0", "bias:0", "dense_1/kernel:0"]
    text = ["naïve", "日本語", "x"]
    HDF5.mkdir(parents=True, exist_ok=True)
    with h5py.File(HDF5 / "strings.h5", "w") as f:
        datasets = f.create_group("datasets")
        for location, dataset in [(f.id, False), (datasets.id, True)]:
            write_fixed(location, "null_padded", [n.encode() for n in names], fixed(16, h5t.STR_NULLPAD), dataset)
            write_fixed(location, "null_terminated", [n.encode() for n in names], fixed(17, h5t.STR_NULLTERM), dataset)
            write_fixed(location, "space_padded", [b"a b", b"kernel:0", b"dense_1/kernel:0"], fixed(16, h5t.STR_SPACEPAD), dataset)
            write_fixed(location, "utf8_fixed", [t.encode() for t in text], fixed(9, h5t.STR_NULLPAD, h5t.CSET_UTF8), dataset)
            write_fixed(location, "scalar_fixed", [b"tensorflow"], fixed(10, h5t.STR_NULLPAD), dataset, scalar=True)
        for create in (lambda n, d, t: f.attrs.create(n, d, dtype=t),
                       lambda n, d, t: datasets.create_dataset(n, data=d, dtype=t, track_times=False)):
            create("variable_ascii", np.array(names, dtype=object), h5py.string_dtype("ascii"))
            create("variable_utf8", np.array(text, dtype=object), h5py.string_dtype("utf-8"))
            create("scalar_variable", "2.3.1", h5py.string_dtype("utf-8"))
        datasets.create_dataset("grid", data=np.array([[b"a", b"bc"], [b"def", b"g"]]), track_times=False)
        datasets.create_dataset("floats", data=np.zeros(3, np.float32), track_times=False)
    print(f"  {'hdf5/strings.h5':<47} {(HDF5 / 'strings.h5').stat().st_size:>9} bytes")


def save_h5(model, directory):
    path = directory / "model.h5"
    without_optimizer(model).save(path, include_optimizer=False)
    return path


def save_keras(model, directory):
    path = directory / "model.keras"
    without_optimizer(model).save(path)
    normalize_keras_archive(path)
    return path


def normalize_keras_archive(path):
    """Keras stamps the save time into metadata.json ("date_saved") and into the zip entry of model.weights.h5.
    Fix both, so that running the generator again writes byte-identical .keras files. Members keep their order,
    names, compression (stored) and attributes."""
    import zipfile
    with zipfile.ZipFile(path) as archive:
        members = [(info, archive.read(info.filename)) for info in archive.infolist()]
    with zipfile.ZipFile(path, "w") as archive:
        for info, data in members:
            if info.filename == "metadata.json":
                metadata = json.loads(data)
                metadata["date_saved"] = "1980-01-01@00:00:00"
                data = json.dumps(metadata).encode()
            fixed = zipfile.ZipInfo(info.filename, date_time=(1980, 1, 1, 0, 0, 0))
            fixed.compress_type = info.compress_type
            fixed.create_system = info.create_system
            fixed.external_attr = info.external_attr
            archive.writestr(fixed, data)


def main():
    if len(sys.argv) == 3 and sys.argv[1] == "--keras":
        build_fixtures(int(sys.argv[2]))
        return
    if len(sys.argv) == 5 and sys.argv[1] == "--keras" and sys.argv[3] == "--only":
        build_only(int(sys.argv[2]), sys.argv[4])
        return
    # `--only op_layers` writes just that group's fixtures (new fixtures can be added without rewriting the others,
    # which TensorFlow on another machine may reproduce only to the last bit).
    only = sys.argv[2:3] if len(sys.argv) == 3 and sys.argv[1] == "--only" else []
    FIXTURES.mkdir(parents=True, exist_ok=True)
    for version in (2, 3):
        print(f"Keras {version}:")
        subprocess.run([sys.executable, __file__, "--keras", str(version)] + (["--only"] + only if only else []), check=True)


if __name__ == "__main__":
    main()
