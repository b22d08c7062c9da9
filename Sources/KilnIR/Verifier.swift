/// A broken invariant of a graph.
public struct VerificationError: Error, Hashable, CustomStringConvertible {
    /// The node (or graph-level place) where the problem is.
    public var location: String
    public var message: String

    public init(_ location: String, _ message: String) {
        self.location = location
        self.message = message
    }

    public var description: String { "\(location): \(message)" }
}

extension Graph {
    /// Checks the graph's invariants: every value defined once, every use after its definition
    /// (topological order), inputs counts and types accepted by each op, and stored output types equal to
    /// the inferred ones. Throws the first problem found.
    public func verify() throws(VerificationError) {
        var types: [String: TensorType] = [:]
        func define(_ value: Value, at location: String) throws(VerificationError) {
            guard !value.name.isEmpty else { throw VerificationError(location, "a value has an empty name") }
            guard types[value.name] == nil else {
                throw VerificationError(location, "%\(value.name) is defined more than once")
            }
            types[value.name] = value.type
        }
        for input in inputs { try define(input, at: "input %\(input.name)") }
        for constant in constants {
            guard CheckedArithmetic.product(constant.tensor.shape) == constant.tensor.count else {
                throw VerificationError("const %\(constant.name)", "element count does not match its shape")
            }
            try define(constant.value, at: "const %\(constant.name)")
        }
        for node in nodes {
            let location = "node '\(node.name)' (\(node.op.name))"
            var inputTypes: [TensorType] = []
            for input in node.inputs {
                guard let type = types[input] else {
                    throw VerificationError(location, "uses %\(input) before it is defined (or it is never defined)")
                }
                inputTypes.append(type)
            }
            let inferred: [TensorType]
            do {
                inferred = try node.op.inferTypes(inputTypes)
            } catch {
                throw VerificationError(location, error.message)
            }
            guard inferred.count == node.outputs.count else {
                throw VerificationError(location, "defines \(node.outputs.count) outputs, the op produces \(inferred.count)")
            }
            for (output, type) in zip(node.outputs, inferred) {
                guard output.type == type else {
                    throw VerificationError(location, "%\(output.name) is declared \(output.type) but the op produces \(type)")
                }
                try define(output, at: location)
            }
        }
        guard !outputs.isEmpty else { throw VerificationError("graph @\(name)", "has no outputs") }
        for output in outputs where types[output] == nil {
            throw VerificationError("output %\(output)", "is not defined in the graph")
        }
        if Set(outputs).count != outputs.count {
            throw VerificationError("graph @\(name)", "lists an output more than once")
        }
    }
}
