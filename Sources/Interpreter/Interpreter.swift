import CBLAS
import KilnIR

/// Why the interpreter could not run a graph.
public enum InterpreterError: Error, CustomStringConvertible {
    case missingInput(String, expected: [String])
    case unexpectedInput(String, expected: [String])
    case inputMismatch(name: String, expected: TensorType, got: [Int], gotType: DType)
    case inconsistentDimension(symbol: String, sizes: [Int])
    case unsupported(node: String, op: String, reason: String)
    case invalidGraph(VerificationError)
    case indexOutOfRange(node: String, index: Int64, size: Int)

    public var description: String {
        switch self {
        case .missingInput(let name, let expected):
            "no value given for input '\(name)'; the graph's inputs are \(expected.joined(separator: ", "))"
        case .unexpectedInput(let name, let expected):
            "'\(name)' is not an input of the graph; its inputs are \(expected.joined(separator: ", "))"
        case .inputMismatch(let name, let expected, let got, let gotType):
            "input '\(name)' must be \(expected), got \(gotType.textName)\(got)"
        case .inconsistentDimension(let symbol, let sizes):
            "dimension \(symbol) is bound to different sizes by different inputs: \(sizes)"
        case .unsupported(let node, let op, let reason): "node '\(node)' (\(op)): \(reason)"
        case .invalidGraph(let error): "the graph is invalid: \(error)"
        case .indexOutOfRange(let node, let index, let size): "node '\(node)' (Gather): index \(index) is outside [0, \(size))"
        }
    }
}

/// The reference interpreter: runs any verified graph on concrete inputs. It is the oracle every other
/// engine is checked against, so it favors plain loops over cleverness; only matrix products go through
/// BLAS (`cblas_sgemm`).
public struct Interpreter: Sendable {
    public init() {}

    /// Runs `graph` and returns every graph output by name.
    public func run(_ graph: Graph, inputs: [String: Tensor]) throws -> [String: Tensor] {
        do {
            try graph.verify()
        } catch {
            throw InterpreterError.invalidGraph(error)
        }
        let inputNames = graph.inputs.map(\.name)
        for name in inputs.keys.sorted() where !inputNames.contains(name) {
            throw InterpreterError.unexpectedInput(name, expected: inputNames)
        }
        var bindings: [String: Int] = [:]
        var values: [String: Tensor] = [:]
        for input in graph.inputs {
            guard let tensor = inputs[input.name] else { throw InterpreterError.missingInput(input.name, expected: inputNames) }
            try bind(tensor, to: input, bindings: &bindings)
            values[input.name] = tensor
        }
        for constant in graph.constants { values[constant.name] = constant.tensor }

        // Free each value after its last use so large graphs do not keep every intermediate alive.
        var lastUse: [String: Int] = [:]
        for (index, node) in graph.nodes.enumerated() { for input in node.inputs { lastUse[input] = index } }
        let keep = Set(graph.outputs)

        for (index, node) in graph.nodes.enumerated() {
            let args = node.inputs.map { values[$0]! } // verify() proved every input is defined earlier
            let results = try Kernels.evaluate(node, args)
            for (output, result) in zip(node.outputs, results) { values[output.name] = result }
            for input in node.inputs where lastUse[input] == index && !keep.contains(input) {
                values[input] = nil
            }
        }
        return Dictionary(uniqueKeysWithValues: graph.outputs.map { ($0, values[$0]!) })
    }

    private func bind(_ tensor: Tensor, to input: Value, bindings: inout [String: Int]) throws {
        let mismatch = InterpreterError.inputMismatch(name: input.name, expected: input.type, got: tensor.shape, gotType: tensor.dtype)
        guard tensor.dtype == input.type.dtype, tensor.shape.count == input.type.shape.rank else { throw mismatch }
        for (dim, size) in zip(input.type.shape.dims, tensor.shape) {
            switch dim {
            case .fixed(let expected):
                guard expected == size else { throw mismatch }
            case .symbolic(let symbol):
                if let bound = bindings[symbol], bound != size {
                    throw InterpreterError.inconsistentDimension(symbol: symbol, sizes: [bound, size])
                }
                bindings[symbol] = size
            }
        }
    }
}

extension Interpreter {
    /// Runs one node on concrete inputs: what constant folding uses, so folded values are exactly what the
    /// interpreter would compute at run time.
    public static func evaluate(_ node: Node, _ inputs: [Tensor]) throws -> [Tensor] {
        try Kernels.evaluate(node, inputs)
    }
}
