/// A named, typed value: a graph input or a node result.
public struct Value: Hashable, Sendable {
    public var name: String
    public var type: TensorType

    public init(_ name: String, _ type: TensorType) {
        self.name = name
        self.type = type
    }
}

/// A named constant tensor (an initializer): weights, biases, shapes.
public struct Constant: Hashable, Sendable {
    public var name: String
    public var tensor: Tensor

    public init(_ name: String, _ tensor: Tensor) {
        self.name = name
        self.tensor = tensor
    }

    public var value: Value { Value(name, tensor.type) }
}

/// One operation: reads values by name and defines its outputs (single assignment).
public struct Node: Hashable, Sendable {
    /// The node's name, usually the source layer it came from.
    public var name: String
    public var op: Op
    public var inputs: [String]
    public var outputs: [Value]

    public init(name: String, op: Op, inputs: [String], outputs: [Value]) {
        self.name = name
        self.op = op
        self.inputs = inputs
        self.outputs = outputs
    }

    /// The type of the first (usually only) output.
    public var outputType: TensorType { outputs[0].type }
}

/// A model: named inputs, constant initializers, nodes in topological order and named outputs.
public struct Graph: Hashable, Sendable {
    public var name: String
    public var inputs: [Value]
    public var constants: [Constant]
    public var nodes: [Node]
    /// Names of the values the graph returns, in order.
    public var outputs: [String]
    /// Free-form facts about the source, such as `source = "keras 3.12.0"`; printed sorted by key.
    public var metadata: [String: String]

    public init(
        name: String, inputs: [Value] = [], constants: [Constant] = [], nodes: [Node] = [], outputs: [String] = [],
        metadata: [String: String] = [:]
    ) {
        self.name = name
        self.inputs = inputs
        self.constants = constants
        self.nodes = nodes
        self.outputs = outputs
        self.metadata = metadata
    }

    /// The type of every named value: inputs, constants and node outputs.
    public var valueTypes: [String: TensorType] {
        var types: [String: TensorType] = [:]
        for input in inputs { types[input.name] = input.type }
        for constant in constants { types[constant.name] = constant.tensor.type }
        for node in nodes { for output in node.outputs { types[output.name] = output.type } }
        return types
    }

    /// The output values with their types, in order. Names that are not defined are skipped; the verifier
    /// reports them.
    public var outputValues: [Value] {
        let types = valueTypes
        return outputs.compactMap { name in types[name].map { Value(name, $0) } }
    }

    /// Constants by name.
    public var constantsByName: [String: Tensor] {
        Dictionary(constants.map { ($0.name, $0.tensor) }, uniquingKeysWith: { first, _ in first })
    }

    /// The number of parameters (elements of all constants).
    public var parameterCount: Int { constants.reduce(0) { $0 + $1.tensor.count } }

    /// The bytes taken by all constants.
    public var parameterBytes: Int { constants.reduce(0) { $0 + $1.tensor.count * $1.tensor.dtype.byteSize } }
}
