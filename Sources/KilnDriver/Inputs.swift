import Foundation
import KilnIR

/// Graph inputs from `.npy` files or from a seeded generator.
public enum Inputs {
    /// Reads `[NAME=]FILE.npy` arguments. A bare file is matched to the graph input named like the file's
    /// stem, or to the only input if there is one; a NAME the graph has no input of is an error that lists
    /// the inputs.
    /// `model` names the model's file in errors about the memory the inputs would make it need.
    public static func load(_ arguments: [String], for graph: Graph, model: String? = nil) throws -> [String: Tensor] {
        var result: [String: Tensor] = [:]
        let names = graph.inputs.map(\.name)
        for argument in arguments {
            var name: String, path: String
            if let eq = argument.firstIndex(of: "="), names.contains(String(argument[..<eq])) {
                name = String(argument[..<eq])
                path = String(argument[argument.index(after: eq)...])
            } else if let eq = argument.firstIndex(of: "="), !FileManager.default.fileExists(atPath: argument) {
                // NAME=FILE with a NAME the model does not have (a file whose name holds '=' is read as it is).
                let inputs = graph.inputs.map { "\($0.name) (\($0.type))" }.joined(separator: ", ")
                throw InputError("the model has no input named '\(argument[..<eq])'; its inputs are \(inputs)")
            } else {
                path = argument
                let stem = URL(fileURLWithPath: path).deletingPathExtension().lastPathComponent
                if names.contains(stem) {
                    name = stem
                } else if names.count == 1 {
                    name = names[0]
                } else {
                    throw InputError(
                        "cannot tell which input \(path) is for; write NAME=\(path) with NAME one of \(names.joined(separator: ", "))")
                }
            }
            guard result[name] == nil else { throw InputError("input '\(name)' is given twice") }
            let tensor = try NPY.read(contentsOf: URL(fileURLWithPath: path))
            if tensor.shape.contains(0) {
                let what = tensor.shape.first == 0 ? "0 rows (examples)" : "a dimension of size 0"
                throw InputError("\(path): input '\(name)' has shape \(tensor.shape), \(what); give at least one example")
            }
            result[name] = tensor
        }
        for name in names where result[name] == nil {
            throw InputError("no file given for input '\(name)'; the model's inputs are \(names.joined(separator: ", "))")
        }
        var bindings: [String: Int] = [:]
        for input in graph.inputs {
            guard let tensor = result[input.name], tensor.shape.count == input.type.shape.rank else { continue }
            for (dim, size) in zip(input.type.shape.dims, tensor.shape) {
                if case .symbolic(let symbol) = dim { bindings[symbol] = bindings[symbol] ?? size }
            }
        }
        try checkMemory(of: graph, bindings: bindings, what: "with these inputs", model: model)
        return result
    }

    /// Refuses a graph any of whose values would need more bytes than `MemoryLimit` once its symbolic
    /// dimensions take the sizes in `bindings` (a symbol not bound counts as 1): the interpreter makes every
    /// value, so a declared shape must be checked before it runs. `what` says where the sizes came from.
    public static func checkMemory(of graph: Graph, bindings: [String: Int], what: String, model: String? = nil) throws {
        let value = model.map { "\($0): value" } ?? "value"
        for (name, type) in graph.valueTypes.sorted(by: { $0.key < $1.key }) {
            let sizes = type.shape.dims.map { dim -> Int in
                switch dim {
                case .fixed(let size): size
                case .symbolic(let symbol): bindings[symbol] ?? 1
                }
            }
            guard let bytes = MemoryLimit.byteCount(of: sizes, elementSize: type.dtype.byteSize) else {
                throw InputError(
                    "\(value) '\(name)' of the model (\(type)) \(what) would hold \(sizes) elements, more bytes than can be counted")
            }
            guard MemoryLimit.allows(bytes) else {
                throw InputError("\(value) '\(name)' of the model (\(type)) \(what) is \(sizes) and \(MemoryLimit.exceeded(by: bytes))")
            }
        }
    }

    /// Inputs of the given batch size filled from a fixed-seed generator: floats uniform in [-1, 1), integer
    /// inputs (indices) uniform over the rows of the smallest table they index.
    public static func random(for graph: Graph, batchSize: Int, seed: UInt64 = 0x5eed, model: String? = nil) throws -> [String: Tensor] {
        guard batchSize >= 1 else { throw InputError("the batch size must be at least 1, not \(batchSize)") }
        var symbols: Set<String> = []
        for input in graph.inputs {
            for case .symbolic(let symbol) in input.type.shape.dims { symbols.insert(symbol) }
        }
        try checkMemory(
            of: graph, bindings: Dictionary(uniqueKeysWithValues: symbols.map { ($0, batchSize) }),
            what: "at batch size \(batchSize)", model: model)
        var generator = SplitMix64(seed: seed)
        var result: [String: Tensor] = [:]
        for input in graph.inputs {
            let shape = input.type.shape.dims.map { dim -> Int in
                switch dim {
                case .fixed(let size): size
                case .symbolic: batchSize
                }
            }
            // checkMemory proved the byte count is countable and under the limit.
            let count = shape.reduce(1, *)
            switch input.type.dtype {
            case .float32:
                result[input.name] = Tensor(shape: shape, floats: (0..<count).map { _ in generator.nextUnitFloat() * 2 - 1 })
            case .int32, .int64:
                guard let rows = indexedRows(from: input.name, in: graph), rows > 0 else {
                    throw InputError("cannot tell the range of the integer input '\(input.name)' (\(input.type)); pass a .npy file")
                }
                let values = (0..<count).map { _ in Int64(generator.next() % UInt64(rows)) }
                result[input.name] = Tensor(
                    shape: shape, storage: input.type.dtype == .int32 ? .int32(values.map { Int32($0) }) : .int64(values))
            default:
                throw InputError("cannot make random values for input '\(input.name)' of type \(input.type); pass a .npy file")
            }
        }
        return result
    }

    /// The rows of the smallest table that `value` indexes in a Gather, following Casts and reshapes.
    private static func indexedRows(from value: String, in graph: Graph) -> Int? {
        let types = graph.valueTypes
        var reached: Set<String> = [value]
        var rows: Int?
        for node in graph.nodes {
            switch node.op {
            case .cast, .identity, .reshape, .flatten:
                if reached.contains(node.inputs[0]) { reached.formUnion(node.outputs.map(\.name)) }
            case .gather(let axis):
                guard reached.contains(node.inputs[1]), let data = types[node.inputs[0]] else { continue }
                let a = axis < 0 ? axis + data.shape.rank : axis
                if let size = data.shape.dims[a].fixedValue { rows = min(rows ?? size, size) }
            default:
                continue
            }
        }
        return rows
    }
}

/// A small, fast, deterministic generator (Steele, Lea and Flood's SplitMix64).
public struct SplitMix64: RandomNumberGenerator {
    private var state: UInt64

    public init(seed: UInt64) { state = seed }

    public mutating func next() -> UInt64 {
        state &+= 0x9e37_79b9_7f4a_7c15
        var z = state
        z = (z ^ (z >> 30)) &* 0xbf58_476d_1ce4_e5b9
        z = (z ^ (z >> 27)) &* 0x94d0_49bb_1331_11eb
        return z ^ (z >> 31)
    }

    /// A float in [0, 1) with 24 random bits.
    public mutating func nextUnitFloat() -> Float { Float(next() >> 40) / Float(1 << 24) }
}

public struct InputError: Error, CustomStringConvertible {
    public var message: String
    public init(_ message: String) { self.message = message }
    public var description: String { message }
}
