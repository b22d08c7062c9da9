import Foundation
import KilnDriver
import KilnIR
import XCTest

/// Builds graphs in Swift for the Swift backend tests: constants from a seeded generator, each node's
/// type from shape inference, so a test states only the ops.
struct SwiftTestGraph {
    private(set) var graph: Graph
    private var random: SplitMix64

    init(name: String, seed: UInt64 = 7) {
        graph = Graph(name: name)
        random = SplitMix64(seed: seed)
    }

    /// An f32 input whose first dimension is the batch `N`.
    @discardableResult
    mutating func input(_ name: String, _ perExample: [Int]) -> String {
        graph.inputs.append(Value(name, TensorType(.float32, Shape([.symbolic("N")] + perExample.map(Dim.fixed)))))
        return name
    }

    /// An f32 constant, uniform in [-scale, scale).
    @discardableResult
    mutating func constant(_ name: String, _ shape: [Int], scale: Float = 1) -> String {
        let values = (0..<shape.reduce(1, *)).map { _ in (random.nextUnitFloat() * 2 - 1) * scale }
        return constant(name, Tensor(shape: shape, floats: values))
    }

    @discardableResult
    mutating func constant(_ name: String, _ tensor: Tensor) -> String {
        graph.constants.append(Constant(name, tensor))
        return name
    }

    /// A node with one output named `name`.
    @discardableResult
    mutating func node(_ name: String, _ op: Op, _ inputs: [String]) throws -> String {
        let types = graph.valueTypes
        let inputTypes = try inputs.map { input in try XCTUnwrap(types[input], "no value %\(input)") }
        let outputType = try op.inferTypes(inputTypes)[0]
        graph.nodes.append(Node(name: name, op: op, inputs: inputs, outputs: [Value(name, outputType)]))
        return name
    }

    mutating func output(_ names: String...) { graph.outputs += names }

    /// The floats of a constant.
    func floats(_ name: String) -> [Float] { graph.constantsByName[name]?.floats ?? [] }
}

/// Straightforward reference arithmetic, in Double, for checking the generated code independently of
/// both the interpreter and the kernels.
enum SwiftReference {
    /// y[m, n] = x[m, k] x w (+ bias), w being [k, n], or [n, k] with `transposed`.
    static func dense(_ x: [Float], rows: Int, k: Int, _ w: [Float], n: Int, bias: [Float]? = nil, transposed: Bool = false) -> [Float] {
        var y = [Float](repeating: 0, count: rows * n)
        for r in 0..<rows {
            for j in 0..<n {
                var sum = Double(bias.map { $0.count == 1 ? $0[0] : $0[j] } ?? 0)
                for l in 0..<k { sum += Double(x[r * k + l]) * Double(transposed ? w[j * k + l] : w[l * n + j]) }
                y[r * n + j] = Float(sum)
            }
        }
        return y
    }

    /// Softmax of each row of `width` values.
    static func softmax(_ x: [Float], width: Int) -> [Float] {
        var y = x
        for start in stride(from: 0, to: x.count, by: width) {
            let row = x[start..<start + width].map(Double.init)
            let maximum = row.max() ?? 0
            let exps = row.map { Foundation.exp($0 - maximum) }
            let sum = exps.reduce(0, +)
            for j in 0..<width { y[start + j] = Float(exps[j] / sum) }
        }
        return y
    }

    /// An activation of one value, from its textbook definition.
    static func activate(_ activation: Activation, _ value: Float) -> Float {
        let x = Double(value)
        let y: Double
        switch activation {
        case .relu: y = max(x, 0)
        case .sigmoid: y = 1 / (1 + Foundation.exp(-x))
        case .tanh: y = Foundation.tanh(x)
        case .exp: y = Foundation.exp(x)
        case .softplus: y = Foundation.log(1 + Foundation.exp(x))
        case .softsign: y = x / (1 + abs(x))
        case .elu(let alpha): y = x > 0 ? x : Double(alpha) * (Foundation.exp(x) - 1)
        case .selu(let alpha, let gamma): y = Double(gamma) * (x > 0 ? x : Double(alpha) * (Foundation.exp(x) - 1))
        case .gelu(let approximate):
            y =
                approximate
                ? 0.5 * x * (1 + Foundation.tanh((2 / Double.pi).squareRoot() * (x + 0.044715 * x * x * x)))
                : 0.5 * x * (1 + Foundation.erf(x / 2.0.squareRoot()))
        case .swish: y = x / (1 + Foundation.exp(-x))
        case .hardSigmoid(let alpha, let beta): y = max(0, min(1, Double(alpha) * x + Double(beta)))
        case .leakyRelu(let alpha): y = x >= 0 ? x : Double(alpha) * x
        case .clip(let low, let high): y = min(max(x, Double(low)), Double(high))
        case .sqrt: y = x.squareRoot()
        case .thresholdedRelu(let theta): y = x > Double(theta) ? x : 0
        case .log: y = Foundation.log(x)
        case .abs: y = abs(x)
        case .neg: y = -x
        case .erf: y = Foundation.erf(x)
        case .reciprocal: y = 1 / x
        }
        return Float(y)
    }
}

/// Compares named outputs with the project's tolerance and returns one line per output that is off.
func swiftOutputFailures(actual: [String: Tensor], expected: [String: Tensor], context: String) -> [String] {
    Tolerance.standard.compare(actual: actual, expected: expected).filter { !$0.withinTolerance }.map {
        "\(context) \($0.name): max abs error \($0.maxAbsoluteError), max rel error \($0.maxRelativeError) \($0.mismatch ?? "")"
    }
}

/// A fresh temporary directory, removed by the returned closure.
func swiftTemporaryDirectory() throws -> (URL, () -> Void) {
    let directory = FileManager.default.temporaryDirectory.appendingPathComponent("kiln-swift-test-\(UUID().uuidString)")
    try FileManager.default.createDirectory(at: directory, withIntermediateDirectories: true)
    return (directory, { try? FileManager.default.removeItem(at: directory) })
}
