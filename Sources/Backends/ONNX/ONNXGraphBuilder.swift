import Foundation
import KilnIR
import ONNXProto

/// Collects the ONNX nodes and helper initializers of one graph while its IR nodes are lowered
/// (ONNXNodeLowering.swift, ONNXActivationLowering.swift).
///
/// Helper names derive from the IR node's name and output (`dense.shape`, `y.sigmoid`), made unique with
/// a numeric suffix in the order nodes are lowered, so they are the same on every run.
struct ONNXGraphBuilder {
    let opset: Int
    /// The ONNX nodes so far, in topological order.
    private(set) var nodes: [Onnx_NodeProto] = []
    /// Constants the lowering added (shapes, axes, scalars, kernels in ONNX's layout).
    private(set) var initializers: [Onnx_TensorProto] = []
    /// Every value name in use: the IR's and the helpers'.
    private var takenNames: Set<String>
    /// Node names in use; ONNX wants them unique, and several IR nodes may come from one layer.
    private var nodeNames: Set<String> = []
    /// The IR type of every IR value.
    let types: [String: TensorType]
    /// The IR's constants, for ops that want their data in another layout.
    let constants: [String: Tensor]
    /// Channels-first copies of channels-last values, so chains of convolutions, pooling and
    /// layout-neutral ops run in ONNX's layout with Transposes only where the layout changes.
    var channelsFirst: [String: String] = [:]
    /// Sequence-major copies ([seq, batch, ...]) of batch-major values that recurrent ops read, made once each.
    var sequenceMajor: [String: String] = [:]
    /// For the QOperator form: the node computing each value, to find the QuantizeLinear/DequantizeLinear
    /// in front of a product (empty for QDQ).
    var producers: [String: Node] = [:]
    /// For the QOperator form: the channels-first uint8 integers of each quantized value a ConvInteger reads,
    /// and their zero point.
    var quantizedChannelsFirst: [String: (String, String)] = [:]

    init(opset: Int, types: [String: TensorType], constants: [String: Tensor]) {
        self.opset = opset
        self.types = types
        self.constants = constants
        self.takenNames = Set(types.keys)
    }

    /// The IR type of a value the node reads or writes.
    func type(of value: String, in node: Node) throws(ONNXEmitError) -> TensorType {
        guard let type = types[value] else {
            throw .unsupported(node: node.name, reason: "it uses %\(value), which the graph does not define")
        }
        return type
    }

    // MARK: - Nodes

    /// Appends a node, naming it `name` or, when that is taken, after its first output.
    mutating func add(
        _ opType: String, _ inputs: [String], _ outputs: [String], _ name: String, _ attributes: [Onnx_AttributeProto] = []
    ) {
        var unique = nodeNames.contains(name) ? (outputs.first ?? name) : name
        var suffix = 1
        while nodeNames.contains(unique) {
            unique = "\(name).\(suffix)"
            suffix += 1
        }
        nodeNames.insert(unique)
        var node = Onnx_NodeProto()
        node.name = unique
        node.opType = opType
        node.input = inputs
        node.output = outputs
        node.attribute = attributes
        nodes.append(node)
    }

    /// Adds a node computing a helper value named `<output>.<role>` and returns the value's name.
    mutating func intermediate(
        _ opType: String, _ inputs: [String], _ output: String, _ role: String, _ attributes: [Onnx_AttributeProto] = []
    ) -> String {
        let name = fresh("\(output).\(role)")
        add(opType, inputs, [name], name, attributes)
        return name
    }

    /// Drops nodes whose results nothing reads (the Transposes back to channels-last that a following
    /// channels-first op made unnecessary), then helper initializers nothing reads.
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

    /// The graph's constants that an emitted node or the graph's outputs still read, in the graph's order
    /// (a Conv kernel is read in ONNX's layout instead).
    func usedConstants(_ constants: [Constant], outputs: [String]) -> [Constant] {
        let read = Set(nodes.flatMap(\.input) + outputs)
        return constants.filter { read.contains($0.name) }
    }

    // MARK: - Values and constants

    /// A value name starting with `base` that nothing uses yet, now taken.
    mutating func fresh(_ base: String) -> String {
        var name = base
        var suffix = 1
        while takenNames.contains(name) {
            name = "\(base).\(suffix)"
            suffix += 1
        }
        takenNames.insert(name)
        return name
    }

    /// Adds an initializer named after `base` and returns its name.
    mutating func constant(_ base: String, _ tensor: Tensor) -> String {
        let name = fresh(base)
        initializers.append(ONNXEmitter.tensorProto(name, tensor))
        return name
    }

    /// A rank-0 initializer of the given element type, as ONNX wants for Clip bounds, Pad values and the
    /// constants of decomposed activations (both operands of Mul or Add must have one type).
    mutating func scalar(_ base: String, _ value: Float, _ dtype: DType) -> String {
        constant(base, Tensor(shape: [], storage: Self.storage(of: value, as: dtype)))
    }

    /// A 1-D int64 initializer, as ONNX wants for shapes, axes, pads and slice bounds.
    mutating func int64s(_ base: String, _ values: [Int64]) -> String {
        constant(base, Tensor(shape: [values.count], storage: .int64(values)))
    }

    private static func storage(of value: Float, as dtype: DType) -> TensorStorage {
        func integer<T: FixedWidthInteger>(_: T.Type) -> T {
            if value.isNaN { return 0 }
            if value <= Float(T.min) { return T.min }
            if value >= Float(T.max) { return T.max }
            return T(value.rounded(.towardZero))
        }
        switch dtype {
        case .float32: return .float32([value])
        case .float16: return .float16([Float16(value).bitPattern])
        case .int8: return .int8([integer(Int8.self)])
        case .uint8: return .uint8([integer(UInt8.self)])
        case .int32: return .int32([integer(Int32.self)])
        case .int64: return .int64([integer(Int64.self)])
        case .bool: return .bool([value != 0])
        }
    }

    // MARK: - Attributes

    func int(_ name: String, _ value: Int) -> Onnx_AttributeProto {
        var attribute = Onnx_AttributeProto()
        attribute.name = name
        attribute.type = .int
        attribute.i = Int64(value)
        return attribute
    }

    func ints(_ name: String, _ values: [Int]) -> Onnx_AttributeProto {
        var attribute = Onnx_AttributeProto()
        attribute.name = name
        attribute.type = .ints
        attribute.ints = values.map(Int64.init)
        return attribute
    }

    func float(_ name: String, _ value: Float) -> Onnx_AttributeProto {
        var attribute = Onnx_AttributeProto()
        attribute.name = name
        attribute.type = .float
        attribute.f = value
        return attribute
    }

    func floats(_ name: String, _ values: [Float]) -> Onnx_AttributeProto {
        var attribute = Onnx_AttributeProto()
        attribute.name = name
        attribute.type = .floats
        attribute.floats = values
        return attribute
    }

    func strings(_ name: String, _ values: [String]) -> Onnx_AttributeProto {
        var attribute = Onnx_AttributeProto()
        attribute.name = name
        attribute.type = .strings
        attribute.strings = values.map { Data($0.utf8) }
        return attribute
    }

    func string(_ name: String, _ value: String) -> Onnx_AttributeProto {
        var attribute = Onnx_AttributeProto()
        attribute.name = name
        attribute.type = .string
        attribute.s = Data(value.utf8)
        return attribute
    }
}
