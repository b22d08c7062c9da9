import KilnIR

/// Where one direction of a recurrent op finds its weights, as `kilnRecurrent` reads them (floats into the
/// weights): Wᵀ and Rᵀ packed for `kilnGemm` (for a GRU that resets before the product, R's z and r columns in
/// `r` and its h columns in `rh`), the input bias Wb + Rb and the recurrent bias (Rb of a linear-before-reset
/// GRU's h gate, zero elsewhere; nil when all zero).
struct RecurrentWeights {
    var w: Int
    var r: Int
    var rh: Int?
    var inputBias: Int
    var recurrentBias: Int?
}

extension WeightsWriter {
    /// Packs the constant W, R and B of a recurrent op, direction by direction, and folds its biases.
    mutating func add(recurrent: Recurrence, _ node: Node, types: [String: TensorType], constants: [String: Tensor])
        throws(SwiftEmitError) -> [RecurrentWeights]
    {
        guard let w = constants[node.inputs[1]], let r = constants[node.inputs[2]], let b = constants[node.inputs[3]] else {
            throw .unsupported(node: node.name, reason: "the Swift executor runs \(node.op.name) with constant W, R and B only")
        }
        let hidden = recurrent.hiddenSize, width = recurrent.gates * hidden, inputSize = w.shape[2]
        let (wf, rf, bf) = (w.floats, r.floats, b.floats)
        var result: [RecurrentWeights] = []
        for d in 0..<recurrent.directions {
            let wd = Tensor(shape: [width, inputSize], floats: Array(wf[(d * width * inputSize)..<((d + 1) * width * inputSize)]))
            let rd = Array(rf[(d * width * hidden)..<((d + 1) * width * hidden)])
            let inputPart = Array(bf[(d * 2 * width)..<(d * 2 * width + width)])
            let recurrentPart = Array(bf[(d * 2 * width + width)..<((d + 1) * 2 * width)])
            var inputBias = zip(inputPart, recurrentPart).map { $0 + $1 }
            var recurrentBias: Int?
            let packedW = add(packing: wd, k: inputSize, n: width, transposed: true)
            var packedR: Int, packedRh: Int?
            switch recurrent.cell {
            case .gru(linearBeforeReset: true):
                // Rb_h stays inside the reset: r ⊙ (H R_hᵀ + Rb_h).
                for j in (2 * hidden)..<width { inputBias[j] = inputPart[j] }
                recurrentBias = add([Float](repeating: 0, count: 2 * hidden) + Array(recurrentPart[(2 * hidden)...]))
                packedR = add(packing: Tensor(shape: [width, hidden], floats: rd), k: hidden, n: width, transposed: true)
            case .gru(linearBeforeReset: false):
                packedR = add(
                    packing: Tensor(shape: [2 * hidden, hidden], floats: Array(rd[..<(2 * hidden * hidden)])), k: hidden, n: 2 * hidden,
                    transposed: true)
                packedRh = add(
                    packing: Tensor(shape: [hidden, hidden], floats: Array(rd[(2 * hidden * hidden)...])), k: hidden, n: hidden,
                    transposed: true)
            case .rnn, .lstm:
                packedR = add(packing: Tensor(shape: [width, hidden], floats: rd), k: hidden, n: width, transposed: true)
            }
            result.append(RecurrentWeights(w: packedW, r: packedR, rh: packedRh, inputBias: add(inputBias), recurrentBias: recurrentBias))
        }
        return result
    }
}

extension SwiftNodeEmitter {
    /// One `kilnRecurrent` call per direction; the sequence length is the input's, fixed or given to `predict`.
    func emitRecurrent(_ node: Node, _ r: Recurrence, _ out: inout CodePrinter, _ sections: inout Set<SwiftKernels.Section>)
        throws(SwiftEmitError)
    {
        guard let recurrent, let scratch else {
            throw .unsupported(node: node.name, reason: "the weights of \(node.op.name) were not laid out")
        }
        sections.formUnion([.gemm, .recurrent])
        let dims = types[node.inputs[0]]!.shape.dims
        let cell: String =
            switch r.cell {
            case .rnn: ".rnn"
            case .gru(let linearBeforeReset): linearBeforeReset ? ".gruLinearBeforeReset" : ".gru"
            case .lstm: ".lstm"
            }
        let inputs = node.inputs, outputs = node.outputs.map(\.name)
        let perDirection = r.activationsPerDirection, stateIndex = r.initialStateIndex
        let mask = r.maskIndex.map { ", mask: \(p(inputs[$0])), repeatMasked: \(r.maskedOutput == .previous)" } ?? ""
        for (d, weights) in recurrent.enumerated() {
            let functions = r.activations[(d * perDirection)..<((d + 1) * perDirection)].map(Self.activation)
            let (f, g, h) = (functions[0], functions.count > 1 ? functions[1] : ".none", functions.count > 2 ? functions[2] : ".none")
            let reverse = r.direction == .reverse || d == 1
            out.line(
                "kilnRecurrent(\(cell), \(p(inputs[0])), batch: batch, steps: \(product(dims[1...1])), inputSize: \(product(dims[2...2])), hidden: \(r.hiddenSize), directions: \(r.directions), direction: \(d), reverse: \(reverse), w: w + \(weights.w), inputBias: w + \(weights.inputBias), r: w + \(weights.r), rh: \(weights.rh.map { "w + \($0)" } ?? "nil"), recurrentBias: \(weights.recurrentBias.map { "w + \($0)" } ?? "nil"), initialH: \(inputs.count > stateIndex ? p(inputs[stateIndex]) : "nil"), initialC: \(inputs.count > stateIndex + 1 ? p(inputs[stateIndex + 1]) : "nil"), \(p(outputs[0])), yh: \(p(outputs[1])), yc: \(outputs.count > 2 ? p(outputs[2]) : "nil"), projections: \(p(scratch)), f: \(f), g: \(g), h: \(h)\(mask))"
            )
        }
    }
}
