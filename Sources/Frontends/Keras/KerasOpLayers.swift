import KilnIR

/// What a function called on Keras tensors computes. Functional models record such calls as layers: Keras 2 as
/// `TFOpLambda` (and `SlicingOpLambda` for `x[...]`) naming the TensorFlow function in `config.function`, Keras 3
/// as the `keras.ops` operation's class (module `keras.src.ops.numpy`, `.nn`, `.math`, `.core`).
enum OpFunction: Hashable {
    case binary(BinaryOp)
    case compare(Comparison)
    /// A function of one operand with no settings.
    case unary(Activation)
    case rsqrt, square, silu, elu, leakyRelu, gelu, softmax
    /// `keras.activations.relu`, which Keras 3 records as an operation with the ReLU layer's settings.
    case relu
    case reshape, transpose, concat, stack, expandDims, squeeze, getItem
    case reduce(Reduction)
    /// `any` over axes of a bool tensor (Keras 3's Masking records its mask as one).
    case any
    case matMul, clip, cast

    /// Keras 2: the TensorFlow functions by the name TFOpLambda records (the module path under `tf.`), with the
    /// aliases older TensorFlow versions record.
    static let tensorflow: [String: OpFunction] = {
        var table: [String: OpFunction] = [:]
        func add(_ function: OpFunction, _ names: String...) { for name in names { table[name] = function } }
        add(.binary(.add), "math.add", "add", "__operators__.add")
        add(.binary(.sub), "math.subtract", "subtract", "__operators__.sub")
        add(.binary(.mul), "math.multiply", "multiply", "__operators__.mul")
        add(.binary(.div), "math.divide", "divide", "math.truediv", "truediv", "__operators__.truediv", "math.realdiv", "realdiv")
        add(.binary(.pow), "math.pow", "pow", "__operators__.pow")
        add(.binary(.max), "math.maximum", "maximum")
        add(.binary(.min), "math.minimum", "minimum")
        add(.unary(.neg), "math.negative", "negative", "__operators__.neg")
        add(.unary(.abs), "math.abs", "abs")
        add(.unary(.exp), "math.exp", "exp")
        add(.unary(.log), "math.log", "log")
        add(.unary(.sqrt), "math.sqrt", "sqrt")
        add(.rsqrt, "math.rsqrt", "rsqrt")
        add(.square, "math.square", "square")
        add(.unary(.reciprocal), "math.reciprocal", "reciprocal")
        add(.unary(.tanh), "math.tanh", "tanh", "nn.tanh")
        add(.unary(.sigmoid), "math.sigmoid", "sigmoid", "nn.sigmoid")
        add(.unary(.erf), "math.erf", "erf")
        add(.unary(.relu), "nn.relu")
        add(.unary(.clip(min: 0, max: 6)), "nn.relu6")
        add(.unary(.selu(alpha: Activation.seluAlpha, gamma: Activation.seluGamma)), "nn.selu")
        add(.unary(.softplus), "math.softplus", "nn.softplus")
        add(.silu, "nn.silu", "nn.swish")
        add(.elu, "nn.elu")
        add(.leakyRelu, "nn.leaky_relu")
        add(.gelu, "nn.gelu")
        add(.softmax, "nn.softmax", "math.softmax")
        add(.reshape, "reshape")
        add(.transpose, "transpose", "compat.v1.transpose")
        add(.concat, "concat")
        add(.stack, "stack")
        add(.expandDims, "expand_dims", "compat.v1.expand_dims")
        add(.squeeze, "squeeze", "compat.v1.squeeze")
        for reduction in Reduction.allCases {
            add(
                .reduce(reduction), "math.reduce_\(reduction.rawValue)", "reduce_\(reduction.rawValue)",
                "compat.v1.reduce_\(reduction.rawValue)")
        }
        add(.any, "math.reduce_any", "reduce_any")
        add(.matMul, "linalg.matmul", "matmul")
        add(.clip, "clip_by_value")
        add(.cast, "cast", "dtypes.cast")
        add(.compare(.equal), "math.equal", "equal")
        add(.compare(.notEqual), "math.not_equal", "not_equal")
        add(.compare(.greater), "math.greater", "greater")
        add(.compare(.greaterOrEqual), "math.greater_equal", "greater_equal")
        add(.compare(.less), "math.less", "less")
        add(.compare(.lessOrEqual), "math.less_equal", "less_equal")
        add(.getItem, "__operators__.getitem")
        return table
    }()

    /// Keras 3: the operation classes of `keras.ops`, and `keras.activations.relu`'s.
    static let kerasOps: [String: OpFunction] = [
        "Add": .binary(.add), "Subtract": .binary(.sub), "Multiply": .binary(.mul), "Divide": .binary(.div), "TrueDivide": .binary(.div),
        "Power": .binary(.pow), "Maximum": .binary(.max), "Minimum": .binary(.min), "Negative": .unary(.neg), "Absolute": .unary(.abs),
        "Exp": .unary(.exp), "Log": .unary(.log), "Sqrt": .unary(.sqrt), "Rsqrt": .rsqrt, "Square": .square,
        "Reciprocal": .unary(.reciprocal), "Tanh": .unary(.tanh), "Sigmoid": .unary(.sigmoid), "Erf": .unary(.erf), "Relu": .unary(.relu),
        "Relu6": .unary(.clip(min: 0, max: 6)), "Selu": .unary(.selu(alpha: Activation.seluAlpha, gamma: Activation.seluGamma)),
        "Softplus": .unary(.softplus), "Silu": .silu, "Elu": .elu, "LeakyRelu": .leakyRelu, "Gelu": .gelu, "Softmax": .softmax,
        "ReLU": .relu, "Reshape": .reshape, "Transpose": .transpose, "Concatenate": .concat, "Stack": .stack, "ExpandDims": .expandDims,
        "Squeeze": .squeeze, "GetItem": .getItem, "Mean": .reduce(.mean), "Sum": .reduce(.sum), "Max": .reduce(.max), "Min": .reduce(.min),
        "Any": .any,
        "Matmul": .matMul, "Clip": .clip, "Cast": .cast, "Equal": .compare(.equal), "NotEqual": .compare(.notEqual),
        "Greater": .compare(.greater), "GreaterEqual": .compare(.greaterOrEqual), "Less": .compare(.less),
        "LessEqual": .compare(.lessOrEqual),
    ]
}

extension KerasLowering {
    /// Whether the layer records a call of a TensorFlow or `keras.ops` function rather than a Keras layer (whose
    /// class names Keras 3's operations share: `Add`, `Softmax`, `Reshape`...). Keras 3 names the operation's
    /// module; its legacy `.h5` files do not (and Keras cannot load them back), but an operation's config, unlike
    /// every layer's, has no `trainable`.
    func isOpLayer(_ layer: LayerSpec) -> Bool {
        if layer.className == "TFOpLambda" || layer.className == "SlicingOpLambda" { return true }
        guard let module = layer.module else {
            return kerasMajorVersion >= 3 && layer.config["trainable"] == nil && OpFunction.kerasOps[layer.className] != nil
        }
        return module.hasPrefix("keras.src.ops.") || module.hasPrefix("keras.src.activations")
    }

    /// The function an op layer calls, as its users wrote it: `tf.math.add`, `keras.ops.Add`.
    static func functionName(of layer: LayerSpec) -> String {
        if layer.className == "TFOpLambda" || layer.className == "SlicingOpLambda" {
            return "tf." + (layer.config["function"]?.string ?? "?")
        }
        let module = layer.module ?? "keras.src.ops."
        return (module.hasPrefix("keras.src.ops.") ? "keras.ops" : module.replacingOccurrences(of: "keras.src.", with: "keras.")) + "."
            + layer.className
    }

    /// What an op layer computes, or nil when Kiln does not read its function.
    static func opFunction(of layer: LayerSpec) -> OpFunction? {
        if layer.className == "TFOpLambda" || layer.className == "SlicingOpLambda" {
            return layer.config["function"]?.string.flatMap { OpFunction.tensorflow[$0] }
        }
        return OpFunction.kerasOps[layer.className]
    }

    /// The functions op layers may call, for error messages: TensorFlow's as `tf.NAME`, then keras.ops' classes.
    static var supportedFunctions: [String] {
        OpFunction.tensorflow.keys.filter { !$0.hasPrefix("compat.") }.sorted().map { "tf." + $0 }
            + OpFunction.kerasOps.keys.sorted().map { "keras.ops." + $0 }
    }
}

/// The arguments of one op layer call, taken out by name as the lowering reads them, so that any argument it
/// does not know is an error rather than silently ignored. Keras 2 records the first positional argument as is
/// and every other under its parameter name among the keyword arguments; Keras 3 records the tensor operands
/// positionally and the settings in the operation's config.
struct OpArguments {
    let isKeras2: Bool
    private let args: [CallValue]
    private var kwargs: [String: CallValue]
    private var config: [String: JSON]
    private var positionsRead = 0

    init(_ call: CallArguments, config: JSON, isKeras2: Bool) {
        self.isKeras2 = isKeras2
        args = call.args
        kwargs = call.kwargs
        var settings = config.object ?? [:]
        for key in ["name", "trainable", "function"] { settings[key] = nil }
        self.config = isKeras2 ? [:] : settings
    }

    /// The operand at `position` (0 for the first), or the keyword argument `name`.
    mutating func operand(_ position: Int, _ name: String) -> CallValue? {
        positionsRead = max(positionsRead, position + 1)
        if position < args.count && (position == 0 || !isKeras2) { return args[position] }
        return kwargs.removeValue(forKey: name)
    }

    /// A setting: a keyword argument in Keras 2, the operation's config in Keras 3 (or a keyword argument there).
    mutating func setting(_ names: String...) -> CallValue? {
        for name in names {
            if let value = kwargs.removeValue(forKey: name) { return value }
            if let value = config.removeValue(forKey: name) { return .constant(value) }
        }
        return nil
    }

    /// Names the first argument the lowering did not read (Keras 2's `name` aside), or nil when it read all.
    func unread() -> String? {
        if !isKeras2, args.count > positionsRead { return "positional argument \(positionsRead + 1)" }
        for key in kwargs.keys.sorted() where key != "name" && kwargs[key] != .constant(.null) { return "argument '\(key)'" }
        for key in config.keys.sorted() where config[key] != .null { return "setting '\(key)'" }
        return nil
    }
}
