import KilnIR

/// The `main.swift` of a command-line program around generated executors, used by `kiln verify`,
/// `kiln bench` and the tests. Around one executor:
///
///     exe run WEIGHTS OUTDIR NAME=FILE.npy ...     writes OUTDIR/output-<i>.npy for the i-th output (from 0)
///     exe bench WEIGHTS --batch B ... --runs R      prints one JSON line per batch size
///
/// Around several (compiled together into one program, so one `swiftc` builds them all), the first argument
/// names the executor's type: `exe TYPE run ...`, `exe TYPE bench ...`.
///
/// `run` reads float32 (int32 and int64 for index inputs) `.npy` files (format 1.0 to 3.0, `<f4`, C order) and takes the batch size from
/// their first dimension, and any size the model leaves unknown from the dimension it is. `bench` runs those
/// sizes at 8 (`--size S` changes it) and times the allocation-free `predict` on seeded pseudo-random inputs after
/// a warm-up, with a monotonic clock, and prints `{"engine": "swift", "batch": B, "median_us": ..,
/// "p10_us": .., "p90_us": .., "runs": R}`. Errors go to stderr with exit status 1.
///
/// The helpers are declared once per program; each executor adds one function, `harnessModel<TYPE>()`.
/// The executors' type names must differ from each other and from the helpers' (`HarnessModel`,
/// `HarnessPredict`, `HarnessError`).
public enum SwiftHarness {
    /// The harness for `emission`, which must have been generated from `graph`.
    public static func mainSource(for emission: SwiftEmission, graph: Graph) -> String {
        var out = CodePrinter()
        out.lines(harnessHeader)
        writeModel(emission, graph, &out)
        out.line()
        out.line("do {")
        out.line("    try harnessMain(harnessModel\(emission.typeName)(), Array(CommandLine.arguments.dropFirst()))")
        writeCatch(&out)
        return out.text
    }

    /// The harness for several executors compiled into one program, each `emission` generated from its
    /// `graph`; the program's first argument is the type name of the executor to run.
    public static func mainSource(for models: [(emission: SwiftEmission, graph: Graph)]) -> String {
        var out = CodePrinter()
        out.lines(harnessHeader)
        for (emission, graph) in models {
            writeModel(emission, graph, &out)
            out.line()
        }
        let types = models.map(\.emission.typeName)
        out.line("do {")
        out.withIndentation { out in
            out.line("let arguments = Array(CommandLine.arguments.dropFirst())")
            out.line("let model: HarnessModel")
            out.line("switch arguments.first ?? \"\" {")
            for type in types { out.line("case \"\(type)\": model = harnessModel\(type)()") }
            out.line(
                "default: throw HarnessError(\"usage: MODEL run ... | MODEL bench ..., where MODEL is one of \(types.joined(separator: ", "))\")"
            )
            out.line("}")
            out.line("try harnessMain(model, Array(arguments.dropFirst()))")
        }
        writeCatch(&out)
        return out.text
    }

    /// `harnessModel<TYPE>()`: the executor's inputs and outputs, and its predict on caller-owned buffers,
    /// so timing includes no allocation.
    private static func writeModel(_ emission: SwiftEmission, _ graph: Graph, _ out: inout CodePrinter) {
        let type = emission.typeName
        let inputs = graph.inputs, outputs = graph.outputValues
        let names = SwiftNames(graph: graph)
        // Per-example shapes with -1 - k for the k-th size the model leaves unknown.
        let extra = SwiftPlan.sizeNames(of: graph).extra.map(\.symbol)
        func template(_ value: Value) -> [Int] {
            value.type.shape.dims.dropFirst().map { dim in
                if case .symbolic(let symbol) = dim, let k = extra.firstIndex(of: symbol) { return -1 - k }
                return dim.fixedValue ?? 1
            }
        }
        out.line("/// `\(type)`'s inputs and outputs, and how to load it.")
        out.block("func harnessModel\(type)() -> HarnessModel") { out in
            out.block("func load(_ path: String) throws -> HarnessPredict") { out in
                out.line("let model = try \(type)(weightsAt: URL(fileURLWithPath: path))")
                out.block(
                    "func predict(_ inputs: [UnsafeBufferPointer<Float>], _ outputs: [UnsafeMutableBufferPointer<Float>], _ batch: Int, _ sizes: [Int]) throws"
                ) {
                    out in
                    // Integer inputs (indices) arrive as floats holding whole numbers.
                    var integers: [(index: Int, type: String)] = []
                    for (index, input) in inputs.enumerated() where input.type.dtype == .int32 || input.type.dtype == .int64 {
                        integers.append((index, input.type.dtype == .int32 ? "Int32" : "Int64"))
                    }
                    var arguments = names.inputs.enumerated().map { index, name in
                        "\(SwiftNames.code(name)): \(integers.contains { $0.index == index } ? "indices\(index)" : "inputs[\(index)]")"
                    }
                    arguments.append("batchSize: batch")
                    arguments += Self.sizeParameters(graph).enumerated().map { "\(SwiftNames.code($1)): sizes[\($0)]" }
                    arguments += names.outputs.enumerated().map { "\(SwiftNames.code($1)): outputs[\($0)]" }
                    for (index, type) in integers { out.line("let integers\(index) = inputs[\(index)].map { \(type)($0) }") }
                    var call = "try model.predict(\(arguments.joined(separator: ", ")))"
                    for (index, _) in integers.reversed() {
                        call = "try integers\(index).withUnsafeBufferPointer { indices\(index) in \(call) }"
                    }
                    out.line(call)
                }
                out.line("return predict")
            }
            out.line("return HarnessModel(")
            out.withIndentation { out in
                out.line("inputNames: \(inputs.map(\.name)), outputNames: \(outputs.map(\.name)),")
                out.line(
                    "inputShapes: \(inputs.map(template)), outputShapes: \(outputs.map(template)), sizeCount: \(extra.count), load: load)")
            }
        }
    }

    /// The parameters the executor's `predict` takes the unknown sizes as, in order (as SwiftFileWriter
    /// names them).
    private static func sizeParameters(_ graph: Graph) -> [String] {
        let names = SwiftNames(graph: graph)
        var taken = Set(names.inputs + names.outputs + ["batchSize", "inputs"])
        return SwiftPlan.sizeNames(of: graph).extra.map { symbol, _ in
            var parameter = SwiftNames.identifier(symbol)
            while taken.contains(parameter) { parameter += "Size" }
            taken.insert(parameter)
            return parameter
        }
    }

    private static func writeCatch(_ out: inout CodePrinter) {
        out.line("} catch {")
        out.line("    FileHandle.standardError.write(Data(\"error: \\(error)\\n\".utf8))")
        out.line("    exit(1)")
        out.line("}")
    }

    private static let harnessHeader = #"""
        // Generated by Kiln: a command-line harness around generated executors. Do not edit.
        import Foundation

        func readNPY(_ path: String) throws -> (shape: [Int], values: [Float]) {
            let bytes = [UInt8](try Data(contentsOf: URL(fileURLWithPath: path)))
            guard bytes.count > 10, bytes[0] == 0x93, bytes[1...5].elementsEqual("NUMPY".utf8) else {
                throw HarnessError("\(path) is not a .npy file")
            }
            let major = bytes[6]
            guard (1...3).contains(major), bytes.count >= 12 else { throw HarnessError("\(path) has .npy format \(major), not 1.0 to 3.0") }
            let length = major == 1 ? Int(bytes[8]) | Int(bytes[9]) << 8 : (0..<4).reduce(0) { $0 | Int(bytes[8 + $1]) << (8 * $1) }
            let start = major == 1 ? 10 : 12
            guard bytes.count >= start + length else { throw HarnessError("\(path) is truncated inside its header") }
            let header = String(decoding: bytes[start..<start + length], as: UTF8.self)
            let width = header.contains("'<f4'") || header.contains("'<i4'") ? 4 : header.contains("'<i8'") ? 8 : 0
            guard width > 0 else { throw HarnessError("\(path) must hold little-endian float32, int32 or int64 values") }
            guard !header.contains("True") else { throw HarnessError("\(path) is in Fortran order; save it in C order") }
            guard let open = header.firstIndex(of: "("), let close = header.firstIndex(of: ")") else {
                throw HarnessError("\(path) has no shape")
            }
            let shape = header[header.index(after: open)..<close].split(separator: ",").compactMap {
                Int($0.trimmingCharacters(in: .whitespaces))
            }
            let count = shape.reduce(1, *)
            let body = start + length
            guard bytes.count >= body + width * count else { throw HarnessError("\(path) is truncated") }
            let values = bytes.withUnsafeBytes { raw in
                (0..<count).map { i -> Float in
                    if header.contains("'<i4'") { return Float(raw.loadUnaligned(fromByteOffset: body + 4 * i, as: Int32.self)) }
                    if width == 8 { return Float(raw.loadUnaligned(fromByteOffset: body + 8 * i, as: Int64.self)) }
                    return raw.loadUnaligned(fromByteOffset: body + 4 * i, as: Float.self)
                }
            }
            return (shape, values)
        }

        func writeNPY(_ path: String, shape: [Int], values: [Float]) throws {
            let dims = shape.count == 1 ? "(\(shape[0]),)" : "(" + shape.map(String.init).joined(separator: ", ") + ")"
            var header = "{'descr': '<f4', 'fortran_order': False, 'shape': \(dims), }"
            header += String(repeating: " ", count: (64 - (10 + header.utf8.count + 1) % 64) % 64) + "\n"
            var bytes: [UInt8] = [0x93] + Array("NUMPY".utf8) + [1, 0, UInt8(header.utf8.count & 0xff), UInt8(header.utf8.count >> 8)]
            bytes += Array(header.utf8)
            values.withUnsafeBytes { bytes += $0 }
            try Data(bytes).write(to: URL(fileURLWithPath: path))
        }

        struct HarnessError: Error, CustomStringConvertible {
            var description: String
            init(_ description: String) { self.description = description }
        }

        /// A loaded model's predict on caller-owned buffers: inputs, outputs, batch size, unknown sizes.
        typealias HarnessPredict = ([UnsafeBufferPointer<Float>], [UnsafeMutableBufferPointer<Float>], Int, [Int]) throws -> Void

        /// What the harness knows of one executor.
        struct HarnessModel {
            var inputNames: [String]
            var outputNames: [String]
            /// Per-example shapes; -1 - k stands for the k-th size the model leaves unknown.
            var inputShapes: [[Int]]
            var outputShapes: [[Int]]
            var sizeCount: Int
            /// Loads the weights file at a path.
            var load: (String) throws -> HarnessPredict
        }

        /// A per-example shape with the unknown sizes filled in.
        func resolved(_ shape: [Int], _ sizes: [Int]) -> [Int] { shape.map { $0 < 0 ? sizes[-1 - $0] : $0 } }

        func harnessMain(_ harness: HarnessModel, _ arguments: [String]) throws {
            let inputNames = harness.inputNames, outputNames = harness.outputNames
            let inputShapes = harness.inputShapes, outputShapes = harness.outputShapes
            guard arguments.count >= 2 else { throw HarnessError("usage: run WEIGHTS OUTDIR NAME=FILE.npy... | bench WEIGHTS --batch B --runs R [--size S]") }
            let predict = try harness.load(arguments[1])
            if arguments[0] == "run" {
                guard arguments.count >= 3 else { throw HarnessError("run needs an output directory") }
                var given: [String: (shape: [Int], values: [Float])] = [:]
                for pair in arguments.dropFirst(3) {
                    guard let eq = pair.firstIndex(of: "=") else { throw HarnessError("expected NAME=FILE.npy, got \(pair)") }
                    given[String(pair[..<eq])] = try readNPY(String(pair[pair.index(after: eq)...]))
                }
                for name in given.keys where !inputNames.contains(name) {
                    throw HarnessError("\(name) is not an input of the model; its inputs are \(inputNames)")
                }
                var batch = -1
                var sizes = [Int](repeating: -1, count: harness.sizeCount)
                var inputs: [[Float]] = []
                for (index, name) in inputNames.enumerated() {
                    guard let value = given[name] else { throw HarnessError("no file for input \(name)") }
                    let rows = value.shape.first ?? 1
                    let shape = inputShapes[index]
                    guard value.shape.count == shape.count + 1, batch == -1 || batch == rows else {
                        throw HarnessError("input \(name) has shape \(value.shape)")
                    }
                    // Unknown sizes come from the dimensions they are, and must agree across inputs.
                    for (axis, size) in shape.enumerated() where size < 0 {
                        guard sizes[-1 - size] == -1 || sizes[-1 - size] == value.shape[axis + 1] else {
                            throw HarnessError("input \(name) has shape \(value.shape), which disagrees with the other inputs")
                        }
                        sizes[-1 - size] = value.shape[axis + 1]
                    }
                    guard value.values.count == rows * resolved(shape, sizes).reduce(1, *) else {
                        throw HarnessError("input \(name) has shape \(value.shape)")
                    }
                    batch = rows
                    inputs.append(value.values)
                }
                var outputs = outputShapes.map { [Float](repeating: 0, count: resolved($0, sizes).reduce(1, *) * batch) }
                try withBuffers(inputs, &outputs) { try predict($0, $1, batch, sizes) }
                for index in outputNames.indices {
                    // By position: output names such as `x/y` and `x_y` would otherwise share a file.
                    let file = arguments[2] + "/output-\(index).npy"
                    try writeNPY(file, shape: [batch] + resolved(outputShapes[index], sizes), values: outputs[index])
                }
            } else if arguments[0] == "bench" {
                var batches: [Int] = []
                var runs = 100
                var size = 8
                var i = 2
                while i < arguments.count {
                    guard i + 1 < arguments.count, let value = Int(arguments[i + 1]), value >= 1 else {
                        throw HarnessError("\(arguments[i]) needs a whole number of at least 1 after it")
                    }
                    switch arguments[i] {
                    case "--batch": batches.append(value)
                    case "--runs": runs = value
                    case "--size": size = value
                    default: throw HarnessError("unknown bench option \(arguments[i]); expected --batch B, --runs R or --size S")
                    }
                    i += 2
                }
                let sizes = [Int](repeating: size, count: harness.sizeCount)
                for batch in batches.isEmpty ? [1] : batches {
                    var state: UInt64 = 0x5eed
                    let inputs = inputShapes.map { shape in
                        (0..<resolved(shape, sizes).reduce(1, *) * batch).map { _ -> Float in
                            state = state &* 6364136223846793005 &+ 1442695040888963407
                            return Float(state >> 40) / Float(1 << 24) * 2 - 1
                        }
                    }
                    var outputs = outputShapes.map { [Float](repeating: 0, count: resolved($0, sizes).reduce(1, *) * batch) }
                    var times: [Double] = []
                    try withBuffers(inputs, &outputs) { inputBuffers, outputBuffers in
                        for _ in 0..<max(3, runs / 10) { try predict(inputBuffers, outputBuffers, batch, sizes) }
                        for _ in 0..<runs {
                            let start = DispatchTime.now().uptimeNanoseconds
                            try predict(inputBuffers, outputBuffers, batch, sizes)
                            times.append(Double(DispatchTime.now().uptimeNanoseconds - start) / 1000)
                        }
                    }
                    times.sort()
                    let median = times[times.count / 2], p10 = times[times.count / 10], p90 = times[times.count * 9 / 10]
                    print("{\"engine\": \"swift\", \"batch\": \(batch), \"median_us\": \(median), \"p10_us\": \(p10), \"p90_us\": \(p90), \"runs\": \(runs)}")
                }
            } else {
                throw HarnessError("unknown mode \(arguments[0])")
            }
        }

        /// Pins every array's storage for the duration of `body`.
        func withBuffers(
            _ inputs: [[Float]], _ outputs: inout [[Float]],
            _ body: ([UnsafeBufferPointer<Float>], [UnsafeMutableBufferPointer<Float>]) throws -> Void
        ) throws {
            let inputPointers = inputs.map { values -> UnsafeMutableBufferPointer<Float> in
                let copy = UnsafeMutableBufferPointer<Float>.allocate(capacity: values.count)
                _ = copy.initialize(from: values)
                return copy
            }
            let outputPointers = outputs.map { UnsafeMutableBufferPointer<Float>.allocate(capacity: $0.count) }
            defer {
                inputPointers.forEach { $0.deallocate() }
                outputPointers.forEach { $0.deallocate() }
            }
            try body(inputPointers.map { UnsafeBufferPointer($0) }, outputPointers)
            for index in outputs.indices { outputs[index] = Array(outputPointers[index]) }
        }

        """#
}
