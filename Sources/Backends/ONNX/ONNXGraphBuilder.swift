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

    init(opset: Int, takenNames: Set<String>) {
        self.opset = opset
        self.takenNames = takenNames
    }

    mutating func lower(_ node: Node) throws(ONNXEmitError) {
        let x = node.inputs
        let y = node.outputs.map(\.name)
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
        case .activation(let activation): lower(activation, x[0], y[0], node.name)
        }
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
