import KilnIR

/// Writes the executor's `predict` methods: arrays in and an `Output` back; caller-owned buffers in and
/// out, allocating nothing once the arena fits the batch; and inputs and outputs by name, for harnesses.
struct SwiftPredictWriter {
    let plan: SwiftPlan
    let errorName: String
    /// Whether the graph gathers by index, so each run must report an index outside its table.
    let checksIndices: Bool
    /// Each input with its parameter name.
    let inputs: [(value: Value, name: String)]
    /// Each output with its parameter name.
    let outputs: [(value: Value, name: String)]
    /// The sizes the model leaves unknown besides the batch: each symbol, the parameter `predict` takes it
    /// as, and its name inside `run`. Empty for most models, whose API takes only `batchSize`.
    let sizes: [(symbol: String, parameter: String, variable: String)]

    /// Run-time sizes by their names inside `run`, as `predict` calls them.
    private var sizeArguments: [String: String] {
        Dictionary(uniqueKeysWithValues: [("batch", "batchSize")] + sizes.map { ($0.variable, $0.parameter) })
    }

    /// `batchSize: Int` and one `NAME: Int` per unknown size.
    private var sizeParameters: [String] { ["batchSize: Int"] + sizes.map { "\(SwiftNames.code($0.parameter)): Int" } }

    func write(_ out: inout CodePrinter) {
        writeTyped(&out)
        out.line()
        writeBuffers(&out)
        out.line()
        writeByName(&out)
        out.line()
        writeChecks(&out)
    }

    /// The element type the API takes for a value: Int32 or Int64 for indices, Float otherwise.
    private static func element(_ value: Value) -> String {
        switch value.type.dtype {
        case .int32: "Int32"
        case .int64: "Int64"
        default: "Float"
        }
    }

    /// Copies an input into the arena; integer indices become whole-number floats.
    private func store(_ value: Value, from buffer: String, _ out: inout CodePrinter) {
        if Self.element(value) == "Float" {
            out.line("(\(pointer(value.name))).update(from: \(buffer).baseAddress!, count: \(buffer).count)")
        } else {
            out.line("do {")
            out.line("    let target = \(pointer(value.name))")
            out.line("    for i in 0..<\(buffer).count { target[i] = Float(\(buffer)[i]) }")
            out.line("}")
        }
    }

    private func run(_ out: inout CodePrinter) {
        out.line("run(batch: batchSize" + sizes.map { ", \($0.variable): \(SwiftNames.code($0.parameter))" }.joined() + ")")
        guard checksIndices else { return }
        out.line("if let (node, index, size) = indexError {")
        out.line("    indexError = nil")
        out.line("    throw \(errorName).indexOutOfRange(node: node, index: index, size: size)")
        out.line("}")
    }

    private static func perExample(_ value: Value) -> [Int] { Array(value.type.shape.dims.dropFirst().map { $0.fixedValue ?? 0 }) }

    private static func count(_ value: Value) -> Int { max(1, perExample(value).reduce(1, *)) }

    private func shapeDoc(_ value: Value) -> String {
        "["
            + value.type.shape.dims.enumerated().map { index, dim in
                if let size = dim.fixedValue { return String(size) }
                guard index > 0, case .symbolic(let symbol) = dim, let size = sizes.first(where: { $0.symbol == symbol }) else {
                    return "batchSize"
                }
                return size.parameter
            }.joined(separator: ", ") + "]"
    }

    /// An element count as `predict` computes it, over `batchSize` and the size parameters.
    private func count(of value: String) -> String { plan.counts[value]!.index.renamed(sizeArguments).description }

    /// Operands inside `predict`: `self.` keeps them apart from parameters, whatever the inputs are called.
    private func pointer(_ value: String) -> String {
        plan.pointer(
            value, weights: "UnsafePointer<Float>(self.weights.assumingMemoryBound(to: Float.self))", arena: "self.arena",
            sizes: sizeArguments)
    }

    private func documentParameters(_ out: inout CodePrinter, outputsToo: Bool) {
        out.line("///")
        out.line("/// - Parameters:")
        for (value, name) in inputs { out.line("///   - \(name): \(shapeDoc(value)), row-major") }
        out.line("///   - batchSize: the number of examples, at least 1")
        for size in sizes { out.line("///   - \(size.parameter): the size the model leaves unknown (\(size.symbol)), at least 1") }
        guard outputsToo else { return }
        for (value, name) in outputs { out.line("///   - \(name): receives \(shapeDoc(value)), row-major") }
    }

    private func checks(_ values: [(value: Value, name: String)], _ out: inout CodePrinter) {
        out.line("try Self.check(batchSize: batchSize)")
        guard sizes.isEmpty else {
            // Counts over several run-time sizes, each product checked for overflow.
            for size in sizes { out.line("try Self.check(size: \(SwiftNames.code(size.parameter)), name: \"\(size.parameter)\")") }
            for (value, name) in values {
                out.line(
                    "try Self.check(\"\(value.name)\", count: \(SwiftNames.code(name)).count, expected: try Self.elements(\(terms(plan.counts[value.name]!.index))), shape: \(Self.perExample(value)))"
                )
            }
            out.line("reserve(floats: try Self.elements(\(terms(plan.arenaSize))))")
            return
        }
        for (value, name) in values {
            out.line(
                "try Self.check(\"\(value.name)\", count: \(SwiftNames.code(name)).count, perExample: \(Self.count(value)), shape: \(Self.perExample(value)), batchSize: batchSize)"
            )
        }
        out.line("reserve(batch: batchSize)")
    }

    /// The terms of a sum of products for `elements`: `[(coefficient, [factors])]` over the parameters.
    private func terms(_ index: SwiftIndex) -> String {
        let renamed = index.renamed(sizeArguments)
        let list = renamed.terms.sorted { $0.key < $1.key }.map { key, coefficient in
            "(\(coefficient), [\(key.isEmpty ? "" : key.split(separator: " * ").map { SwiftNames.code(String($0)) }.joined(separator: ", "))])"
        }
        return "[" + list.joined(separator: ", ") + "]"
    }

    private func writeTyped(_ out: inout CodePrinter) {
        out.line("/// Runs the model on `batchSize` examples.")
        documentParameters(&out, outputsToo: false)
        out.line("/// - Returns: every output, row-major with the batch first.")
        let parameters = inputs.map { "\(SwiftNames.code($0.name)): [\(Self.element($0.value))]" } + sizeParameters
        out.block("public func predict(\(parameters.joined(separator: ", "))) throws -> Output") { out in
            checks(inputs, &out)
            for (value, name) in inputs {
                if Self.element(value) == "Float" {
                    out.line(
                        "\(SwiftNames.code(name)).withUnsafeBufferPointer { (\(pointer(value.name))).update(from: $0.baseAddress!, count: $0.count) }"
                    )
                } else {
                    let code = SwiftNames.code(name)
                    out.line("do {")
                    out.line("    let target = \(pointer(value.name))")
                    out.line("    for i in 0..<\(code).count { target[i] = Float(\(code)[i]) }")
                    out.line("}")
                }
            }
            run(&out)
            let fields = outputs.map { value, name in
                let elements = sizes.isEmpty ? "batchSize * \(Self.count(value))" : count(of: value.name)
                return "\(SwiftNames.code(name)): Array(UnsafeBufferPointer(start: \(pointer(value.name)), count: \(elements)))"
            }
            out.line("return Output(\(fields.joined(separator: ", ")))")
        }
    }

    private func writeBuffers(_ out: inout CodePrinter) {
        out.line("/// Runs the model on `batchSize` examples in caller-owned buffers; allocates nothing once a batch this")
        out.line("/// large has been seen.")
        documentParameters(&out, outputsToo: true)
        let parameters =
            inputs.map { "\(SwiftNames.code($0.name)): UnsafeBufferPointer<\(Self.element($0.value))>" } + sizeParameters
            + outputs.map { "\(SwiftNames.code($0.name)): UnsafeMutableBufferPointer<Float>" }
        out.block("public func predict(\(parameters.joined(separator: ", "))) throws") { out in
            checks(inputs + outputs, &out)
            // The counts were checked against a batch of at least one, so every buffer has a base address.
            for (value, name) in inputs { store(value, from: SwiftNames.code(name), &out) }
            run(&out)
            for (value, name) in outputs {
                out.line(
                    "\(SwiftNames.code(name)).baseAddress!.update(from: \(pointer(value.name)), count: \(SwiftNames.code(name)).count)")
            }
        }
    }

    private func writeByName(_ out: inout CodePrinter) {
        out.line("/// Runs the model on inputs given by their names in the model (`inputNames`); returns outputs by name.")
        out.block("public func predict(inputs: [String: [Float]], \(sizeParameters.joined(separator: ", "))) throws -> [String: [Float]]") {
            out in
            out.line("for name in inputs.keys where !Self.inputNames.contains(name) { throw \(errorName).unknownInput(name: name) }")
            let arguments =
                inputs.map { value, name in
                    let read = Self.element(value) == "Float" ? "input" : "indices"
                    return "\(SwiftNames.code(name)): try Self.\(read)(\"\(value.name)\", in: inputs)"
                } + ["batchSize: batchSize"] + sizes.map { "\(SwiftNames.code($0.parameter)): \(SwiftNames.code($0.parameter))" }
            out.line("let kilnOutput = try predict(\(arguments.joined(separator: ", ")))")
            let entries = outputs.map { "\"\($0.value.name)\": kilnOutput.\(SwiftNames.code($0.name))" }
            out.line("return [\(entries.isEmpty ? ":" : entries.joined(separator: ", "))]")
        }
    }

    /// Checks of the run-time sizes besides the batch, for models that have them.
    private var sizeChecks: String {
        """
        private static func check(size: Int, name: String) throws {
            guard size > 0 else { throw \(errorName).invalidSize(name: name, size) }
        }

        /// A sum of products of sizes, or an error when it overflows.
        private static func elements(_ terms: [(Int, [Int])]) throws -> Int {
            var total = 0
            for (coefficient, factors) in terms {
                var product = coefficient
                for factor in factors {
                    let (next, overflow) = product.multipliedReportingOverflow(by: factor)
                    guard !overflow else { throw \(errorName).sizesTooLarge(factors) }
                    product = next
                }
                let (sum, overflow) = total.addingReportingOverflow(product)
                guard !overflow else { throw \(errorName).sizesTooLarge(factors) }
                total = sum
            }
            return total
        }

        private static func check(_ name: String, count: Int, expected: Int, shape: [Int]) throws {
            guard count == expected else { throw \(errorName).wrongCount(name: name, expected: expected, actual: count) }
        }


        """
    }

    private func writeChecks(_ out: inout CodePrinter) {
        if checksIndices {
            out.lines(
                """
                /// Indices given as floats: each must be a whole number.
                private static func indices<T: FixedWidthInteger>(_ name: String, in inputs: [String: [Float]]) throws -> [T] {
                    try input(name, in: inputs).map { value in
                        guard let index = T(exactly: value) else { throw \(errorName).notAnIndex(name: name, value: value) }
                        return index
                    }
                }

                """)
        }
        out.lines(
            """
            private static func input(_ name: String, in inputs: [String: [Float]]) throws -> [Float] {
                guard let values = inputs[name] else { throw \(errorName).missingInput(name: name) }
                return values
            }

            private static func check(batchSize: Int) throws {
                guard batchSize > 0 else { throw \(errorName).invalidBatchSize(batchSize) }
            }

            \(sizes.isEmpty ? "" : sizeChecks)private static func check(_ name: String, count: Int, perExample: Int, shape: [Int], batchSize: Int) throws {
                let (expected, overflow) = batchSize.multipliedReportingOverflow(by: perExample)
                guard !overflow else { throw \(errorName).invalidBatchSize(batchSize) }
                guard count == expected else {
                    throw \(errorName).wrongElementCount(name: name, expected: expected, actual: count, batchSize: batchSize, shape: shape)
                }
            }
            """)
    }
}
