import KilnIR

/// Keras's EinsumDense (keras/src/layers/core/einsum_dense.py, tf_keras/src/layers/core/einsum_dense.py):
/// y = einsum(equation, x, kernel) + bias, then the activation. The kernel's and bias's shapes follow Keras's
/// `_analyze_split_string`: a kernel letter takes its size from the input or, if the input lacks it, from
/// `output_shape`; the bias covers the output from its first `bias_axes` letter on, 1 along the letters not in
/// `bias_axes`, and broadcasts over the rest.
///
/// Lowered as one matrix product: the input's letters are free (also in the output), contracted (also in the
/// kernel) or summed (in neither: ReduceSum); the kernel, laid out at import as [contracted, new] (its letters
/// absent from the input come last, in output order), is a [C, N] matrix; the input is transposed to [free...,
/// contracted...] and its contracted dimensions joined (Reshape), multiplied (MatMul), the new dimensions split
/// (Reshape) and the result transposed to the output's order. Transposes appear only where the letters are out
/// of order. A letter in the input, the kernel and the output at once (a per-slice product) is an error.
extension KerasLowering {
    mutating func einsumDense(_ layer: LayerSpec, _ x: String, base: String) throws(KerasImportError) -> String {
        let settings = config(of: layer)
        func unsupported(_ reason: String) -> KerasImportError {
            .unsupportedConfig(file: file, layer: layer.name, className: layer.className, reason: reason)
        }
        guard let equation = settings["equation"]?.string else {
            throw settings.invalid("equation", "an einsum equation such as ab,bc->ac")
        }
        let input = types[x]!.shape.dims
        let spec = try EinsumSpec(equation, inputRank: input.count) { settings.invalid("equation", $0) }
        // The output's sizes: Keras's output_shape leaves out the batch (and the elided dimensions).
        var outputSizes: [Character: Int] = [:]
        if let json = settings["output_shape"] {
            let items = json.array ?? [json]
            // Keras counts output_shape from after the batch, or from after the elided dimensions on the left.
            let named = spec.output.filter { !spec.elided.contains($0) }
            let letters = spec.leftElided && !spec.elided.isEmpty ? named : Array(named.dropFirst())
            for (letter, item) in zip(letters, items) where !item.isNull {
                guard let size = item.int, size >= 1, size <= LayerConfig.maxSize else {
                    throw settings.invalid("output_shape", "sizes from 1 to 2^31 or null")
                }
                outputSizes[letter] = size
            }
        }
        var letterSize: [Character: Dim] = [:]
        for (letter, dim) in zip(spec.input, input) { letterSize[letter] = dim }
        var kernelShape: [Int] = []
        for letter in spec.kernel {
            if let dim = letterSize[letter] {
                guard let size = dim.fixedValue else {
                    throw unsupported("its kernel letter '\(letter)' takes the input's unknown size \(dim)" + unknownSizeHint(types[x]!))
                }
                kernelShape.append(size)
            } else if let size = outputSizes[letter] {
                kernelShape.append(size)
                letterSize[letter] = .fixed(size)
            } else {
                throw settings.invalid("output_shape", "a size for the kernel letter '\(letter)', which the input lacks")
            }
        }
        for letter in spec.input where spec.kernel.contains(letter) && spec.output.contains(letter) {
            throw unsupported(
                "its letter '\(letter)' is in the input, the kernel and the output (a product per slice), which Kiln does not lower")
        }
        var biasShape: [Int]?
        if let axes = settings["bias_axes"]?.string, !axes.isEmpty {
            guard axes.allSatisfy(spec.output.contains), let first = spec.output.firstIndex(where: axes.contains) else {
                throw settings.invalid("bias_axes", "letters of the output '\(String(spec.output))'")
            }
            var shape: [Int] = []
            for letter in spec.output[first...] {
                guard axes.contains(letter) else {
                    shape.append(1)
                    continue
                }
                guard let size = letterSize[letter]?.fixedValue else {
                    throw unsupported("its bias axis '\(letter)' has the unknown size \(letterSize[letter].map { "\($0)" } ?? "?")")
                }
                shape.append(size)
            }
            biasShape = shape
        }
        let contracted = spec.input.filter { spec.kernel.contains($0) }
        let free = spec.input.filter { spec.output.contains($0) }
        let summed = spec.input.filter { !spec.kernel.contains($0) && !spec.output.contains($0) }
        let new = spec.output.filter { spec.kernel.contains($0) && !spec.input.contains($0) }
        let constants = try einsumWeights(layer, kernel: kernelShape, bias: biasShape, spec: spec, contracted: contracted, new: new)

        var value = x
        var letters = spec.input
        if !summed.isEmpty {
            let axes = summed.map { letters.firstIndex(of: $0)! }
            value = try emit(.reduce(.sum, axes: axes, keepDims: false), [value], name: "\(base).summed", node: layer.name)
            letters.removeAll(where: summed.contains)
        }
        let order = free + contracted
        if letters != order {
            let perm = order.map { letters.firstIndex(of: $0)! }
            value = try emit(.transpose(perm: perm), [value], name: "\(base).input", node: layer.name)
        }
        let c = contracted.reduce(1) { $0 * letterSize[$1]!.fixedValue! }
        if contracted.count != 1 {
            value = try emit(
                .reshape(shape: Array(repeating: 0, count: free.count) + [c]), [value], name: "\(base).joined", node: layer.name)
        }
        value = try emit(.matMul, [value, constants[0]], name: "\(base).matmul", node: layer.name)
        if new.count != 1 {
            let sizes = new.map { letterSize[$0]!.fixedValue! }
            value = try emit(
                .reshape(shape: Array(repeating: 0, count: free.count) + sizes), [value], name: "\(base).split", node: layer.name)
        }
        let produced = free + new
        if produced != spec.output {
            let perm = spec.output.map { produced.firstIndex(of: $0)! }
            value = try emit(.transpose(perm: perm), [value], name: "\(base).output", node: layer.name)
        }
        if constants.count == 2 { value = try emit(.binary(.add), [value, constants[1]], name: "\(base).bias_add", node: layer.name) }
        return try activation(value, base: base, layer: layer)
    }

    /// The kernel as a [contracted, new] matrix and the bias as Keras shapes it.
    private mutating func einsumWeights(
        _ layer: LayerSpec, kernel: [Int], bias: [Int]?, spec: EinsumSpec, contracted: [Character], new: [Character]
    ) throws(KerasImportError) -> [String] {
        if let cached = cachedConstants(of: layer) { return cached }
        let shapes = [kernel] + (bias.map { [$0] } ?? [])
        let loaded = try weights.weights(of: layer.name, expecting: shapes)
        guard loaded.count >= shapes.count else {
            throw .missingWeights(
                file: file, layer: layer.name, reason: "expected \(shapes.count) weight arrays, the file has \(loaded.count)")
        }
        for ((name, tensor), shape) in zip(loaded, shapes) where tensor.shape != shape {
            throw .weightShape(file: file, layer: layer.name, weight: name, expected: shape, got: tensor.shape)
        }
        let perm = (contracted + new).map { spec.kernel.firstIndex(of: $0)! }
        let rows = contracted.map { kernel[spec.kernel.firstIndex(of: $0)!] }.reduce(1, *)
        let matrix = Tensor(shape: [rows, kernel.reduce(1, *) / max(rows, 1)], storage: loaded[0].tensor.transposed(perm).storage)
        var names = [addConstant("\(layer.name).kernel", matrix)]
        if bias != nil { names.append(addConstant("\(layer.name).bias", loaded[1].tensor)) }
        rememberConstants(names, of: layer)
        return names
    }
}

/// An EinsumDense equation `input,kernel->output` with its ellipsis (`...`, on the left or the right of the input
/// and the output) replaced by letters of their own, one per elided input dimension.
struct EinsumSpec {
    var input: [Character]
    var kernel: [Character]
    var output: [Character]
    /// The letters standing for the elided dimensions.
    var elided: [Character] = []
    var leftElided = false

    init(_ equation: String, inputRank: Int, invalid: (String) -> KerasImportError) throws(KerasImportError) {
        let requirement = "an einsum equation input,kernel->output of letters, with '...' at the same end of the input and output"
        let sides = equation.replacingOccurrences(of: " ", with: "").components(separatedBy: "->")
        guard sides.count == 2 else { throw invalid(requirement) }
        let operands = sides[0].components(separatedBy: ",")
        guard operands.count == 2 else { throw invalid(requirement) }
        var (inputText, outputText) = (operands[0], sides[1])
        let kernelText = operands[1]
        let letters = Set("abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ")
        func plain(_ text: String) -> Bool { !text.isEmpty && text.allSatisfy(letters.contains) && Set(text).count == text.count }
        guard plain(kernelText) else { throw invalid(requirement) }
        if inputText.contains("...") {
            let left = inputText.hasPrefix("...") && outputText.hasPrefix("...")
            let right = inputText.hasSuffix("...") && outputText.hasSuffix("...")
            guard left || right else { throw invalid(requirement) }
            leftElided = left
            let named = inputText.replacingOccurrences(of: "...", with: "")
            let count = inputRank - named.count
            guard count >= 0 else { throw invalid("an input of \(named.count) letters or more dimensions") }
            let used = Set(inputText + kernelText + outputText)
            let fresh = letters.filter { !used.contains($0) }.sorted().prefix(count)
            guard fresh.count == count else { throw invalid(requirement) }
            elided = Array(fresh)
            let filler = String(fresh)
            inputText = inputText.replacingOccurrences(of: "...", with: filler)
            outputText = outputText.replacingOccurrences(of: "...", with: filler)
        }
        guard plain(inputText), plain(outputText), inputText.count == inputRank else {
            throw invalid(
                inputText.count == inputRank || !plain(inputText) ? requirement : "an input spec of \(inputRank) letters (the input's rank)"
            )
        }
        guard outputText.allSatisfy({ inputText.contains($0) || kernelText.contains($0) }),
            kernelText.allSatisfy({ inputText.contains($0) || outputText.contains($0) })
        else { throw invalid("every output and kernel letter in another operand, as Keras requires") }
        input = Array(inputText)
        kernel = Array(kernelText)
        output = Array(outputText)
    }
}
