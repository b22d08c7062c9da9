/// Types of the recurrent ops (RNN, GRU, LSTM), whose layout `Recurrence` documents.
extension Op {
    /// X is [batch, seq, input] with a known input size (seq and batch may be symbolic); W, R, B, the mask M and
    /// the initial states have the shapes `Recurrence` gives. Results: Y [batch, seq, dirs, hidden], Y_h and, for
    /// LSTM, Y_c [batch, dirs, hidden].
    func inferRecurrent(_ inputs: [TensorType], _ r: Recurrence) throws(TypeError) -> [TensorType] {
        var inputs = inputs
        if let maskIndex = r.maskIndex {
            let mask = inputs.remove(at: maskIndex)
            guard mask.dtype == .bool, mask.shape == Shape(Array(inputs[0].shape.dims.prefix(2))) else {
                throw TypeError(op: name, "M must be bool [batch, seq] like X's first two dimensions, got \(mask) for X \(inputs[0])")
            }
        }
        for input in inputs { try requireFloat(input) }
        guard r.hiddenSize > 0 else { throw TypeError(op: name, "hiddenSize must be positive, got \(r.hiddenSize)") }
        guard r.activations.count == r.activationsPerDirection * r.directions else {
            throw TypeError(
                op: name,
                "needs \(r.activationsPerDirection * r.directions) activations (\(r.activationsPerDirection) per direction), got \(r.activations.count)"
            )
        }
        let x = inputs[0]
        guard x.shape.rank == 3, let inputSize = x.shape.dims[2].fixedValue else {
            throw TypeError(op: name, "X must be [batch, seq, input] with a known input size, got \(x)")
        }
        let batch = x.shape.dims[0], seq = x.shape.dims[1]
        let (dirs, hidden) = (Dim.fixed(r.directions), Dim.fixed(r.hiddenSize))
        let rows = try multiply(r.gates, r.hiddenSize, "the gates' rows (gates x hiddenSize)")
        let biasRows = try multiply(2, rows, "the bias rows")
        let expected: [(String, Shape)] = [
            ("W", [dirs, .fixed(rows), .fixed(inputSize)]),
            ("R", [dirs, .fixed(rows), hidden]),
            ("B", [dirs, .fixed(biasRows)]),
            ("initial_h", [batch, dirs, hidden]),
            ("initial_c", [batch, dirs, hidden]),
        ]
        for (input, (label, shape)) in zip(inputs.dropFirst(), expected) where input.shape != shape {
            throw TypeError(op: name, "\(label) must be \(shape), got \(input)")
        }
        let state = TensorType(.float32, [batch, dirs, hidden])
        return [TensorType(.float32, [batch, seq, dirs, hidden])] + Array(repeating: state, count: r.outputCount - 1)
    }
}
