import KilnIR

/// The mask Keras attaches to a value. An `Embedding(mask_zero=True)` makes one (its indices != 0), a `Masking`
/// layer another (any feature != mask_value); layers that support masking pass it on; the few that use it compute
/// with it (recurrent layers, in `KerasRecurrentLayers.swift`; GlobalAveragePooling1D here). Keras 3 also records it as the `mask`
/// argument of the calls that take one (the output of a `NotEqual` op layer), Keras 2 nowhere: Kiln follows it
/// through the graph as Keras does, so that no layer that uses a mask silently runs without it.
enum KerasMask: Equatable {
    /// `indices != 0`, for the indices an Embedding read.
    case nonzero(indices: String)
    /// A value of the graph given as the `mask` argument.
    case value(String)
    /// The masks of several inputs, which a merge layer combines; Kiln does not compute these.
    case merged(layer: String)
}

extension KerasLowering {
    /// Layer classes that hand their input's mask on unchanged (`supports_masking` in both Keras versions).
    static let maskPassing: Set<String> = [
        "Activation", "ReLU", "LeakyReLU", "ELU", "PReLU", "ThresholdedReLU", "Softmax", "Dense", "Dropout", "SpatialDropout1D",
        "SpatialDropout2D", "SpatialDropout3D", "GaussianNoise", "GaussianDropout", "AlphaDropout", "ActivityRegularization",
        "BatchNormalization", "LayerNormalization", "GroupNormalization", "UnitNormalization", "Rescaling", "Normalization",
    ]

    /// Wrappers that hand their input's mask on (a recurrent layer's sequence output too, in `propagateMask`).
    static let maskPassingWrappers: Set<String> = ["TimeDistributed"]

    /// Merge layers, which combine their inputs' masks (Dot drops them).
    static let maskMerging: Set<String> = ["Add", "Subtract", "Multiply", "Average", "Maximum", "Minimum", "Concatenate"]

    /// The mask a call sees: the one given as its `mask` argument, else its (single) input's. Keras 3 hands a
    /// call's input mask on only when the call has one tensor argument (`Layer.__call__`), so a recurrent layer
    /// called with initial states runs unmasked there, while Keras 2 masks it by its sequence's mask.
    func mask(for layer: LayerSpec, call: Int, inputs: [String], produced: [TensorRef: String]) -> KerasMask? {
        if let ref = layer.mask(ofCall: call), let value = produced[ref] { return .value(value) }
        let recurrent = Self.recurrentLayers.contains(layer.className) || ["Bidirectional", "RNN"].contains(layer.className)
        if kerasMajorVersion >= 3 && recurrent && inputs.count > 1 { return nil }
        return inputs.lazy.compactMap { masks[$0] }.first
    }

    /// Fails for a layer that would compute with `mask` in a way Kiln does not implement. Keras uses a mask in
    /// Softmax, GroupNormalization (Keras 2), GlobalAveragePooling1D (implemented in `maskedAveragePooling`),
    /// BatchNormalization (only while training), recurrent layers (implemented in `lowerRecurrent`), attention
    /// layers (not supported at all) and, in Keras 3, the Multiply, Maximum and Minimum merges; a layer given a
    /// mask as an argument uses it (TimeDistributed hands it to its layer, which for Dense ignores it).
    func checkMaskUse(_ layer: LayerSpec, call: Int, mask: KerasMask?) throws(KerasImportError) {
        guard let mask else { return }
        var uses = layer.mask(ofCall: call) != nil || layer.className == "Softmax"
        if kerasMajorVersion < 3 && layer.className == "GroupNormalization" { uses = true }
        if kerasMajorVersion >= 3 && ["Multiply", "Maximum", "Minimum"].contains(layer.className) { uses = true }
        let computing = Self.recurrentLayers + ["Bidirectional", "RNN", "GlobalAveragePooling1D"]
        if (computing + ["TimeDistributed", "BatchNormalization"]).contains(layer.className) { uses = false }
        if case .merged(let merging) = mask, computing.contains(layer.className) {
            throw maskError(
                layer, "its mask comes from merge layer '\(merging)', which combines masks; Kiln computes only an Embedding's mask")
        }
        guard uses else { return }
        throw maskError(layer, "masked \(layer.className) is not supported yet")
    }

    private func maskError(_ layer: LayerSpec, _ reason: String) -> KerasImportError {
        .unsupportedConfig(
            file: file, layer: layer.name, className: layer.className,
            reason: "its input carries a mask (from an Embedding with mask_zero=True) that Keras uses here; \(reason)")
    }

    /// Records the masks of a call's outputs, as Keras's `compute_mask` gives them.
    mutating func propagateMask(_ layer: LayerSpec, inputs: [String], mask: KerasMask?, outputs: [String]) {
        let output: KerasMask?
        if layer.className == "Embedding", layer.config["mask_zero"]?.bool == true, let indices = inputs.first {
            output = .nonzero(indices: indices)
        } else if layer.className == "Masking" {
            output = outputs.first.flatMap { masks[$0] }
        } else if Self.recurrentLayers.contains(layer.className) || ["Bidirectional", "RNN"].contains(layer.className) {
            // The sequence keeps the input's mask; a last output and the states have none.
            let sequences = (layer.config["layer"]?["config"] ?? layer.config)["return_sequences"]?.bool ?? false
            if sequences, let first = outputs.first { masks[first] = mask }
            for value in outputs.dropFirst(sequences ? 1 : 0) where value != inputs.first { masks[value] = nil }
            return
        } else if Self.maskMerging.contains(layer.className) {
            output = inputs.contains { masks[$0] != nil } ? .merged(layer: layer.name) : nil
        } else if Self.maskPassing.contains(layer.className) || Self.maskPassingWrappers.contains(layer.className) {
            output = mask
        } else {
            output = nil
        }
        for value in outputs where value != inputs.first || output != nil { masks[value] = output }
    }

    /// Keras's masked GlobalAveragePooling1D: sum(x * mask) / sum(mask) over the steps, the mask cast to float.
    mutating func maskedAveragePooling(_ layer: LayerSpec, _ x: String, mask: KerasMask, base: String) throws(KerasImportError) -> String {
        let type = types[x]!
        guard try config(of: layer).choice("data_format", Self.dataFormats, default: "channels_last") != "channels_first" else {
            throw maskError(layer, "masked channels_first pooling is not supported yet")
        }
        let maskValue = try self.maskValue(mask, layer: layer)
        let steps = type.shape.dims.dropLast()
        guard type.shape.rank == 3, types[maskValue]!.shape.dims == Array(steps) else {
            throw maskError(layer, "the mask \(types[maskValue]!) does not fit the input \(type)")
        }
        let keepDims = try config(of: layer).bool("keepdims", default: false)
        let floats = try emit(.cast(to: .float32), [maskValue], name: "\(base).mask", node: layer.name)
        let expanded = try emit(
            .reshape(shape: [0, 0, 1]), [floats], name: "\(base).mask3", node: layer.name)
        let masked = try emit(.binary(.mul), [x, expanded], name: "\(base).masked", node: layer.name)
        let sum = try emit(.reduce(.sum, axes: [1], keepDims: keepDims), [masked], name: "\(base).sum", node: layer.name)
        let count = try emit(.reduce(.sum, axes: [1], keepDims: keepDims), [expanded], name: "\(base).count", node: layer.name)
        return try emit(.binary(.div), [sum, count], name: base, node: layer.name)
    }

    /// Keras's Masking layer: x * any(x != mask_value over the last axis), whose mask is that `any` (bool
    /// [batch, steps...]); recorded for `propagateMask`. tf-keras `layers/core/masking.py`, Keras 3
    /// `layers/core/masking.py`.
    mutating func masking(_ layer: LayerSpec, _ x: String, base: String) throws(KerasImportError) -> String {
        let type = types[x]!
        guard type.dtype == .float32, type.shape.rank >= 2 else {
            throw .unsupportedConfig(
                file: file, layer: layer.name, className: layer.className, reason: "takes f32 [batch, ..., features], got \(type)")
        }
        let maskValue = try config(of: layer).float("mask_value", default: 0)
        let last = type.shape.rank - 1
        let constant = addConstant("\(base).mask_value", Tensor(shape: [], floats: [maskValue]))
        let differs = try emit(.compare(.notEqual), [x, constant], name: "\(base).differs", node: layer.name)
        let floats = try emit(.cast(to: .float32), [differs], name: "\(base).differs_f32", node: layer.name)
        let keep = try emit(.reduce(.max, axes: [last], keepDims: true), [floats], name: "\(base).keep", node: layer.name)
        let any = try emit(.reduce(.max, axes: [last], keepDims: false), [floats], name: "\(base).any", node: layer.name)
        let zero = addConstant("\(base).zero", Tensor(shape: [], floats: [0]))
        let mask = try emit(.compare(.greater), [any, zero], name: "\(base).mask", node: layer.name)
        let output = try emit(.binary(.mul), [x, keep], name: base, node: layer.name)
        masks[output] = .value(mask)
        return output
    }

    /// The mask as a bool value of the graph, computing an Embedding's `indices != 0` once.
    mutating func maskValue(_ mask: KerasMask, layer: LayerSpec) throws(KerasImportError) -> String {
        switch mask {
        case .value(let value):
            return value
        case .nonzero(let indices):
            if let existing = nonzeroMasks[indices] { return existing }
            let dtype = types[indices]!.dtype
            guard let zero = constantTensor(.number(0), dtype: dtype) else {
                throw maskError(layer, "indices of type \(dtype.textName) are not supported")
            }
            let value = try emit(
                .compare(.notEqual), [indices, addConstant("\(indices).zero", zero)], name: "\(indices).mask", node: layer.name)
            nonzeroMasks[indices] = value
            return value
        case .merged(let merging):
            throw maskError(
                layer, "its mask comes from merge layer '\(merging)', which combines masks; Kiln computes only an Embedding's mask")
        }
    }
}
