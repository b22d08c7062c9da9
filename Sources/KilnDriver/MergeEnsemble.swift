import KilnIR

/// The nodes of an ensemble output, built from existing ops so that the interpreter, ONNX and the
/// generated Swift all run them:
///
/// - mean: `Div(Add(Add(a, b), c), 3)`;
/// - max: `Maximum(Maximum(a, b), c)`;
/// - vote: each model's argmax along the last axis as a one-hot row, summed into votes per class
///   (`NAME_votes`, f32[N,C]), and the class with the most votes, ties to the lowest index, as a float
///   (`NAME`, f32[N]).
///
/// The one-hot of the first argmax of x (finite values) is exact in float arithmetic:
///
///     gap    = ReduceMax(x) - x                      0 exactly at the maxima, else at least 2^-149
///     isMax  = 1 - Min(gap * 2^75, 2^-74) * 2^74     1 at the maxima, else 0
///     before = isMax x U                             U[i][j] = 1 when i < j: maxima at lower indexes
///     first  = isMax * (1 - Min(before, 1))          only the first maximum stays
enum Ensemble {
    static func append(_ spec: EnsembleSpec, over values: [String], to graph: inout Graph) throws(MergeError) -> [String] {
        guard values.count >= 2 else { throw .ensemble(spec.name, reason: "needs at least two outputs, got \(values.count)") }
        let types = graph.valueTypes
        let type = types[values[0]]!
        for value in values where types[value] != type {
            throw .ensemble(spec.name, reason: "outputs \(values[0]) (\(type)) and \(value) (\(types[value]!)) differ in type")
        }
        guard type.dtype == .float32 else { throw .ensemble(spec.name, reason: "outputs are \(type.dtype.textName), not f32") }
        var builder = EnsembleBuilder(graph: graph, name: spec.name, type: type)
        var outputs: [String] = []
        switch spec.kind {
        case .mean:
            let sum = builder.chain(.binary(.add), values, last: nil)
            let count = builder.constant("count", [Float(values.count)])
            outputs = [builder.node(.binary(.div), [sum, count], type, named: spec.name)]
        case .max:
            outputs = [builder.chain(.binary(.max), values, last: spec.name)]
        case .vote:
            guard type.shape.rank == 2, let classes = type.shape.dims[1].fixedValue else {
                throw .ensemble(spec.name, reason: "vote needs outputs of shape [N, classes], got \(type)")
            }
            let votes = builder.chain(
                .binary(.add), values.map { builder.firstArgMaxOneHot($0, classes: classes) }, last: "\(spec.name)_votes")
            let winner = builder.firstArgMaxOneHot(votes, classes: classes)
            let indexes = builder.constant("class_index", (0..<classes).map(Float.init), shape: [classes, 1])
            let column = TensorType(.float32, Shape([type.shape.dims[0], .fixed(1)]))
            let index = builder.node(.matMul, [winner, indexes], column, named: nil)
            let flat = TensorType(.float32, Shape([type.shape.dims[0]]))
            outputs = [builder.node(.reshape(shape: [-1]), [index], flat, named: spec.name), votes]
        }
        graph = builder.graph
        graph.outputs += outputs
        return outputs
    }
}

/// Appends an ensemble's constants and nodes under names derived from the ensemble's.
private struct EnsembleBuilder {
    var graph: Graph
    let name: String
    let type: TensorType
    private var counter = 0

    init(graph: Graph, name: String, type: TensorType) {
        self.graph = graph
        self.name = name
        self.type = type
    }

    mutating func constant(_ label: String, _ values: [Float], shape: [Int]? = nil) -> String {
        let constantName = graph.freshName("\(name).\(label)")
        graph.constants.append(Constant(constantName, Tensor(shape: shape ?? [values.count], floats: values)))
        return constantName
    }

    /// A node with one result, named `named` or a fresh `NAME.tN`.
    mutating func node(_ op: Op, _ inputs: [String], _ type: TensorType, named: String?) -> String {
        let result: String
        if let named {
            result = named
        } else {
            counter += 1
            result = graph.freshName("\(name).t\(counter)")
        }
        graph.nodes.append(Node(name: result, op: op, inputs: inputs, outputs: [Value(result, type)]))
        return result
    }

    /// `op(op(a, b), c)...`, the last result named `last` when given.
    mutating func chain(_ op: Op, _ values: [String], last: String?) -> String {
        var result = values[0]
        for (i, value) in values.dropFirst().enumerated() {
            result = node(op, [result, value], type, named: i == values.count - 2 ? last : nil)
        }
        return result
    }

    /// 1 at the first maximum of each row of `x` (shape [N, classes]), 0 elsewhere.
    mutating func firstArgMaxOneHot(_ x: String, classes: Int) -> String {
        let rowType = TensorType(.float32, Shape([type.shape.dims[0], .fixed(1)]))
        let one = constant("one", [1])
        let up = constant("scale_up", [0x1p75])
        let cap = constant("cap", [0x1p-74])
        let down = constant("scale_down", [0x1p74])
        var strictlyUpper = [Float](repeating: 0, count: classes * classes)
        for i in 0..<classes { for j in (i + 1)..<max(i + 1, classes) { strictlyUpper[i * classes + j] = 1 } }
        let upper = constant("earlier_classes", strictlyUpper, shape: [classes, classes])

        let rowMax = node(.reduce(.max, axes: [-1], keepDims: true), [x], rowType, named: nil)
        let gap = node(.binary(.sub), [rowMax, x], type, named: nil)
        let scaled = node(.binary(.mul), [gap, up], type, named: nil)
        let capped = node(.binary(.min), [scaled, cap], type, named: nil)
        let notMax = node(.binary(.mul), [capped, down], type, named: nil)
        let isMax = node(.binary(.sub), [one, notMax], type, named: nil)
        let before = node(.matMul, [isMax, upper], type, named: nil)
        let seen = node(.binary(.min), [before, one], type, named: nil)
        let unseen = node(.binary(.sub), [one, seen], type, named: nil)
        return node(.binary(.mul), [isMax, unseen], type, named: nil)
    }
}
