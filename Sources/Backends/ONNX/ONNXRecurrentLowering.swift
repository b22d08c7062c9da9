import KilnIR
import ONNXProto

/// The recurrent ops as ONNX's native RNN, GRU and LSTM nodes (no Loop or Scan).
///
/// The IR's recurrent ops are batch-major (ONNX's `layout = 1`), which ONNX Runtime's CPU kernels refuse, so
/// the node runs in ONNX's default sequence-major layout between Transposes: X [batch, seq, input] to
/// [seq, batch, input], the initial states [batch, dirs, hidden] to [dirs, batch, hidden], and back for
/// Y [seq, dirs, batch, hidden] and the final states. Transposes of results nothing reads are swept away.
extension ONNXGraphBuilder {
    mutating func lowerRecurrent(_ r: Recurrence, _ node: Node) throws(ONNXEmitError) {
        var names: [String] = []
        var alphas: [Float] = []
        var betas: [Float] = []
        for activation in r.activations {
            // ONNX Runtime reads an alpha (and beta) only for the activations that take one, in order.
            switch activation {
            case .relu: names.append("Relu")
            case .tanh: names.append("Tanh")
            case .sigmoid: names.append("Sigmoid")
            case .softsign: names.append("Softsign")
            case .softplus: names.append("Softplus")
            case .hardSigmoid(let alpha, let beta):
                names.append("HardSigmoid")
                alphas.append(alpha)
                betas.append(beta)
            case .leakyRelu(let alpha):
                names.append("LeakyRelu")
                alphas.append(alpha)
            case .thresholdedRelu(let theta):
                names.append("ThresholdedRelu")
                alphas.append(theta)
            case .elu(let alpha):
                names.append("Elu")
                alphas.append(alpha)
            case .exp, .selu, .gelu, .swish, .clip, .sqrt, .log, .abs, .neg, .erf, .reciprocal:
                throw .unsupported(
                    node: node.name,
                    reason:
                        "ONNX's \(node.op.name) cannot apply \(activation.name) inside the cell (its activations are Relu, Tanh, Sigmoid, HardSigmoid, LeakyRelu, ThresholdedRelu, Elu, Softsign, Softplus)"
                )
            }
        }
        var attributes = [int("hidden_size", r.hiddenSize), string("direction", r.direction.rawValue), strings("activations", names)]
        if !alphas.isEmpty { attributes.append(floats("activation_alpha", alphas)) }
        if !betas.isEmpty { attributes.append(floats("activation_beta", betas)) }
        if case .gru(let linearBeforeReset) = r.cell { attributes.append(int("linear_before_reset", linearBeforeReset ? 1 : 0)) }

        let x = node.inputs, name = node.name
        let sequenceMajor =
            self.sequenceMajor[x[0]] ?? intermediate("Transpose", [x[0]], x[0], "sequence_major", [ints("perm", [1, 0, 2])])
        self.sequenceMajor[x[0]] = sequenceMajor
        var inputs = [sequenceMajor, x[1], x[2], x[3]]
        if x.count > 4 {
            // ONNX's fifth input is sequence_lens, which the IR does not use.
            inputs.append("")
            for state in x[4...] {
                inputs.append(intermediate("Transpose", [state], state, "direction_major", [ints("perm", [1, 0, 2])]))
            }
        }
        let outputs = node.outputs.map { fresh("\($0.name).sequence_major") }
        add(node.op.name, inputs, outputs, name, attributes)
        add("Transpose", [outputs[0]], [node.outputs[0].name], "\(name).y", [ints("perm", [2, 0, 1, 3])])
        for (state, value) in zip(outputs.dropFirst(), node.outputs.dropFirst()) {
            add("Transpose", [state], [value.name], "\(name).\(value.name)", [ints("perm", [1, 0, 2])])
        }
    }
}
