import KilnIR

/// Keras's recurrent layers, SimpleRNN, LSTM and GRU, and the Bidirectional wrapper, as the IR's RNN, LSTM and
/// GRU ops (`Recurrence`: ONNX's operators, batch-major).
///
/// Keras stores a kernel [input, gates * units] and a recurrent kernel [units, gates * units] with the gates in
/// its order (LSTM i, f, c, o; GRU z, r, h), and one bias row (two for a GRU with `reset_after`: the input's and
/// the recurrent product's). The IR wants ONNX's W [1, gates * units, input] and R [1, gates * units, units] with
/// the gates in ONNX's order (LSTM i, o, f, c; GRU z, r, h) and B = [Wb, Rb]. Keras's GRU with `reset_after`
/// applies the reset gate after the recurrent product, which is ONNX's `linear_before_reset = 1`; without it
/// (Keras 2.2's default) before, `linear_before_reset = 0`. Keras's `activation` is ONNX's g (and h for LSTM),
/// `recurrent_activation` is f.
///
/// A mask on the input (from `Masking` or `Embedding(mask_zero=True)`) becomes the op's mask input M: Keras skips
/// a masked step (the states stay) and outputs the previous output there, or zeros in a Bidirectional that returns
/// sequences (it sets `zero_output_for_mask`); its last output is then the output at the last step processed, not
/// the state (tf-keras `backend.rnn`, Keras 3 `backend/tensorflow/rnn.py`). Keras 2.2 repeated the previous state
/// instead of the previous output, which differs only where masked steps come before any real one and an initial
/// state is given; Kiln computes as tf-keras does.
extension KerasLowering {
    static let recurrentLayers = ["SimpleRNN", "LSTM", "GRU", "CuDNNLSTM", "CuDNNGRU"]

    /// The cells the RNN layer wraps, by the layer each one is the step of.
    static let recurrentCells = ["SimpleRNNCell": "SimpleRNN", "LSTMCell": "LSTM", "GRUCell": "GRU"]

    /// The outputs of a recurrent layer or a Bidirectional wrapper (the sequence or last output, then the states
    /// with `return_state`), or nil for any other layer.
    mutating func lowerRecurrent(_ layer: LayerSpec, _ inputs: [String], base: String, mask: KerasMask?) throws(KerasImportError)
        -> [String]?
    {
        guard Self.recurrentLayers.contains(layer.className) || ["Bidirectional", "RNN"].contains(layer.className) else {
            if layer.className == "TimeDistributed" { return [try timeDistributed(layer, inputs, base: base)] }
            return nil
        }
        var stepMask: String?
        if let mask, let x = inputs.first {
            let value = try maskValue(mask, layer: layer)
            guard types[value]!.shape.dims == Array(types[x]!.shape.dims.prefix(2)), types[x]!.shape.rank == 3 else {
                throw unsupportedRecurrent(layer, "its mask \(types[value]!) does not fit its input \(types[x]!) as [batch, time]")
            }
            stepMask = value
        }
        if layer.className == "RNN" { return try rnnLayer(layer, inputs, mask: stepMask, base: base) }
        if Self.recurrentLayers.contains(layer.className) {
            let settings = try RecurrentSettings(layer.config, className: layer.className, lowering: self, layer: layer.name)
            guard inputs.count == 1 + settings.stateCount || inputs.count == 1 else {
                throw unsupportedRecurrent(layer, "is called with \(inputs.count - 1) initial states; it takes \(settings.stateCount)")
            }
            let weights = try recurrentWeights(
                layer, settings, groups: [[layer.name, "\(layer.name)/\(settings.cellName)", "\(layer.name)/cell"]])
            let run = try recurrent(
                layer, settings, inputs[0], states: Array(inputs.dropFirst()), weights: weights[0], reverse: settings.goBackwards,
                mask: stepMask.map { ($0, .previous) }, base: base)
            var sequence = run.outputs[0]
            if settings.returnSequences && settings.goBackwards {
                // Keras returns the outputs in the order it computed them, last input first.
                sequence = try reverseTime(layer, sequence, base: "\(base).reversed")
            }
            return [sequence] + (settings.returnState ? Array(run.outputs.dropFirst()) : [])
        }
        return try bidirectional(layer, inputs, mask: stepMask, base: base)
    }

    /// Keras's TimeDistributed: the wrapped layer on every step of [N, T, ...]. Around a Dense, that is Dense on the
    /// last axis (a MatMul and an Add, for any T). Around any other layer Kiln lowers (Conv2D, pooling, Flatten, a
    /// nested model...), the layer runs on each step, x[:, t], with its weights shared, and the results are stacked
    /// along time: exact, for a known T. (Folding T into the batch would need the IR to name N x T, which its
    /// shapes cannot while N is unknown.)
    private mutating func timeDistributed(_ layer: LayerSpec, _ inputs: [String], base: String) throws(KerasImportError) -> String {
        guard let inner = layer.config["layer"], let innerClass = inner["class_name"]?.string, let config = inner["config"] else {
            throw unsupportedRecurrent(layer, "has no wrapped layer in its config")
        }
        guard inputs.count == 1, types[inputs[0]]!.shape.rank >= 3 else {
            throw unsupportedRecurrent(layer, "takes one input of [batch, time, ...]")
        }
        let wrapsModel = Self.nestedModelClasses.contains(innerClass)
        guard wrapsModel || (Self.supportedLayers.contains(innerClass) && innerClass != "InputLayer") else {
            throw unsupportedRecurrent(layer, "wraps a \(innerClass), which Kiln does not support")
        }
        // `.h5` files keep the weights under the wrapper's name, `.keras` archives under its `layer` group.
        let innerName = config["name"]?.string ?? ""
        var weightsPath = layer.name
        for path in [layer.name, "\(layer.name)/\(innerName)", "\(layer.name)/layer"] where !(try weights.weights(of: path)).isEmpty {
            weightsPath = path
            break
        }
        let x = inputs[0]
        if innerClass == "Dense" {
            let dense = LayerSpec(className: "Dense", name: weightsPath, config: config, calls: layer.calls)
            return try denseLayer(dense, x, base: base)
        }
        let dims = types[x]!.shape.dims
        guard let steps = dims[1].fixedValue, steps > 0 else {
            throw unsupportedRecurrent(
                layer, "runs its \(innerClass) on each step, which Kiln does for a known number of steps only" + unknownSizeHint([x]))
        }
        let frame = dims.dropFirst(2).map(\.fixedValue)
        guard frame.allSatisfy({ $0 != nil }) else {
            throw unsupportedRecurrent(layer, "needs each step's shape known, got \(types[x]!)" + unknownSizeHint([x]))
        }
        // A nested model's layers are named `<wrapper>/<layer>`, where `.h5` files keep their weights; `.keras`
        // archives keep them under `<wrapper>/<model>/<layer>`.
        var modelPath = layer.name
        let innerLayers = (config["layers"]?.array ?? []).compactMap { $0["config"]?["name"]?.string }
        for name in innerLayers where wrapsModel {
            guard try !weights.weights(of: "\(layer.name)/\(innerName)/\(name)").isEmpty else { continue }
            modelPath = "\(layer.name)/\(innerName)"
            break
        }
        let spec = LayerSpec(
            className: innerClass, name: wrapsModel ? modelPath : weightsPath, config: config, module: inner["module"]?.string,
            calls: [[]])
        var outputs: [String] = []
        for t in 0..<steps {
            let step = try emit(
                .slice(axes: [1], starts: [t], ends: [t + 1], steps: [1]), [x], name: "\(base).step\(t).slice", node: layer.name)
            let input = try emit(.reshape(shape: [0] + frame.map { $0! }), [step], name: "\(base).step\(t).input", node: layer.name)
            let output = try lowerWrapped(spec, input, base: "\(base).step\(t)", suffix: ".step\(t)")
            let outputDims = types[output]!.shape.dims.dropFirst().map(\.fixedValue)
            guard outputDims.allSatisfy({ $0 != nil }) else {
                throw unsupportedRecurrent(layer, "its \(innerClass) gives \(types[output]!), whose shape must be known but for the batch")
            }
            outputs.append(
                try emit(.reshape(shape: [0, 1] + outputDims.map { $0! }), [output], name: "\(base).step\(t).output", node: layer.name))
        }
        return outputs.count == 1
            ? try emit(.identity, outputs, name: base, node: layer.name)
            : try emit(.concat(axis: 1), outputs, name: base, node: layer.name)
    }

    /// Keras's RNN layer around a cell (SimpleRNNCell, LSTMCell, GRUCell) or a list of them (StackedRNNCells): one
    /// cell is the layer of that cell (RNN(LSTMCell(n)) computes as LSTM(n)); a list runs each cell's layer over the
    /// previous one's sequence, which is what stepping the cells in turn computes (each cell's state at t depends
    /// on its state at t - 1 and the cell below's output at t), with the RNN's go_backwards for every cell and its
    /// return_sequences for the last. Initial states are the cells' states in order. tf-keras
    /// `layers/rnn/base_rnn.py` and `stacked_rnn_cells.py`, Keras 3 `layers/rnn/rnn.py`, `stacked_rnn_cells.py`.
    private mutating func rnnLayer(_ layer: LayerSpec, _ inputs: [String], mask: String?, base: String) throws(KerasImportError)
        -> [String]
    {
        guard let cell = layer.config["cell"], let cellClass = cell["class_name"]?.string else {
            throw unsupportedRecurrent(layer, "has no cell in its config")
        }
        let specs = cellClass == "StackedRNNCells" ? cell["config"]?["cells"]?.array ?? [] : [cell]
        guard !specs.isEmpty else { throw unsupportedRecurrent(layer, "its StackedRNNCells has no cells") }
        var settings: [RecurrentSettings] = []
        for (index, spec) in specs.enumerated() {
            let className = spec["class_name"]?.string ?? "?"
            guard let layerClass = Self.recurrentCells[className], case .object(var config)? = spec["config"] else {
                throw unsupportedRecurrent(layer, "wraps a \(className); Kiln reads SimpleRNNCell, LSTMCell, GRUCell and lists of them")
            }
            let last = index == specs.count - 1
            for key in ["go_backwards", "stateful", "time_major"] { config[key] = layer.config[key] ?? .bool(false) }
            config["return_sequences"] = last ? layer.config["return_sequences"] ?? .bool(false) : .bool(true)
            config["return_state"] = last ? layer.config["return_state"] ?? .bool(false) : .bool(false)
            config["name"] = config["name"] ?? .string("\(layer.name)/cell\(index)")
            settings.append(try RecurrentSettings(.object(config), className: layerClass, lowering: self, layer: layer.name))
        }
        if settings.count > 1 && settings[settings.count - 1].returnState {
            throw unsupportedRecurrent(layer, "return_state over a list of cells (nested states) is not supported")
        }
        let stateCount = settings.reduce(0) { $0 + $1.stateCount }
        guard inputs.count == 1 || inputs.count == 1 + stateCount else {
            throw unsupportedRecurrent(layer, "is called with \(inputs.count - 1) initial states; its cells take \(stateCount)")
        }
        let weights = try cellWeights(layer, settings)
        var x = inputs[0], nextState = 1, outputs: [String] = []
        for (index, cellSettings) in settings.enumerated() {
            let states = inputs.count == 1 ? [] : Array(inputs[nextState..<(nextState + cellSettings.stateCount)])
            nextState += cellSettings.stateCount
            let last = index == settings.count - 1
            let run = try recurrent(
                layer, cellSettings, x, states: states, weights: weights[index], reverse: cellSettings.goBackwards,
                mask: mask.map { ($0, .previous) }, base: last ? base : "\(base).cell\(index)")
            x = run.outputs[0]
            outputs = run.outputs
        }
        if let last = settings.last, last.returnSequences && last.goBackwards {
            outputs[0] = try reverseTime(layer, outputs[0], base: "\(base).reversed")
        }
        return outputs
    }

    /// W, R and B of each cell of an RNN layer: `.h5` files keep all the cells' arrays under the layer, in order;
    /// `.keras` archives under `cell` (one cell) or `cell/cells/<cell>`.
    private mutating func cellWeights(_ layer: LayerSpec, _ settings: [RecurrentSettings]) throws(KerasImportError) -> [[String]] {
        if let cached = cachedConstants(of: layer) {
            return (0..<settings.count).map { Array(cached[($0 * 3)..<($0 * 3 + 3)]) }
        }
        var perCell: [[(name: String, tensor: Tensor)]] = []
        let all = try weights.weights(of: layer.name)
        if !all.isEmpty {
            var offset = 0
            for cell in settings {
                perCell.append(Array(all[min(offset, all.count)..<min(offset + cell.weightCount, all.count)]))
                offset += cell.weightCount
            }
        } else if settings.count == 1 {
            var loaded: [(name: String, tensor: Tensor)] = []
            for path in ["\(layer.name)/cell", "\(layer.name)/\(settings[0].cellName)"] where loaded.isEmpty {
                loaded = try weights.weights(of: path)
            }
            perCell = [loaded]
        } else {
            // Keyed by the names Keras 3 writes on the groups: the StackedRNNCells's, then each cell's.
            let stacked = layer.config["cell"]?["config"]?["name"]?.string ?? "cell"
            for cell in settings { perCell.append(try weights.weights(of: "\(layer.name)/\(stacked)/\(cell.name)")) }
        }
        var result: [[String]] = []
        for (index, (arrays, cell)) in zip(perCell, settings).enumerated() {
            result.append(
                try cell.onnxWeights(
                    arrays, lowering: &self, layer: layer, base: "\(sanitize(layer.name))\(settings.count > 1 ? ".cell\(index)" : "")"))
        }
        rememberConstants(result.flatMap { $0 }, of: layer)
        return result
    }

    private func unsupportedRecurrent(_ layer: LayerSpec, _ reason: String) -> KerasImportError {
        .unsupportedConfig(file: file, layer: layer.name, className: layer.className, reason: reason)
    }

    /// Keras's Bidirectional: the layer forward and a copy (or `backward_layer`) over the reversed sequence, whose
    /// outputs Keras puts back in input order, merged by `merge_mode` (concat, sum, mul, ave, or None: both
    /// outputs); with `return_state` the forward states, then the backward states, follow.
    private mutating func bidirectional(_ layer: LayerSpec, _ inputs: [String], mask: String?, base: String) throws(KerasImportError)
        -> [String]
    {
        guard let inner = layer.config["layer"], let innerClass = inner["class_name"]?.string, let innerConfig = inner["config"],
            Self.recurrentLayers.contains(innerClass)
        else {
            throw unsupportedRecurrent(layer, "wraps a layer that is not SimpleRNN, LSTM or GRU")
        }
        let forward = try RecurrentSettings(innerConfig, className: innerClass, lowering: self, layer: layer.name)
        // Without backward_layer, Keras copies the layer and flips go_backwards.
        var backward = forward
        backward.goBackwards = !forward.goBackwards
        var backwardName =
            forward.name.hasPrefix("forward_") ? "backward_" + forward.name.dropFirst("forward_".count) : "backward_" + forward.name
        if let explicit = layer.config["backward_layer"], let config = explicit["config"], !explicit.isNull {
            let className = explicit["class_name"]?.string ?? innerClass
            guard Self.recurrentLayers.contains(className) else { throw unsupportedRecurrent(layer, "backward_layer is a \(className)") }
            backward = try RecurrentSettings(config, className: className, lowering: self, layer: layer.name)
            backwardName = backward.name
        }
        guard forward.returnSequences == backward.returnSequences, forward.returnState == backward.returnState else {
            throw unsupportedRecurrent(layer, "its forward and backward layers differ in return_sequences or return_state")
        }
        let states = inputs.count - 1
        guard states == 0 || states == forward.stateCount + backward.stateCount else {
            throw unsupportedRecurrent(
                layer, "is called with \(states) initial states; it takes \(forward.stateCount + backward.stateCount)")
        }
        let weights = try recurrentWeights(
            layer, forward,
            groups: [
                [
                    layer.name, "\(layer.name)/\(forward.name)/\(forward.cellName)", "\(layer.name)/forward_layer/cell",
                ],
                ["\(layer.name)/\(backwardName)/\(backward.cellName)", "\(layer.name)/backward_layer/cell"],
            ], second: backward)
        let forwardStates = states == 0 ? [] : Array(inputs[1...forward.stateCount])
        let backwardStates = states == 0 ? [] : Array(inputs[(1 + forward.stateCount)...])
        // A layer with go_backwards returns its sequence last step first; Keras flips the backward layer's
        // sequence back into input order, which is where the IR's reverse direction already puts it. Keras sets
        // zero_output_for_mask on both layers when they return sequences.
        let masked: (String, Recurrence.MaskedOutput)? = mask.map { ($0, forward.returnSequences ? .zeros : .previous) }
        let forwardRun = try recurrent(
            layer, forward, inputs[0], states: forwardStates, weights: weights[0], reverse: forward.goBackwards, mask: masked,
            base: "\(base).forward")
        let backwardRun = try recurrent(
            layer, backward, inputs[0], states: backwardStates, weights: weights[1], reverse: backward.goBackwards, mask: masked,
            base: "\(base).backward")
        var (a, b) = (forwardRun.outputs[0], backwardRun.outputs[0])
        if forward.returnSequences && forward.goBackwards { a = try reverseTime(layer, a, base: "\(base).forward.reversed") }
        if forward.returnSequences && !backward.goBackwards { b = try reverseTime(layer, b, base: "\(base).backward.reversed") }
        let mode = layer.config["merge_mode"]
        var merged: [String]
        switch mode?.string {
        case "concat"?:
            let rank = types[a]!.shape.rank
            merged = [try emit(.concat(axis: rank - 1), [a, b], name: base, node: layer.name)]
        case "sum"?: merged = [try emit(.binary(.add), [a, b], name: base, node: layer.name)]
        case "mul"?: merged = [try emit(.binary(.mul), [a, b], name: base, node: layer.name)]
        case "ave"?:
            let sum = try emit(.binary(.add), [a, b], name: "\(base).sum", node: layer.name)
            let half = addConstant("\(base).half", Tensor(shape: [], floats: [0.5]))
            merged = [try emit(.binary(.mul), [sum, half], name: base, node: layer.name)]
        case nil where mode == nil || mode!.isNull:
            merged = [a, b]
        default:
            throw unsupportedRecurrent(layer, "merge_mode \(mode.map { "\($0)" } ?? "?") is not concat, sum, mul, ave or None")
        }
        guard forward.returnState else { return merged }
        return merged + Array(forwardRun.outputs.dropFirst()) + Array(backwardRun.outputs.dropFirst())
    }

    /// Reverses a batch-major sequence [N, T, F] along time, which needs a known length.
    private mutating func reverseTime(_ layer: LayerSpec, _ x: String, base: String) throws(KerasImportError) -> String {
        guard types[x]!.shape.dims[1].fixedValue != nil else {
            throw unsupportedRecurrent(
                layer,
                "go_backwards with return_sequences returns the outputs last step first, which Kiln reverses only for a known sequence length"
                    + unknownSizeHint([x]))
        }
        return try emit(.slice(axes: [1], starts: [-1], ends: [Int.min], steps: [-1]), [x], name: base, node: layer.name)
    }

    /// One direction of a layer: the IR op on x [N, T, F] with the initial states [N, units] given (or zeros) and the
    /// step mask [N, T] if any, then Keras's outputs: the sequence [N, T, units] or the last output [N, units] (the
    /// last hidden state, or with a mask the output at the last step processed), the last hidden state, and for
    /// LSTM the last cell state.
    private mutating func recurrent(
        _ layer: LayerSpec, _ settings: RecurrentSettings, _ x: String, states: [String], weights: [String], reverse: Bool,
        mask: (value: String, output: Recurrence.MaskedOutput)?, base: String
    ) throws(KerasImportError) -> (outputs: [String], op: Op) {
        guard types[x]!.shape.rank == 3 else {
            throw unsupportedRecurrent(layer, "takes [batch, time, features], got \(types[x]!)")
        }
        var initial: [String] = []
        for (index, state) in states.enumerated() {
            initial.append(try emit(.reshape(shape: [0, 1, -1]), [state], name: "\(base).initial_state\(index)", node: layer.name))
        }
        let op = Op.recurrent(
            Recurrence(
                cell: settings.cell, direction: reverse ? .reverse : .forward, hiddenSize: settings.units,
                activations: settings.activations,
                maskedOutput: mask?.output))
        let names = ["\(base).y", "\(base).y_h", "\(base).y_c"].prefix(settings.cell == .lstm ? 3 : 2).map { fresh($0) }
        let results = try emitResults(op, [x] + weights + (mask.map { [$0.value] } ?? []) + initial, names: Array(names), node: layer.name)
        let sequence: String
        if settings.returnSequences {
            sequence = try emit(.reshape(shape: [0, 0, -1]), [results[0]], name: base, node: layer.name)
        } else if let mask {
            // The output at the last step processed is the output of the last real step, the state after it, or
            // zeros in a row without one (whose state is the initial state).
            let real = try emit(.cast(to: .float32), [mask.value], name: "\(base).real_steps", node: layer.name)
            let anyReal = try emit(.reduce(.max, axes: [1], keepDims: true), [real], name: "\(base).any_real", node: layer.name)
            let state = try emit(.flatten(axis: 1), [results[1]], name: "\(base).state", node: layer.name)
            sequence = try emit(.binary(.mul), [state, anyReal], name: base, node: layer.name)
        } else {
            sequence = try emit(.flatten(axis: 1), [results[1]], name: base, node: layer.name)
        }
        var outputs = [sequence]
        if settings.returnState {
            outputs.append(try emit(.flatten(axis: 1), [results[1]], name: "\(base).state_h", node: layer.name))
            if settings.cell == .lstm {
                outputs.append(try emit(.flatten(axis: 1), [results[2]], name: "\(base).state_c", node: layer.name))
            }
        }
        return (outputs, op)
    }

    /// W, R and B of each direction as IR constants: for each group of weight paths, the first that holds weights
    /// (`.h5` files keep them under the layer's name, `.keras` archives under its cell, named by the `name`
    /// attribute Keras 3.5 on writes, else by the group: `cell`, `forward_layer/cell`).
    private mutating func recurrentWeights(
        _ layer: LayerSpec, _ first: RecurrentSettings, groups: [[String]], second: RecurrentSettings? = nil
    ) throws(KerasImportError) -> [[String]] {
        if let cached = cachedConstants(of: layer) {
            let perDirection = cached.count / groups.count
            return (0..<groups.count).map { Array(cached[($0 * perDirection)..<(($0 + 1) * perDirection)]) }
        }
        let settings = [first] + (second.map { [$0] } ?? [])
        var found: [[(name: String, tensor: Tensor)]] = []
        for group in groups {
            var loaded: [(name: String, tensor: Tensor)] = []
            for path in group {
                loaded = try weights.weights(of: path)
                if !loaded.isEmpty { break }
            }
            found.append(loaded)
        }
        // Keras 2 keeps a Bidirectional's weights under its own name, forward then backward.
        if groups.count == 2, found[0].count == settings[0].weightCount + settings[1].weightCount {
            found = [Array(found[0].prefix(settings[0].weightCount)), Array(found[0].dropFirst(settings[0].weightCount))]
        }
        var result: [[String]] = []
        for (index, (arrays, settings)) in zip(found, settings).enumerated() {
            let direction = groups.count == 2 ? (index == 0 ? ".forward" : ".backward") : ""
            result.append(try settings.onnxWeights(arrays, lowering: &self, layer: layer, base: "\(sanitize(layer.name))\(direction)"))
        }
        rememberConstants(result.flatMap { $0 }, of: layer)
        return result
    }
}

/// The settings of one Keras recurrent layer that change what it computes, read and checked once.
struct RecurrentSettings {
    var name: String
    var cell: Recurrence.Cell
    var units: Int
    /// f (`recurrent_activation`), then g and h (`activation`), as many as the cell takes.
    var activations: [Activation]
    var useBias: Bool
    var returnSequences: Bool
    var returnState: Bool
    var goBackwards: Bool
    /// The name Keras 3 gives the layer's cell, under which a `.keras` archive keeps the weights.
    var cellName: String
    /// Keras 2's CuDNNLSTM and CuDNNGRU: one bias vector of 2 x gates x units, the input's biases then the
    /// recurrent product's (cuDNN's two bias sets), where LSTM keeps one and GRU two rows.
    var cudnnBias = false

    /// Initial states the layer takes: h, and c for LSTM.
    var stateCount: Int { cell == .lstm ? 2 : 1 }
    /// Kernel, recurrent kernel and, with a bias, the bias.
    var weightCount: Int { useBias ? 3 : 2 }
    var gates: Int { cell == .lstm ? 4 : cell == .rnn ? 1 : 3 }

    init(_ config: JSON, className: String, lowering: KerasLowering, layer: String) throws(KerasImportError) {
        func unsupported(_ reason: String) -> KerasImportError {
            .unsupportedConfig(file: lowering.file, layer: layer, className: className, reason: reason)
        }
        name = config["name"]?.string ?? layer
        guard let units = config["units"]?.int, units > 0 else { throw unsupported("config has no positive integer 'units'") }
        self.units = units
        if config["stateful"]?.bool == true && !lowering.statefulAsStateless {
            throw unsupported(
                "stateful=True carries the state from one batch to the next, which a compiled model cannot keep; pass --stateful-as-stateless to convert it as stateless (every call starts from zeros, or from initial states given as inputs), or save the model again with stateful=False (the weights are the same) and pass the state as an initial_state input"
            )
        }
        if config["time_major"]?.bool == true {
            throw unsupported("time_major=True (inputs [time, batch, features]) is not supported; save the model with time_major=False")
        }
        useBias = config["use_bias"]?.bool ?? true
        returnSequences = config["return_sequences"]?.bool ?? false
        returnState = config["return_state"]?.bool ?? false
        goBackwards = config["go_backwards"]?.bool ?? false
        func activation(_ key: String, default fallback: String) throws(KerasImportError) -> Activation {
            let json = config[key]
            let name = json.flatMap { $0.isNull ? "linear" : KerasLowering.activationName($0) } ?? fallback
            switch name {
            case "tanh": return .tanh
            case "sigmoid": return .sigmoid
            case "relu": return .relu
            case "softsign": return .softsign
            case "softplus": return .softplus
            case "elu": return .elu(alpha: 1)
            // Keras 2: clip(0.2x + 0.5, 0, 1); Keras 3: relu6(x + 3) / 6.
            case "hard_sigmoid":
                return lowering.kerasMajorVersion >= 3 ? .hardSigmoid(alpha: 1.0 / 6, beta: 0.5) : .hardSigmoid(alpha: 0.2, beta: 0.5)
            // The identity, exactly: x if x >= 0 else 1 * x (ONNX's cells have no identity but Affine, which ONNX
            // Runtime runs and the IR has no case for).
            case "linear": return .leakyRelu(alpha: 1)
            default:
                throw unsupported(
                    "\(key) '\(name)' cannot run inside a recurrent cell; Kiln supports tanh, sigmoid, hard_sigmoid, relu, linear, softsign, softplus and elu there"
                )
            }
        }
        let f = try activation("recurrent_activation", default: "sigmoid")
        let g = try activation("activation", default: "tanh")
        switch className {
        case "SimpleRNN":
            cell = .rnn
            activations = [g]
            cellName = "simple_rnn_cell"
        case "GRU":
            // Keras 2.2 wrote no reset_after and computed as reset_after=False; later versions write it.
            cell = .gru(linearBeforeReset: config["reset_after"]?.bool ?? false)
            activations = [f, g]
            cellName = "gru_cell"
        // cuDNN's cells (NVIDIA cuDNN API, cudnnRNNMode_t CUDNN_LSTM and CUDNN_GRU), which Keras 2's CuDNNLSTM and
        // CuDNNGRU run: sigmoid gates and tanh, both bias sets added; the GRU applies the reset gate after the
        // recurrent product and its bias, ONNX's linear_before_reset = 1 (tf-keras `layers/rnn/cudnn_gru.py`).
        case "CuDNNLSTM":
            cell = .lstm
            activations = [.sigmoid, .tanh, .tanh]
            cellName = "lstm_cell"
            cudnnBias = true
        case "CuDNNGRU":
            cell = .gru(linearBeforeReset: true)
            activations = [.sigmoid, .tanh]
            cellName = "gru_cell"
            cudnnBias = true
        default:
            cell = .lstm
            activations = [f, g, g]
            cellName = "lstm_cell"
        }
    }

    /// Keras's kernel, recurrent kernel and bias as ONNX's W, R and B, added as constants.
    func onnxWeights(
        _ arrays: [(name: String, tensor: Tensor)], lowering: inout KerasLowering, layer: LayerSpec, base: String
    ) throws(KerasImportError) -> [String] {
        guard arrays.count == weightCount else {
            throw .missingWeights(
                file: lowering.file, layer: layer.name,
                reason: "expected \(weightCount) weight arrays for \(name), the file has \(arrays.count)")
        }
        let rows = gates * units
        let kernel = arrays[0].tensor, recurrent = arrays[1].tensor
        guard kernel.shape.count == 2, kernel.shape[1] == rows else {
            throw .weightShape(file: lowering.file, layer: layer.name, weight: arrays[0].name, expected: [-1, rows], got: kernel.shape)
        }
        let inputSize = kernel.shape[0]
        guard recurrent.shape == [units, rows] else {
            throw .weightShape(
                file: lowering.file, layer: layer.name, weight: arrays[1].name, expected: [units, rows], got: recurrent.shape)
        }
        var inputBias = [Float](repeating: 0, count: rows), recurrentBias = inputBias
        if useBias {
            let bias = arrays[2].tensor
            if cudnnBias {
                guard bias.shape == [2 * rows] else {
                    throw .weightShape(
                        file: lowering.file, layer: layer.name, weight: arrays[2].name, expected: [2 * rows], got: bias.shape)
                }
                inputBias = Array(bias.floats[..<rows])
                recurrentBias = Array(bias.floats[rows...])
            } else if cell == .gru(linearBeforeReset: true) {
                guard bias.shape == [2, rows] else {
                    throw .weightShape(
                        file: lowering.file, layer: layer.name, weight: arrays[2].name, expected: [2, rows], got: bias.shape)
                }
                inputBias = Array(bias.floats[..<rows])
                recurrentBias = Array(bias.floats[rows...])
            } else {
                guard bias.shape == [rows] else {
                    throw .weightShape(file: lowering.file, layer: layer.name, weight: arrays[2].name, expected: [rows], got: bias.shape)
                }
                inputBias = bias.floats
            }
        }
        // ONNX gate g is Keras gate order[g]: LSTM i, o, f, c from Keras's i, f, c, o.
        let order = cell == .lstm ? [0, 3, 1, 2] : Array(0..<gates)
        /// [k, gates * units] in Keras's gate order to [gates * units, k] in ONNX's.
        func transposed(_ matrix: [Float], _ k: Int) -> [Float] {
            var out = [Float](repeating: 0, count: rows * k)
            for (g, source) in order.enumerated() {
                for j in 0..<units {
                    for i in 0..<k { out[(g * units + j) * k + i] = matrix[i * rows + source * units + j] }
                }
            }
            return out
        }
        func reordered(_ vector: [Float]) -> [Float] { order.flatMap { vector[($0 * units)..<(($0 + 1) * units)] } }
        let w = lowering.addConstant("\(base).W", Tensor(shape: [1, rows, inputSize], floats: transposed(kernel.floats, inputSize)))
        let r = lowering.addConstant("\(base).R", Tensor(shape: [1, rows, units], floats: transposed(recurrent.floats, units)))
        let b = lowering.addConstant("\(base).B", Tensor(shape: [1, 2 * rows], floats: reordered(inputBias) + reordered(recurrentBias)))
        return [w, r, b]
    }
}
