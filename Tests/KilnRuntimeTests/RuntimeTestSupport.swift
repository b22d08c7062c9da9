import KilnIR
import KilnInterpreter
import XCTest

@testable import KilnRuntime

/// SplitMix64: the same shapes and values on every run, from the seed each test names.
struct SeededGenerator: RandomNumberGenerator {
    private var state: UInt64

    init(seed: UInt64) { state = seed }

    mutating func next() -> UInt64 {
        state &+= 0x9e37_79b9_7f4a_7c15
        var z = state
        z = (z ^ (z >> 30)) &* 0xbf58_476d_1ce4_e5b9
        z = (z ^ (z >> 27)) &* 0x94d0_49bb_1331_11eb
        return z ^ (z >> 31)
    }

    /// `count` floats uniform in `range`.
    mutating func floats(_ count: Int, in range: ClosedRange<Float> = -1...1) -> [Float] {
        (0..<count).map { _ in Float.random(in: range, using: &self) }
    }

    /// A size in `range` that is not a multiple of 8 (the vector width) unless the range holds none.
    mutating func oddSize(_ range: ClosedRange<Int>) -> Int {
        for _ in 0..<100 {
            let size = Int.random(in: range, using: &self)
            if size % 8 != 0 { return size }
        }
        return range.lowerBound
    }
}

/// Runs one node on the reference interpreter. `node` is the right-hand side of a node line in the IR text
/// form (`Gemm(%a, %b) {transB = false}`) over the given inputs; the result's declared type must be the one
/// shape inference gives, which the verifier checks.
func reference(
    _ node: String, _ inputs: KeyValuePairs<String, Tensor>, result shape: [Int], _ dtype: DType = .float32,
    file: StaticString = #filePath, line: UInt = #line
) throws -> Tensor {
    try reference(node, inputs.map { ($0.key, $0.value) }, result: shape, dtype, file: file, line: line)
}

func reference(
    _ node: String, _ inputs: [(String, Tensor)], result shape: [Int], _ dtype: DType = .float32,
    file: StaticString = #filePath, line: UInt = #line
) throws -> Tensor {
    func type(_ dtype: DType, _ shape: [Int]) -> String { "\(dtype.textName)[\(shape.map(String.init).joined(separator: ","))]" }
    var text = "graph @kernel {\n"
    for (name, tensor) in inputs { text += "  input %\(name) : \(type(tensor.dtype, tensor.shape))\n" }
    text += "  %y = \(node) : \(type(dtype, shape))\n  output %y\n}\n"
    let graph = try TextParser.parse(text)
    let outputs = try Interpreter().run(graph, inputs: Dictionary(uniqueKeysWithValues: inputs))
    return try XCTUnwrap(outputs["y"], file: file, line: line)
}

/// Fails unless every element satisfies |actual - expected| <= 1e-5 + 1e-4 * |expected| (the tolerance
/// `kiln verify` applies to generated executors) or both are NaN, naming the first elements that do not.
func assertClose(
    _ actual: [Float], _ expected: [Float], _ message: @autoclosure () -> String = "", file: StaticString = #filePath, line: UInt = #line
) {
    guard actual.count == expected.count else {
        XCTFail("\(actual.count) elements, expected \(expected.count). \(message())", file: file, line: line)
        return
    }
    var failures: [String] = []
    var worst: Float = 0
    for (index, (a, e)) in zip(actual, expected).enumerated() {
        let error = abs(a - e)
        if !(error <= 1e-5 + 1e-4 * abs(e)) && !(a.isNaN && e.isNaN) {
            if failures.count < 5 { failures.append("[\(index)] \(a) vs \(e)") }
            worst = max(worst, error.isNaN ? .infinity : error)
        }
    }
    if !failures.isEmpty {
        XCTFail("largest error \(worst): \(failures.joined(separator: ", ")). \(message())", file: file, line: line)
    }
}

/// B [k, n] packed in 16-column panels as the Swift backend's weights writer lays it out: panel p holds rows
/// 0..<k of columns 16p..<16p+16, zero-padded.
func packPanels<Element: Numeric>(_ b: [Element], k: Int, n: Int) -> [Element] {
    let panels = (n + 15) / 16
    var packed = [Element](repeating: 0, count: panels * k * 16)
    for panel in 0..<panels {
        for row in 0..<k {
            for j in 0..<16 where panel * 16 + j < n { packed[panel * k * 16 + row * 16 + j] = b[row * n + panel * 16 + j] }
        }
    }
    return packed
}

/// Calls `body` with a pointer to `values`, or nil when there are none (an absent bias).
func withPointer<R>(_ values: [Float]?, _ body: (UnsafePointer<Float>?) throws -> R) rethrows -> R {
    guard let values else { return try body(nil) }
    return try values.withUnsafeBufferPointer { try body($0.baseAddress) }
}

/// The tensor of `values` with `shape`.
func tensor(_ shape: [Int], _ values: [Float]) -> Tensor { Tensor(shape: shape, floats: values) }

/// An activation of the runtime and the IR's text for the same function.
struct RuntimeActivation {
    var kernel: KilnActivation
    var name: String
    /// The IR attributes, parameters chosen off their defaults.
    var attributes = ""

    /// As the epilogue attribute of a product: `LeakyRelu(alpha = 0.15)`.
    var epilogue: String { attributes.isEmpty ? name : "\(name)(\(attributes))" }

    /// As a node of its own applied to `operand`: `LeakyRelu(%x) {alpha = 0.15}`.
    func node(_ operand: String) -> String { attributes.isEmpty ? "\(name)(\(operand))" : "\(name)(\(operand)) {\(attributes)}" }

    /// Every activation of the runtime.
    static let all: [RuntimeActivation] = [
        .init(kernel: .relu, name: "Relu"), .init(kernel: .sigmoid, name: "Sigmoid"), .init(kernel: .tanh, name: "Tanh"),
        .init(kernel: .exp, name: "Exp"), .init(kernel: .softplus, name: "Softplus"), .init(kernel: .softsign, name: "Softsign"),
        .init(kernel: .swish, name: "Swish"), .init(kernel: .geluExact, name: "Gelu", attributes: "approximate = false"),
        .init(kernel: .geluTanh, name: "Gelu", attributes: "approximate = true"), .init(kernel: .sqrt, name: "Sqrt"),
        .init(kernel: .thresholdedRelu(0.3), name: "ThresholdedRelu", attributes: "theta = 0.3"),
        .init(kernel: .elu(0.7), name: "Elu", attributes: "alpha = 0.7"),
        .init(kernel: .selu(1.6, 1.1), name: "Selu", attributes: "alpha = 1.6, gamma = 1.1"),
        .init(kernel: .hardSigmoid(0.3, 0.4), name: "HardSigmoid", attributes: "alpha = 0.3, beta = 0.4"),
        .init(kernel: .leakyRelu(0.15), name: "LeakyRelu", attributes: "alpha = 0.15"),
        .init(kernel: .clip(-0.4, 0.6), name: "Clip", attributes: "min = -0.4, max = 0.6"),
    ]

    /// The functions of one operand that op layers (`tf.math.log`, `keras.ops.abs`...) bring: tested on their own,
    /// not drawn as the epilogue of products, whose results near zero would make Log and Reciprocal ill-conditioned.
    static let math: [RuntimeActivation] = [
        .init(kernel: .log, name: "Log"), .init(kernel: .abs, name: "Abs"), .init(kernel: .neg, name: "Neg"),
        .init(kernel: .erf, name: "Erf"), .init(kernel: .reciprocal, name: "Reciprocal"),
    ]
}
