/// A typed attribute value as written in the text form: `{axis = 1, alpha = 0.2, perm = [0, 2, 1]}`.
public enum Attribute: Hashable, Sendable, CustomStringConvertible {
    case int(Int)
    case float(Float)
    case bool(Bool)
    case ints([Int])
    case dtype(DType)
    /// An activation with its own attributes: `Relu`, `LeakyRelu(alpha = 0.2)`.
    case activation(Activation)
    /// A list of activations: `[Sigmoid, Tanh, HardSigmoid(alpha = 0.2, beta = 0.5)]`.
    case activations([Activation])
    /// A lowercase word naming one of a fixed set of choices: `forward`.
    case word(String)

    public var description: String {
        switch self {
        case .int(let v): String(v)
        case .float(let v): formatFloat(v)
        case .bool(let v): v ? "true" : "false"
        case .ints(let v): "[" + v.map(String.init).joined(separator: ", ") + "]"
        case .dtype(let v): v.textName
        case .activation(let v): v.text
        case .activations(let v): "[" + v.map(\.text).joined(separator: ", ") + "]"
        case .word(let v): v
        }
    }
}

/// Shortest text that reads back as the same Float; always has a '.' or exponent so it parses as a float.
func formatFloat(_ value: Float) -> String {
    let text = value.description
    // A byte scan: `String.contains` with Foundation imported goes through NSString and costs microseconds.
    let marks: [UInt8] = [UInt8(ascii: "."), UInt8(ascii: "e"), UInt8(ascii: "n"), UInt8(ascii: "i")]
    if text.utf8.contains(where: marks.contains) { return text }
    return text + ".0"
}

extension Op {
    /// The op's name in the text form.
    public var name: String {
        switch self {
        case .identity: "Identity"
        case .activation(let activation): activation.name
        case .binary(let op): op.name
        case .compare(let comparison): comparison.name
        case .matMul: "MatMul"
        case .gemm: "Gemm"
        case .softmax: "Softmax"
        case .flatten: "Flatten"
        case .reshape: "Reshape"
        case .transpose: "Transpose"
        case .cast: "Cast"
        case .conv: "Conv"
        case .convTranspose: "ConvTranspose"
        case .pool(let pooling): pooling.kind == .max ? "MaxPool" : "AveragePool"
        case .reduce(let reduction, _, _): "Reduce" + reduction.rawValue.prefix(1).uppercased() + reduction.rawValue.dropFirst()
        case .batchNorm: "BatchNorm"
        case .layerNorm: "LayerNorm"
        case .concat: "Concat"
        case .pad: "Pad"
        case .crop: "Crop"
        case .slice: "Slice"
        case .upsample(_, let mode): mode == .nearest ? "UpsampleNearest" : "UpsampleLinear"
        case .gather: "Gather"
        case .quantizeLinear: "QuantizeLinear"
        case .dequantizeLinear: "DequantizeLinear"
        case .recurrent(let recurrence):
            switch recurrence.cell {
            case .rnn: "RNN"
            case .gru: "GRU"
            case .lstm: "LSTM"
            }
        case .attention: "Attention"
        case .fused(let product, _): product.name
        }
    }

    /// The attributes in their printed order.
    public var attributes: [(name: String, value: Attribute)] {
        switch self {
        case .identity, .binary, .compare, .matMul: []
        case .activation(let activation): activation.attributes
        case .gemm(let transB): [("transB", .bool(transB))]
        case .softmax(let axis): [("axis", .int(axis))]
        case .flatten(let axis): [("axis", .int(axis))]
        case .reshape(let shape): [("shape", .ints(shape))]
        case .transpose(let perm): [("perm", .ints(perm))]
        case .cast(let to): [("to", .dtype(to))]
        case .conv(let c), .convTranspose(let c):
            [("strides", .ints(c.strides)), ("dilations", .ints(c.dilations)), ("pads", .ints(c.pads)), ("groups", .int(c.groups))]
        case .pool(let p): [("window", .ints(p.window)), ("strides", .ints(p.strides)), ("pads", .ints(p.pads))]
        case .reduce(_, let axes, let keepDims): [("axes", .ints(axes)), ("keepDims", .bool(keepDims))]
        case .batchNorm(let epsilon, let axis): [("epsilon", .float(epsilon)), ("axis", .int(axis))]
        case .layerNorm(let axis, let epsilon): [("axis", .int(axis)), ("epsilon", .float(epsilon))]
        case .concat(let axis): [("axis", .int(axis))]
        case .pad(let pads, let value): [("pads", .ints(pads)), ("value", .float(value))]
        case .crop(let pads): [("pads", .ints(pads))]
        case .slice(let axes, let starts, let ends, let steps):
            [("axes", .ints(axes)), ("starts", .ints(starts)), ("ends", .ints(ends)), ("steps", .ints(steps))]
        case .upsample(let factors, _): [("factors", .ints(factors))]
        case .gather(let axis): [("axis", .int(axis))]
        case .quantizeLinear(let axis), .dequantizeLinear(let axis): [("axis", .int(axis))]
        case .recurrent(let r):
            [("hiddenSize", .int(r.hiddenSize)), ("direction", .word(r.direction.rawValue)), ("activations", .activations(r.activations))]
                + (r.cell == .gru(linearBeforeReset: true) ? [("linearBeforeReset", .bool(true))] : [])
                + (r.maskedOutput.map { [("maskedOutput", .word($0.rawValue))] } ?? [])
        case .attention(let a):
            [("scale", .float(a.scale))] + (a.score == .dot ? [] : [("score", .word(a.score.rawValue))])
                + (a.causal ? [("causal", .bool(true))] : [])
                + (a.fullyMaskedRows == .uniform ? [] : [("fullyMaskedRows", .word(a.fullyMaskedRows.rawValue))])
                + (a.returnsScores ? [("returnsScores", .bool(true))] : [])
        case .fused(let product, let epilogue): product.attributes + [("epilogue", .activation(epilogue))]
        }
    }

    /// How many inputs the op takes.
    public var arity: ClosedRange<Int> {
        switch self {
        case .identity, .activation, .softmax, .flatten, .reshape, .transpose, .cast, .pool, .reduce, .pad, .crop, .slice, .upsample: 1...1
        case .binary, .compare, .matMul, .gather: 2...2
        case .gemm, .conv, .convTranspose: 2...3
        case .quantizeLinear, .dequantizeLinear: 3...3
        case .batchNorm: 5...5
        case .layerNorm: 1...3
        case .concat: 1...Int.max
        case .recurrent(let recurrence): recurrence.minimumInputs...recurrence.maximumInputs
        case .attention(let a): a.score == .dot ? 3...4 : 4...5
        case .fused(let product, _): product.arity
        }
    }

    /// Every op name the text parser accepts.
    public static let allNames: [String] =
        [
            "Identity", "MatMul", "Gemm", "Softmax", "Flatten", "Reshape", "Transpose", "Cast", "Conv", "ConvTranspose", "MaxPool",
            "AveragePool", "ReduceMean", "ReduceMax", "ReduceMin", "ReduceSum", "BatchNorm",
            "LayerNorm", "Concat", "Pad", "Crop", "Slice", "UpsampleNearest", "UpsampleLinear", "Gather", "QuantizeLinear",
            "DequantizeLinear", "RNN", "GRU", "LSTM", "Attention",
        ] + BinaryOp.allCases.map(\.name) + Comparison.allCases.map(\.name) + Activation.allNames

    private static let binaryOps = Dictionary(uniqueKeysWithValues: BinaryOp.allCases.map { ($0.name, $0) })
    private static let comparisons = Dictionary(uniqueKeysWithValues: Comparison.allCases.map { ($0.name, $0) })

    /// Builds an op from its text-form name and attributes.
    public init(name: String, attributes: [String: Attribute]) throws(OpSyntaxError) {
        var attributes = attributes
        if let epilogue = attributes.removeValue(forKey: "epilogue") {
            guard case .activation(let activation) = epilogue else {
                throw .wrongAttributeType(op: name, name: "epilogue", expected: "an activation such as Relu or LeakyRelu(alpha = 0.2)")
            }
            let product = try Op(name: name, attributes: attributes)
            guard product.acceptsEpilogue else { throw .unexpectedAttributes(op: name, names: ["epilogue"]) }
            self = .fused(product, epilogue: activation)
            return
        }
        var reader = AttributeReader(op: name, attributes: attributes)
        if let binary = Self.binaryOps[name] {
            try reader.finish()
            self = .binary(binary)
            return
        }
        if let comparison = Self.comparisons[name] {
            try reader.finish()
            self = .compare(comparison)
            return
        }
        switch name {
        case "Identity": self = .identity
        case "MatMul": self = .matMul
        case "Gemm": self = .gemm(transB: try reader.bool("transB", default: false))
        case "Softmax": self = .softmax(axis: try reader.int("axis", default: -1))
        case "Flatten": self = .flatten(axis: try reader.int("axis", default: 1))
        case "Reshape": self = .reshape(shape: try reader.ints("shape"))
        case "Transpose": self = .transpose(perm: try reader.ints("perm"))
        case "Cast": self = .cast(to: try reader.dtype("to"))
        case "Conv", "ConvTranspose":
            let convolution = Convolution(
                strides: try reader.ints("strides"), dilations: try reader.ints("dilations"), pads: try reader.ints("pads"),
                groups: try reader.int("groups", default: 1))
            self = name == "Conv" ? .conv(convolution) : .convTranspose(convolution)
        case "MaxPool", "AveragePool":
            self = .pool(
                Pooling(
                    kind: name == "MaxPool" ? .max : .average, window: try reader.ints("window"), strides: try reader.ints("strides"),
                    pads: try reader.ints("pads")))
        case "ReduceMean", "ReduceMax", "ReduceMin", "ReduceSum":
            self = .reduce(
                Reduction(rawValue: name.dropFirst("Reduce".count).lowercased())!, axes: try reader.ints("axes"),
                keepDims: try reader.bool("keepDims", default: false))
        case "BatchNorm": self = .batchNorm(epsilon: try reader.float("epsilon"), axis: try reader.int("axis", default: -1))
        case "LayerNorm": self = .layerNorm(axis: try reader.int("axis", default: -1), epsilon: try reader.float("epsilon"))
        case "Concat": self = .concat(axis: try reader.int("axis"))
        case "Pad": self = .pad(pads: try reader.ints("pads"), value: try reader.float("value", default: 0))
        case "Crop": self = .crop(pads: try reader.ints("pads"))
        case "Slice":
            self = .slice(
                axes: try reader.ints("axes"), starts: try reader.ints("starts"), ends: try reader.ints("ends"),
                steps: try reader.ints("steps"))
        case "UpsampleNearest", "UpsampleLinear":
            self = .upsample(factors: try reader.ints("factors"), mode: name == "UpsampleNearest" ? .nearest : .linear)
        case "Gather": self = .gather(axis: try reader.int("axis", default: 0))
        case "QuantizeLinear": self = .quantizeLinear(axis: try reader.int("axis", default: 1))
        case "DequantizeLinear": self = .dequantizeLinear(axis: try reader.int("axis", default: 1))
        case "RNN", "GRU", "LSTM":
            let cell: Recurrence.Cell =
                switch name {
                case "RNN": .rnn
                case "GRU": .gru(linearBeforeReset: try reader.bool("linearBeforeReset", default: false))
                default: .lstm
                }
            let directionName = try reader.word("direction", default: Recurrence.Direction.forward.rawValue)
            guard let direction = Recurrence.Direction(rawValue: directionName) else {
                throw .wrongAttributeType(op: name, name: "direction", expected: "forward, reverse or bidirectional")
            }
            let activations = try reader.activations("activations", default: Recurrence.defaultActivations(cell, direction: direction))
            let maskedName = try reader.word("maskedOutput", default: "")
            var maskedOutput: Recurrence.MaskedOutput?
            if !maskedName.isEmpty {
                guard let parsed = Recurrence.MaskedOutput(rawValue: maskedName) else {
                    throw .wrongAttributeType(op: name, name: "maskedOutput", expected: "zeros or previous")
                }
                maskedOutput = parsed
            }
            self = .recurrent(
                Recurrence(
                    cell: cell, direction: direction, hiddenSize: try reader.int("hiddenSize"), activations: activations,
                    maskedOutput: maskedOutput))
        case "Attention":
            let rows = try reader.word("fullyMaskedRows", default: Attention.FullyMaskedRows.uniform.rawValue)
            guard let fullyMaskedRows = Attention.FullyMaskedRows(rawValue: rows) else {
                throw .wrongAttributeType(op: name, name: "fullyMaskedRows", expected: "uniform, zero or ones")
            }
            let scoreName = try reader.word("score", default: Attention.Score.dot.rawValue)
            guard let score = Attention.Score(rawValue: scoreName) else {
                throw .wrongAttributeType(op: name, name: "score", expected: "dot or additive")
            }
            self = .attention(
                Attention(
                    scale: try reader.float("scale"), score: score, causal: try reader.bool("causal", default: false),
                    fullyMaskedRows: fullyMaskedRows,
                    returnsScores: try reader.bool("returnsScores", default: false)))
        default:
            guard let activation = try Activation(name: name, reader: &reader) else {
                throw OpSyntaxError.unknownOp(name)
            }
            self = .activation(activation)
        }
        try reader.finish()
    }
}

extension Activation {
    /// The activation as an attribute value: its name, then its attributes in parentheses if it has any.
    var text: String {
        name + (attributes.isEmpty ? "" : "(" + attributes.map { "\($0.name) = \($0.value)" }.joined(separator: ", ") + ")")
    }

    public var name: String {
        switch self {
        case .relu: "Relu"
        case .sigmoid: "Sigmoid"
        case .tanh: "Tanh"
        case .exp: "Exp"
        case .softplus: "Softplus"
        case .softsign: "Softsign"
        case .elu: "Elu"
        case .selu: "Selu"
        case .gelu: "Gelu"
        case .swish: "Swish"
        case .hardSigmoid: "HardSigmoid"
        case .leakyRelu: "LeakyRelu"
        case .clip: "Clip"
        case .sqrt: "Sqrt"
        case .thresholdedRelu: "ThresholdedRelu"
        case .log: "Log"
        case .abs: "Abs"
        case .neg: "Neg"
        case .erf: "Erf"
        case .reciprocal: "Reciprocal"
        }
    }

    static let allNames = [
        "Relu", "Sigmoid", "Tanh", "Exp", "Softplus", "Softsign", "Elu", "Selu", "Gelu", "Swish", "HardSigmoid",
        "LeakyRelu", "Clip", "Sqrt", "ThresholdedRelu", "Log", "Abs", "Neg", "Erf", "Reciprocal",
    ]

    var attributes: [(name: String, value: Attribute)] {
        switch self {
        case .relu, .sigmoid, .tanh, .exp, .softplus, .softsign, .swish, .sqrt, .log, .abs, .neg, .erf, .reciprocal: []
        case .thresholdedRelu(let theta): [("theta", .float(theta))]
        case .elu(let alpha), .leakyRelu(let alpha): [("alpha", .float(alpha))]
        case .selu(let alpha, let gamma): [("alpha", .float(alpha)), ("gamma", .float(gamma))]
        case .gelu(let approximate): [("approximate", .bool(approximate))]
        case .hardSigmoid(let alpha, let beta): [("alpha", .float(alpha)), ("beta", .float(beta))]
        case .clip(let min, let max): [("min", .float(min)), ("max", .float(max))]
        }
    }

    /// Builds an activation from its text-form name and attributes; nil when `name` is no activation.
    init?(name: String, attributes: [String: Attribute]) throws(OpSyntaxError) {
        var reader = AttributeReader(op: name, attributes: attributes)
        guard let activation = try Activation(name: name, reader: &reader) else { return nil }
        try reader.finish()
        self = activation
    }

    init?(name: String, reader: inout AttributeReader) throws(OpSyntaxError) {
        switch name {
        case "Relu": self = .relu
        case "Sigmoid": self = .sigmoid
        case "Tanh": self = .tanh
        case "Exp": self = .exp
        case "Softplus": self = .softplus
        case "Softsign": self = .softsign
        case "Swish": self = .swish
        case "Elu": self = .elu(alpha: try reader.float("alpha", default: 1))
        case "Selu":
            self = .selu(
                alpha: try reader.float("alpha", default: Activation.seluAlpha),
                gamma: try reader.float("gamma", default: Activation.seluGamma))
        case "Gelu": self = .gelu(approximate: try reader.bool("approximate", default: false))
        case "HardSigmoid":
            self = .hardSigmoid(alpha: try reader.float("alpha", default: 0.2), beta: try reader.float("beta", default: 0.5))
        case "LeakyRelu": self = .leakyRelu(alpha: try reader.float("alpha", default: 0.01))
        case "Clip": self = .clip(min: try reader.float("min"), max: try reader.float("max"))
        case "Sqrt": self = .sqrt
        case "Log": self = .log
        case "Abs": self = .abs
        case "Neg": self = .neg
        case "Erf": self = .erf
        case "Reciprocal": self = .reciprocal
        case "ThresholdedRelu": self = .thresholdedRelu(theta: try reader.float("theta", default: 1))
        default: return nil
        }
    }
}

/// Why an op could not be built from its text form.
public enum OpSyntaxError: Error, Hashable, CustomStringConvertible {
    case unknownOp(String)
    case missingAttribute(op: String, name: String)
    case wrongAttributeType(op: String, name: String, expected: String)
    case unexpectedAttributes(op: String, names: [String])

    public var description: String {
        switch self {
        case .unknownOp(let name):
            "unknown op '\(name)'; known ops: \(Op.allNames.joined(separator: ", "))"
        case .missingAttribute(let op, let name): "\(op) needs the attribute '\(name)'"
        case .wrongAttributeType(let op, let name, let expected): "\(op) attribute '\(name)' must be \(expected)"
        case .unexpectedAttributes(let op, let names): "\(op) has no attribute(s) \(names.joined(separator: ", "))"
        }
    }
}

/// Takes attributes out of a parsed dictionary by name and type, and reports any left over.
struct AttributeReader {
    let op: String
    var attributes: [String: Attribute]

    mutating func int(_ name: String, default fallback: Int? = nil) throws(OpSyntaxError) -> Int {
        switch attributes.removeValue(forKey: name) {
        case .int(let v): return v
        case nil:
            if let fallback { return fallback }
            throw .missingAttribute(op: op, name: name)
        default: throw .wrongAttributeType(op: op, name: name, expected: "an integer")
        }
    }

    mutating func float(_ name: String, default fallback: Float? = nil) throws(OpSyntaxError) -> Float {
        switch attributes.removeValue(forKey: name) {
        case .float(let v): return v
        case .int(let v): return Float(v)
        case nil:
            if let fallback { return fallback }
            throw .missingAttribute(op: op, name: name)
        default: throw .wrongAttributeType(op: op, name: name, expected: "a number")
        }
    }

    mutating func bool(_ name: String, default fallback: Bool? = nil) throws(OpSyntaxError) -> Bool {
        switch attributes.removeValue(forKey: name) {
        case .bool(let v): return v
        case nil:
            if let fallback { return fallback }
            throw .missingAttribute(op: op, name: name)
        default: throw .wrongAttributeType(op: op, name: name, expected: "true or false")
        }
    }

    mutating func ints(_ name: String) throws(OpSyntaxError) -> [Int] {
        switch attributes.removeValue(forKey: name) {
        case .ints(let v): return v
        case nil: throw .missingAttribute(op: op, name: name)
        default: throw .wrongAttributeType(op: op, name: name, expected: "a list of integers")
        }
    }

    mutating func word(_ name: String, default fallback: String) throws(OpSyntaxError) -> String {
        switch attributes.removeValue(forKey: name) {
        case .word(let v): return v
        case nil: return fallback
        default: throw .wrongAttributeType(op: op, name: name, expected: "a word")
        }
    }

    mutating func activations(_ name: String, default fallback: [Activation]) throws(OpSyntaxError) -> [Activation] {
        switch attributes.removeValue(forKey: name) {
        case .activations(let v): return v
        case .activation(let v): return [v]
        case nil: return fallback
        default: throw .wrongAttributeType(op: op, name: name, expected: "a list of activations such as [Sigmoid, Tanh]")
        }
    }

    mutating func dtype(_ name: String) throws(OpSyntaxError) -> DType {
        switch attributes.removeValue(forKey: name) {
        case .dtype(let v): return v
        case nil: throw .missingAttribute(op: op, name: name)
        default: throw .wrongAttributeType(op: op, name: name, expected: "an element type")
        }
    }

    func finish() throws(OpSyntaxError) {
        if !attributes.isEmpty { throw .unexpectedAttributes(op: op, names: attributes.keys.sorted()) }
    }
}
