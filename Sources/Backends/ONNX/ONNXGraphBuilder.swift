import Foundation
import KilnIR
import ONNXProto

/// Lowers IR nodes to ONNX nodes, adding the helper constants and intermediate values some ops need.
/// Helper names derive from the node's name, so they are the same on every run.
struct ONNXGraphBuilder {
    let opset: Int
    private(set) var nodes: [Onnx_NodeProto] = []
    private(set) var initializers: [Onnx_TensorProto] = []
    private var takenNames: Set<String>
    /// ONNX requires node names to be unique; several IR nodes may come from one layer.
    private var nodeNames: Set<String> = []
    /// Channels-first copies of channels-last values, so chains of convolutions, pooling and
    /// layout-neutral ops run in ONNX's layout with Transposes only where the layout changes.
    private var channelsFirst: [String: String] = [:]
    private var types: [String: TensorType] = [:]

    init(opset: Int, takenNames: Set<String>, types: [String: TensorType] = [:], constants: [String: Tensor] = [:]) {
        self.opset = opset
        self.takenNames = takenNames
        self.types = types
        self.constants = constants
    }

    private let constants: [String: Tensor]

    mutating func lower(_ node: Node) throws(ONNXEmitError) {
        let x = node.inputs
        let y = node.outputs.map(\.name)
        // Elementwise ops between channels-first values stay channels-first (e.g. a residual Add).
        if let opType = Self.elementwise(node.op), x.count == 2, let a = channelsFirst[x[0]], let b = channelsFirst[x[1]],
            types[x[0]] == types[x[1]]
        {
            let value = fresh("\(y[0]).nchw")
            add(opType, [a, b], [value], node.name)
            toChannelsLast(value, y[0], node.name)
            return
        }
        switch node.op {
        case .identity: add("Identity", x, y, node.name)
        case .add: add("Add", x, y, node.name)
        case .sub: add("Sub", x, y, node.name)
        case .mul: add("Mul", x, y, node.name)
        case .div: add("Div", x, y, node.name)
        case .matMul: add("MatMul", x, y, node.name)
        case .gemm(let transB): add("Gemm", x, y, node.name, [int("transB", transB ? 1 : 0)])
        case .softmax(let axis): add("Softmax", x, y, node.name, [int("axis", axis)])
        case .flatten(let axis): add("Flatten", x, y, node.name, [int("axis", axis)])
        case .reshape(let shape):
            let target = constant("\(node.name).shape", Tensor(shape: [shape.count], storage: .int64(shape.map(Int64.init))))
            add("Reshape", [x[0], target], y, node.name)
        case .transpose(let perm): add("Transpose", x, y, node.name, [ints("perm", perm)])
        case .cast(let to): add("Cast", x, y, node.name, [int("to", Int(ONNXEmitter.elementType(to)))])
        case .activation(let activation):
            if let first = channelsFirst[x[0]] {
                let value = fresh("\(y[0]).nchw")
                lower(activation, first, value, node.name)
                toChannelsLast(value, y[0], node.name)
            } else {
                lower(activation, x[0], y[0], node.name)
            }
        case .maximum: add("Max", x, y, node.name)
        case .minimum: add("Min", x, y, node.name)
        case .conv(let c):
            let spatial = c.strides.count
            guard let weights = constants[x[1]] else {
                throw .unsupported(node: node.name, reason: "Conv needs a constant kernel")
            }
            // Keras's [kernel..., Cin/groups, Cout] becomes ONNX's [Cout, Cin/groups, kernel...].
            let kernel = constant("\(x[1]).oihw", transposed(weights, [spatial + 1, spatial] + Array(0..<spatial)))
            let value = fresh("\(y[0]).nchw")
            add(
                "Conv", [input(x[0], node.name), kernel] + x.dropFirst(2), [value], node.name,
                [ints("kernel_shape", Array(weights.shape[0..<spatial])), ints("strides", c.strides), ints("dilations", c.dilations),
                 ints("pads", c.pads), int("group", c.groups)])
            toChannelsLast(value, y[0], node.name)
        case .convTranspose(let c):
            let spatial = c.strides.count
            guard let weights = constants[x[1]] else {
                throw .unsupported(node: node.name, reason: "ConvTranspose needs a constant kernel")
            }
            // Keras's [kernel..., Cout, Cin] becomes ONNX's [Cin, Cout, kernel...]; a negative end pad is
            // ONNX's output_padding.
            let kernel = constant("\(x[1]).iohw", transposed(weights, [spatial + 1, spatial] + Array(0..<spatial)))
            let ends = c.pads[spatial...].map { max($0, 0) }
            let extra = c.pads[spatial...].map { max(-$0, 0) }
            let value = fresh("\(y[0]).nchw")
            add(
                "ConvTranspose", [input(x[0], node.name), kernel] + x.dropFirst(2), [value], node.name,
                [ints("kernel_shape", Array(weights.shape[0..<spatial])), ints("strides", c.strides), ints("dilations", c.dilations),
                 ints("pads", Array(c.pads[0..<spatial]) + ends), ints("output_padding", extra)])
            toChannelsLast(value, y[0], node.name)
        case .pool(let p):
            let value = fresh("\(y[0]).nchw")
            var attributes = [ints("kernel_shape", p.window), ints("strides", p.strides), ints("pads", p.pads)]
            if p.kind == .average { attributes.append(int("count_include_pad", 0)) }
            add(p.kind == .max ? "MaxPool" : "AveragePool", [input(x[0], node.name)], [value], node.name, attributes)
            toChannelsLast(value, y[0], node.name)
        case .reduce(let reduction, let axes, let keepDims):
            let opType = ["mean": "ReduceMean", "max": "ReduceMax", "min": "ReduceMin", "sum": "ReduceSum"][reduction.rawValue]!
            if opset >= 18 || reduction == .sum {
                let axesInput = constant("\(node.name).axes", Tensor(shape: [axes.count], storage: .int64(axes.map(Int64.init))))
                add(opType, [x[0], axesInput], y, node.name, [int("keepdims", keepDims ? 1 : 0)])
            } else {
                add(opType, x, y, node.name, [ints("axes", axes), int("keepdims", keepDims ? 1 : 0)])
            }
        case .batchNorm(let epsilon, let axis):
            let rank = types[x[0]]?.shape.rank ?? 2
            let normalized = axis < 0 ? axis + rank : axis
            guard normalized == rank - 1 || normalized == 1 else {
                throw .unsupported(node: node.name, reason: "BatchNorm over axis \(axis) of a rank-\(rank) tensor")
            }
            if rank <= 2 || normalized == 1 {
                add("BatchNormalization", x, y, node.name, [float("epsilon", epsilon)])
            } else {
                let value = fresh("\(y[0]).nchw")
                add("BatchNormalization", [input(x[0], node.name)] + x.dropFirst(), [value], node.name, [float("epsilon", epsilon)])
                toChannelsLast(value, y[0], node.name)
            }
        case .concat(let axis):
            add("Concat", x, y, node.name, [int("axis", axis)])
        case .crop(let pads):
            let rank = pads.count / 2
            let starts = constant("\(node.name).starts", Tensor(shape: [rank], storage: .int64(pads[0..<rank].map(Int64.init))))
            // An end of -k stops k before the end; Int64.max means "to the end".
            let ends = constant(
                "\(node.name).ends", Tensor(shape: [rank], storage: .int64(pads[rank...].map { $0 == 0 ? Int64.max : -Int64($0) })))
            let axes = constant("\(node.name).axes", Tensor(shape: [rank], storage: .int64((0..<rank).map(Int64.init))))
            add("Slice", [x[0], starts, ends, axes], y, node.name)
        case .pad(let pads, let value):
            let padsInput = constant("\(node.name).pads", Tensor(shape: [pads.count], storage: .int64(pads.map(Int64.init))))
            add("Pad", [x[0], padsInput, scalar("\(node.name).value", value)], y, node.name, [string("mode", "constant")])
        }
    }

    private static func elementwise(_ op: Op) -> String? {
        switch op {
        case .add: "Add"
        case .sub: "Sub"
        case .mul: "Mul"
        case .div: "Div"
        case .maximum: "Max"
        case .minimum: "Min"
        default: nil
        }
    }

    /// The channels-first form of a channels-last value, transposing it unless one exists already.
    private mutating func input(_ value: String, _ name: String) -> String {
        if let first = channelsFirst[value] { return first }
        let rank = types[value]?.shape.rank ?? 4
        let first = fresh("\(value).nchw")
        add("Transpose", [value], [first], "\(name).to_channels_first", [ints("perm", [0, rank - 1] + Array(1..<(rank - 1)))])
        channelsFirst[value] = first
        return first
    }

    /// Makes the channels-last value `y` from its channels-first form; unused ones are swept at the end.
    private mutating func toChannelsLast(_ first: String, _ y: String, _ name: String) {
        let rank = types[y]?.shape.rank ?? 4
        add("Transpose", [first], [y], "\(name).to_channels_last", [ints("perm", [0] + Array(2..<rank) + [1])])
        channelsFirst[y] = first
    }

    /// Drops nodes whose results nothing reads (the Transposes back to channels-last that a following
    /// channels-first op made unnecessary), and initializers left unread.
    mutating func sweep(keeping outputs: [String]) {
        var used = Set(outputs)
        var kept: [Onnx_NodeProto] = []
        for node in nodes.reversed() where node.output.contains(where: used.contains) {
            kept.append(node)
            used.formUnion(node.input)
        }
        nodes = kept.reversed()
        initializers.removeAll { !used.contains($0.name) }
    }

    /// The graph's constants that some emitted node still reads (a Conv kernel is read in ONNX's layout).
    func usedConstants(_ constants: [Constant], outputs: [String]) -> [Constant] {
        let read = Set(nodes.flatMap(\.input) + outputs)
        return constants.filter { read.contains($0.name) }
    }

    private func transposed(_ tensor: Tensor, _ perm: [Int]) -> Tensor {
        let shape = perm.map { tensor.shape[$0] }
        var inputStrides = [Int](repeating: 1, count: tensor.shape.count)
        for d in stride(from: tensor.shape.count - 2, through: 0, by: -1) { inputStrides[d] = inputStrides[d + 1] * tensor.shape[d + 1] }
        let values = tensor.floats
        var out = [Float](repeating: 0, count: values.count)
        var index = [Int](repeating: 0, count: shape.count)
        for i in 0..<values.count {
            var offset = 0
            for d in 0..<shape.count { offset += index[d] * inputStrides[perm[d]] }
            out[i] = values[offset]
            var d = shape.count - 1
            while d >= 0 {
                index[d] += 1
                if index[d] < shape[d] { break }
                index[d] = 0
                d -= 1
            }
        }
        return Tensor(shape: shape, floats: out)
    }

    private mutating func lower(_ activation: Activation, _ x: String, _ y: String, _ name: String) {
        switch activation {
        case .relu: add("Relu", [x], [y], name)
        case .sigmoid: add("Sigmoid", [x], [y], name)
        case .tanh: add("Tanh", [x], [y], name)
        case .exp: add("Exp", [x], [y], name)
        case .softplus: add("Softplus", [x], [y], name)
        case .softsign: add("Softsign", [x], [y], name)
        case .elu(let alpha): add("Elu", [x], [y], name, [float("alpha", alpha)])
        case .selu(let alpha, let gamma): add("Selu", [x], [y], name, [float("alpha", alpha), float("gamma", gamma)])
        case .leakyRelu(let alpha): add("LeakyRelu", [x], [y], name, [float("alpha", alpha)])
        case .hardSigmoid(let alpha, let beta): add("HardSigmoid", [x], [y], name, [float("alpha", alpha), float("beta", beta)])
        case .clip(let lower, let upper):
            add("Clip", [x, scalar("\(name).min", lower), scalar("\(name).max", upper)], [y], name)
        case .sqrt: add("Sqrt", [x], [y], name)
        case .thresholdedRelu(let theta): add("ThresholdedRelu", [x], [y], name, [float("alpha", theta)])
        case .swish:
            // ONNX has no Swish before opset 24: x * Sigmoid(x).
            let gate = fresh("\(y).sigmoid")
            add("Sigmoid", [x], [gate], "\(name).sigmoid")
            add("Mul", [x, gate], [y], name)
        case .gelu(let approximate):
            if opset >= 20 {
                add("Gelu", [x], [y], name, [string("approximate", approximate ? "tanh" : "none")])
            } else if approximate {
                // 0.5 * x * (1 + tanh(sqrt(2/pi) * (x + 0.044715 * x^3)))
                let cube = intermediate("Mul", [x, intermediate("Mul", [x, x], y, "square")], y, "cube")
                let inner = intermediate("Add", [x, intermediate("Mul", [cube, scalar("\(name).coefficient", 0.044715)], y, "scaled_cube")], y, "inner")
                let tanh = intermediate("Tanh", [intermediate("Mul", [inner, scalar("\(name).sqrt_2_over_pi", Float((2 / Double.pi).squareRoot()))], y, "scaled")], y, "tanh")
                halfTimesOnePlus(x, tanh, y, name)
            } else {
                // 0.5 * x * (1 + erf(x / sqrt(2)))
                let erf = intermediate("Erf", [intermediate("Div", [x, scalar("\(name).sqrt_2", Float(2.0.squareRoot()))], y, "scaled")], y, "erf")
                halfTimesOnePlus(x, erf, y, name)
            }
        }
    }

    /// y = 0.5 * x * (1 + t)
    private mutating func halfTimesOnePlus(_ x: String, _ t: String, _ y: String, _ name: String) {
        let onePlus = intermediate("Add", [t, scalar("\(name).one", 1)], y, "one_plus")
        let halfX = intermediate("Mul", [x, scalar("\(name).half", 0.5)], y, "half_x")
        add("Mul", [halfX, onePlus], [y], name)
    }

    // MARK: - Building blocks

    private mutating func add(_ opType: String, _ inputs: [String], _ outputs: [String], _ name: String, _ attributes: [Onnx_AttributeProto] = []) {
        var node = Onnx_NodeProto()
        node.opType = opType
        node.input = inputs
        node.output = outputs
        var unique = nodeNames.contains(name) ? (outputs.first ?? name) : name
        var suffix = 1
        while nodeNames.contains(unique) {
            unique = "\(name).\(suffix)"
            suffix += 1
        }
        nodeNames.insert(unique)
        node.name = unique
        node.attribute = attributes
        nodes.append(node)
    }

    /// Adds a node computing an intermediate value named after the final output, and returns its name.
    private mutating func intermediate(_ opType: String, _ inputs: [String], _ output: String, _ role: String) -> String {
        let name = fresh("\(output).\(role)")
        add(opType, inputs, [name], name)
        return name
    }

    private mutating func scalar(_ name: String, _ value: Float) -> String {
        constant(name, Tensor(shape: [], floats: [value]))
    }

    private mutating func constant(_ base: String, _ tensor: Tensor) -> String {
        let name = fresh(base)
        initializers.append(tensorProto(name, tensor))
        return name
    }

    private mutating func fresh(_ base: String) -> String {
        var name = base
        var i = 1
        while takenNames.contains(name) {
            name = "\(base).\(i)"
            i += 1
        }
        takenNames.insert(name)
        return name
    }

    private func int(_ name: String, _ value: Int) -> Onnx_AttributeProto {
        var a = Onnx_AttributeProto()
        a.name = name
        a.type = .int
        a.i = Int64(value)
        return a
    }

    private func ints(_ name: String, _ values: [Int]) -> Onnx_AttributeProto {
        var a = Onnx_AttributeProto()
        a.name = name
        a.type = .ints
        a.ints = values.map(Int64.init)
        return a
    }

    private func float(_ name: String, _ value: Float) -> Onnx_AttributeProto {
        var a = Onnx_AttributeProto()
        a.name = name
        a.type = .float
        a.f = value
        return a
    }

    private func string(_ name: String, _ value: String) -> Onnx_AttributeProto {
        var a = Onnx_AttributeProto()
        a.name = name
        a.type = .string
        a.s = Data(value.utf8)
        return a
    }
}
