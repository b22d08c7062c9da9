import KilnIR
import ONNXProto

/// The recurrent ops as ONNX's native RNN, GRU and LSTM nodes (no Loop or Scan).
///
/// The IR's recurrent ops are batch-major (ONNX's `layout = 1`), which ONNX Runtime's CPU kernels refuse, so
/// the node runs in ONNX's default sequence-major layout between Transposes: X [batch, seq, input] to
/// [seq, batch, input], the initial states [batch, dirs, hidden] to [dirs, batch, hidden], and back for
/// Y [seq, dirs, batch, hidden] and the final states. Transposes of results nothing reads are swept away.
///
/// A masked op (`Recurrence.maskedOutput`) stays native and exact for any mask, also one with gaps, by running the
/// cell over the real steps only: the steps of each row are reordered so that its real steps come first in their
/// order (TopK of t, or seq + t for a masked step, ascending; GatherElements), the node runs with `sequence_lens`
/// = the number of real steps (at least 1, as ONNX Runtime wants), and Y is gathered back: a real step reads the
/// output of its rank among the real steps, a masked step the output `Recurrence.MaskedOutput` names (the nearest
/// real step before it in the direction's order, or zeros). A row with no real step gets zeros and its initial
/// states. For a mask of trailing padding the reordering is the identity and this is ONNX's `sequence_lens`.
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
        let states = Array(x.dropFirst(r.initialStateIndex))
        var sequenceMajor: String
        var masked: MaskedRun?
        if let maskIndex = r.maskIndex {
            let run = compactRealSteps(x[0], mask: x[maskIndex], name: name)
            masked = run
            sequenceMajor = intermediate("Transpose", [run.x], x[0], "sequence_major", [ints("perm", [1, 0, 2])])
        } else {
            sequenceMajor =
                self.sequenceMajor[x[0]] ?? intermediate("Transpose", [x[0]], x[0], "sequence_major", [ints("perm", [1, 0, 2])])
            self.sequenceMajor[x[0]] = sequenceMajor
        }
        var inputs = [sequenceMajor, x[1], x[2], x[3]]
        if masked != nil || !states.isEmpty { inputs.append(masked?.lengths ?? "") }
        for state in states {
            inputs.append(intermediate("Transpose", [state], state, "direction_major", [ints("perm", [1, 0, 2])]))
        }
        let outputs = node.outputs.map { fresh("\($0.name).sequence_major") }
        add(node.op.name, inputs, outputs, name, attributes)
        let results = node.outputs.map { masked == nil ? $0.name : fresh("\($0.name).real_steps") }
        add("Transpose", [outputs[0]], [results[0]], "\(name).y", [ints("perm", [2, 0, 1, 3])])
        for (state, value) in zip(outputs.dropFirst(), results.dropFirst()) {
            add("Transpose", [state], [value], "\(name).\(value)", [ints("perm", [1, 0, 2])])
        }
        guard let masked, let mode = r.maskedOutput else { return }
        scatterRealSteps(masked, r, mode, y: results[0], into: node.outputs[0].name, name: name)
        // A row with no real step keeps its initial states (zeros when there are none).
        let anyReal = intermediate("Greater", [masked.count, int64s("\(name).zero", [0])], name, "any_real")
        let anyReal3 = intermediate("Unsqueeze", [anyReal, int64s("\(name).axes12", [1, 2])], name, "any_real3")
        for (index, (result, value)) in zip(results, node.outputs).enumerated().dropFirst() {
            let initial = index - 1 < states.count ? states[index - 1] : scalar("\(name).zero_state", 0, .float32)
            add("Where", [anyReal3, result, initial], [value.name], "\(name).\(value.name).kept")
        }
    }

    /// The values a masked op's lowering shares: the reordered X, the mask (bool) and the mask as int64, the real steps per row
    /// (int64 [batch]), the `sequence_lens` (int32, at least 1) and the running count of real steps (int64
    /// [batch, seq], inclusive).
    struct MaskedRun {
        var x: String
        var realSteps: String
        var mask: String
        var count: String
        var lengths: String
        var cumulative: String
    }

    /// X [batch, seq, input] with each row's real steps first, in order, and the counts around it.
    private mutating func compactRealSteps(_ x: String, mask: String, name: String) -> MaskedRun {
        let int64 = Int(ONNXEmitter.elementType(.int64)), int32 = Int(ONNXEmitter.elementType(.int32))
        let m = intermediate("Cast", [mask], name, "mask_int", [int("to", int64)])
        let one = int64s("\(name).one", [1])
        let axis1 = int64s("\(name).axis1", [1])
        let ones = intermediate("Add", [intermediate("Mul", [m, int64s("\(name).zero", [0])], name, "zeros"), one], name, "ones")
        let position = intermediate("Sub", [intermediate("CumSum", [ones, axis1], name, "positions1"), one], name, "positions")
        let shape = intermediate("Shape", [x], name, "x_shape")
        let steps = intermediate("Gather", [shape, int64s("\(name).seq_axis", [1])], name, "steps")
        // Key t for a real step and seq + t for a masked one: ascending keys put the real steps first, in order.
        let maskedSteps = intermediate("Mul", [intermediate("Sub", [one, m], name, "masked"), steps], name, "masked_offset")
        let key = intermediate("Add", [position, maskedSteps], name, "order_key")
        let order = fresh("\(name).order")
        add(
            "TopK", [key, steps], [fresh("\(name).order_keys"), order], "\(name).order",
            [int("axis", 1), int("largest", 0), int("sorted", 1)])
        let order3 = intermediate("Unsqueeze", [order, int64s("\(name).axis2", [2])], name, "order3")
        let indices = intermediate("Expand", [order3, shape], name, "order_expanded")
        let compacted = intermediate("GatherElements", [x, indices], name, "real_steps_first", [int("axis", 1)])
        let count = intermediate("ReduceSum", [m, axis1], name, "real_steps", [int("keepdims", 0)])
        let atLeastOne = intermediate("Max", [count, one], name, "real_steps_at_least_1")
        let lengths = intermediate("Cast", [atLeastOne], name, "sequence_lens", [int("to", int32)])
        let cumulative = intermediate("CumSum", [m, axis1], name, "real_steps_so_far")
        return MaskedRun(x: compacted, realSteps: mask, mask: m, count: count, lengths: lengths, cumulative: cumulative)
    }

    /// Y [batch, seq, dirs, hidden] of the reordered run back at the input's steps, as `mode` wants masked steps.
    private mutating func scatterRealSteps(
        _ run: MaskedRun, _ r: Recurrence, _ mode: Recurrence.MaskedOutput, y: String, into output: String, name: String
    ) {
        let one = int64s("\(name).one", [1])
        let zero = int64s("\(name).zero", [0])
        let axis2 = int64s("\(name).axis2", [2])
        // The rank of the real step at or before t (forward), or at or after t (reverse), among the real steps.
        let before = intermediate("Sub", [run.cumulative, one], name, "rank_before")
        var indices: [String] = []
        var valid: [String] = []
        for d in 0..<r.directions {
            let reverse = r.direction == .reverse || d == 1
            let (rank, isValid): (String, String)
            switch (mode, reverse) {
            case (.zeros, _):
                (rank, isValid) = (before, run.realSteps)
            case (.previous, false):
                (rank, isValid) = (before, intermediate("Greater", [run.cumulative, zero], name, "seen_real"))
            case (.previous, true):
                let after = intermediate("Sub", [run.cumulative, run.mask], name, "rank_after")
                let count = intermediate("Unsqueeze", [run.count, int64s("\(name).axis1", [1])], name, "real_steps2")
                (rank, isValid) = (after, intermediate("Less", [after, count], name, "real_ahead"))
            }
            let safe = intermediate("Where", [isValid, rank, zero], name, "rank_checked")
            indices.append(intermediate("Unsqueeze", [safe, axis2], name, "rank3"))
            valid.append(intermediate("Unsqueeze", [isValid, axis2], name, "valid3"))
        }
        let rank3 = indices.count == 1 ? indices[0] : intermediate("Concat", indices, name, "ranks", [int("axis", 2)])
        let valid3 = valid.count == 1 ? valid[0] : intermediate("Concat", valid, name, "valids", [int("axis", 2)])
        let axis3 = int64s("\(name).axis3", [3])
        let expanded = intermediate(
            "Expand", [intermediate("Unsqueeze", [rank3, axis3], name, "rank4"), intermediate("Shape", [y], name, "y_shape")], name,
            "rank_expanded")
        let gathered = intermediate("GatherElements", [y, expanded], name, "at_input_steps", [int("axis", 1)])
        let valid4 = intermediate("Unsqueeze", [valid3, axis3], name, "valid4")
        add("Where", [valid4, gathered, scalar("\(name).zero_output", 0, .float32)], [output], "\(name).masked_output")
    }
}
