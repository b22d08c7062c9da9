#!/usr/bin/env bash
# Sets up Kiln and runs its main job on the bundled Keras MNIST MLP: convert it to ONNX and Swift, check
# the generated Swift against the reference interpreter and Keras's own outputs, and check the ONNX model
# in ONNX Runtime; then the same for the tutorial MLP saved as a TF Serving SavedModel
# (model.save('mnist_model/1/')), read from its base path.
set -euo pipefail
cd "$(dirname "$0")/.."
scripts/setup.sh
venv="${KILN_VENV:-$HOME/.cache/kiln-venv}"
swift build -c release --product kiln
kiln=.build/release/kiln
fixture=testdata/fixtures/mnist_mlp_keras3_h5
out="${1:-out/mnist_mlp}"

echo "== kiln inspect $fixture/model.h5"
$kiln inspect "$fixture/model.h5"
echo
echo "== kiln convert $fixture/model.h5 -o $out --emit onnx,swift,kir"
$kiln convert "$fixture/model.h5" -o "$out" --name mnist_mlp --emit onnx,swift,kir
echo
echo "== kiln verify: generated Swift and the interpreter against Keras's outputs"
$kiln verify "$fixture/model.h5" --input "$fixture/inputs/input.npy" --expected "$fixture/expected"
echo
echo "== ONNX Runtime against Keras's outputs"
"$venv/bin/python" scripts/check_onnx.py "$out/mnist_mlp.onnx" --inputs "$fixture/inputs" --expected "$fixture/expected"

savedmodel=testdata/savedmodel/mnist_model
echo
echo "== kiln convert $savedmodel -o $out/savedmodel (a TF Serving base path: model.save('mnist_model/1/'))"
$kiln convert "$savedmodel" -o "$out/savedmodel" --name mnist_model
echo
echo "== kiln verify: the SavedModel's generated Swift and the interpreter against Keras's outputs"
$kiln verify "$savedmodel" --input "$savedmodel/inputs/input.npy" --expected "$savedmodel/expected"
echo
echo "== ONNX Runtime against Keras's outputs (SavedModel)"
"$venv/bin/python" scripts/check_onnx.py "$out/savedmodel/mnist_model.onnx" --inputs "$savedmodel/inputs" --expected "$savedmodel/expected"
