import KilnIR
import XCTest

/// Shape inference on hostile attributes and sizes: every op, fed extreme attributes (Int.min, Int.max, 2^62,
/// zero and negative strides, dilations, windows, pads, factors, axes out of range) and extreme input shapes
/// (Int.max and 2^62 dimensions, zero and negative ones, empty shapes), must throw a `TypeError` or give
/// countable outputs. It must never trap: the test process surviving the ~1 million calls is part of what
/// the test checks.
final class ShapeInferenceExtremesTests: XCTestCase {
    /// The integers attributes take.
    static let extremes = [Int.min, -(1 << 62), -2, -1, 0, 1, 2, 3, 1 << 31, 1 << 62, Int.max]
    /// The sizes input shapes take.
    static let sizes: [Dim] = [0, 1, 3, .fixed(1 << 31), .fixed(1 << 62), .fixed(Int.max), .fixed(-1), "N"]
    /// 1-byte and 4-byte elements: a 2^62-element i8 tensor is countable, so the rules see it.
    static let dtypes: [DType] = [.int8, .float32]

    /// One case of `Op`, so that `kind(of:)` (no `default:`) stops compiling when an op is added until this
    /// test gives it samples.
    enum Kind: CaseIterable {
        case identity, activation, binary, compare, matMul, gemm, softmax, flatten, reshape, transpose, cast, conv, convTranspose
        case pool, reduce, layerNorm, batchNorm, concat, pad, crop, slice, upsample, gather, quantizeLinear, dequantizeLinear, fused
        case recurrent, attention
    }

    static func kind(of op: Op) -> Kind {
        switch op {
        case .identity: .identity
        case .activation: .activation
        case .binary: .binary
        case .compare: .compare
        case .matMul: .matMul
        case .gemm: .gemm
        case .softmax: .softmax
        case .flatten: .flatten
        case .reshape: .reshape
        case .transpose: .transpose
        case .cast: .cast
        case .conv: .conv
        case .convTranspose: .convTranspose
        case .pool: .pool
        case .reduce: .reduce
        case .layerNorm: .layerNorm
        case .batchNorm: .batchNorm
        case .concat: .concat
        case .pad: .pad
        case .crop: .crop
        case .slice: .slice
        case .upsample: .upsample
        case .gather: .gather
        case .quantizeLinear: .quantizeLinear
        case .dequantizeLinear: .dequantizeLinear
        case .fused: .fused
        case .recurrent: .recurrent
        case .attention: .attention
        }
    }

    // MARK: - Samples

    /// Every shape of rank 0 to 2 over `sizes`, and ranks 3 and 4 with one extreme size among small ones.
    static let shapes: [Shape] = {
        var shapes: [Shape] = [Shape([])]
        for a in sizes { shapes.append(Shape([a])) }
        for a in sizes { for b in sizes { shapes.append(Shape([a, b])) } }
        for rank in 3...4 {
            for position in 0..<rank {
                for size in sizes { shapes.append(Shape((0..<rank).map { $0 == position ? size : ($0 == 0 ? "N" : 2) })) }
            }
        }
        return shapes
    }()

    static let types: [TensorType] = dtypes.flatMap { dtype in shapes.map { TensorType(dtype, $0) } }

    /// A smaller set for ops of several inputs, whose pairs would otherwise be too many.
    static let fewTypes: [TensorType] = {
        let few: [Dim] = [1, .fixed(1 << 62), .fixed(Int.max), .fixed(-1), "N"]
        var shapes: [Shape] = [Shape([])]
        for a in few { shapes.append(Shape([a])) }
        for a in few { for b in few { shapes.append(Shape([a, b])) } }
        shapes += [Shape(["N", 4, 4, 2]), Shape([2, .fixed(1 << 61)])]
        return [DType.int8, .float32].flatMap { dtype in shapes.map { TensorType(dtype, $0) } }
    }()

    /// Lists of `count` integers: each extreme in every position, the others `fill`.
    static func lists(_ count: Int, fill: Int) -> [[Int]] {
        guard count > 0 else { return [[]] }
        var result = [Array(repeating: fill, count: count)]
        for position in 0..<count {
            for value in extremes { result.append((0..<count).map { $0 == position ? value : fill }) }
        }
        return result
    }

    /// Convolution attributes for `spatial` dimensions: each stride, dilation, pad and the groups extreme in turn.
    static func convolutions(_ spatial: Int) -> [Convolution] {
        var result: [Convolution] = []
        for strides in lists(spatial, fill: 1) {
            result.append(Convolution(strides: strides, dilations: lists(spatial, fill: 1)[0], pads: lists(2 * spatial, fill: 0)[0]))
        }
        for dilations in lists(spatial, fill: 1) {
            result.append(Convolution(strides: lists(spatial, fill: 1)[0], dilations: dilations, pads: lists(2 * spatial, fill: 0)[0]))
        }
        for pads in lists(2 * spatial, fill: 0) {
            result.append(Convolution(strides: lists(spatial, fill: 1)[0], dilations: lists(spatial, fill: 1)[0], pads: pads))
        }
        for groups in extremes { result.append(Convolution(strides: [1], dilations: [1], pads: [0, 0], groups: groups)) }
        // Attributes of the wrong length.
        result.append(Convolution(strides: [], dilations: [], pads: []))
        return result
    }

    /// The ops of one kind with extreme attributes.
    static func ops(of kind: Kind) -> [Op] {
        switch kind {
        case .identity: return [.identity]
        case .activation: return [.activation(.relu), .activation(.clip(min: -.infinity, max: .nan))]
        case .binary: return BinaryOp.allCases.map { .binary($0) }
        case .compare: return Comparison.allCases.map { .compare($0) }
        case .matMul: return [.matMul]
        case .gemm: return [.gemm(transB: false), .gemm(transB: true)]
        case .softmax: return extremes.map { .softmax(axis: $0) }
        case .flatten: return extremes.map { .flatten(axis: $0) }
        case .reshape:
            return lists(1, fill: 1).map { .reshape(shape: $0) } + lists(2, fill: 2).map { .reshape(shape: $0) }
                + lists(3, fill: -1).map { .reshape(shape: $0) } + lists(3, fill: 0).map { .reshape(shape: $0) }
        case .transpose: return [[], [0], [1, 0], [0, 1, 2], [Int.max, 0], [-1, 0], [0, 0], [Int.min]].map { .transpose(perm: $0) }
        case .cast: return DType.allCases.map { .cast(to: $0) }
        case .conv: return (convolutions(1) + convolutions(2)).map { .conv($0) }
        case .convTranspose: return (convolutions(1) + convolutions(2)).map { .convTranspose($0) }
        case .pool:
            var pools: [Pooling] = []
            for kind in [Pooling.Kind.max, .average] {
                for window in lists(1, fill: 2) { pools.append(Pooling(kind: kind, window: window, strides: [1], pads: [0, 0])) }
                for strides in lists(2, fill: 1) {
                    pools.append(Pooling(kind: kind, window: [2, 2], strides: strides, pads: [0, 0, 0, 0]))
                }
                for pads in lists(2, fill: 0) { pools.append(Pooling(kind: kind, window: [2], strides: [1], pads: pads)) }
            }
            pools.append(Pooling(kind: .max, window: [], strides: [], pads: []))
            return pools.map { .pool($0) }
        case .reduce:
            return extremes.flatMap { axis in
                [Op.reduce(.sum, axes: [axis], keepDims: true), .reduce(.max, axes: [axis, 0], keepDims: false)]
            } + [.reduce(.mean, axes: [], keepDims: false)]
        case .layerNorm: return extremes.map { .layerNorm(axis: $0, epsilon: 1e-3) }
        case .batchNorm: return extremes.map { .batchNorm(epsilon: 1e-3, axis: $0) }
        case .concat: return extremes.map { .concat(axis: $0) }
        case .pad: return (lists(2, fill: 0) + lists(4, fill: 1) + lists(6, fill: 0)).map { .pad(pads: $0, value: 0) }
        case .crop: return (lists(2, fill: 0) + lists(4, fill: 1) + lists(6, fill: 0)).map { .crop(pads: $0) }
        case .slice:
            var slices: [Op] = []
            for value in extremes {
                slices.append(.slice(axes: [value], starts: [0], ends: [1], steps: [1]))
                slices.append(.slice(axes: [0], starts: [value], ends: [Int.max], steps: [1]))
                slices.append(.slice(axes: [-1], starts: [Int.max], ends: [value], steps: [-1]))
                slices.append(.slice(axes: [0], starts: [Int.min], ends: [Int.max], steps: [value]))
            }
            slices.append(.slice(axes: [0, 0], starts: [0, 0], ends: [1, 1], steps: [1, 1]))
            slices.append(.slice(axes: [0], starts: [], ends: [], steps: []))
            return slices
        case .upsample:
            return (lists(1, fill: 2) + lists(2, fill: 1)).flatMap {
                [Op.upsample(factors: $0, mode: .nearest), .upsample(factors: $0, mode: .linear)]
            } + [.upsample(factors: [], mode: .nearest)]
        case .gather: return extremes.map { .gather(axis: $0) }
        case .quantizeLinear: return extremes.map { .quantizeLinear(axis: $0) }
        case .dequantizeLinear: return extremes.map { .dequantizeLinear(axis: $0) }
        case .recurrent:
            var recurrences: [Op] = []
            for cell in [Recurrence.Cell.rnn, .gru(linearBeforeReset: true), .lstm] {
                for direction in Recurrence.Direction.allCases {
                    for hidden in extremes {
                        let shell = Recurrence(cell: cell, direction: direction, hiddenSize: 1, activations: [])
                        let activations = Array(repeating: Activation.tanh, count: shell.activationsPerDirection * shell.directions)
                        recurrences.append(
                            .recurrent(Recurrence(cell: cell, direction: direction, hiddenSize: hidden, activations: activations)))
                    }
                    // The wrong number of activations.
                    recurrences.append(.recurrent(Recurrence(cell: cell, direction: direction, hiddenSize: 2, activations: [.tanh])))
                }
            }
            return recurrences
        case .attention:
            return [Float(0.5), .nan, .infinity, 0].flatMap { scale in
                [
                    Op.attention(Attention(scale: scale)),
                    .attention(Attention(scale: scale, causal: true, fullyMaskedRows: .zero, returnsScores: true)),
                ]
            }
        case .fused:
            return [.fused(.gemm(transB: false), epilogue: .relu), .fused(.matMul, epilogue: .sigmoid), .fused(.identity, epilogue: .relu)]
                + convolutions(1).prefix(30).map { .fused(.conv($0), epilogue: .relu) }
        }
    }

    /// Input lists for an op: every type for one input, pairs of the smaller set for two, and for the
    /// ops of more inputs lists built around each shape, with the parameters shaped to fit it.
    static func inputLists(for op: Op) -> [[TensorType]] {
        let arity = op.arity, kind = kind(of: op)
        var lists: [[TensorType]] = []
        if arity.contains(1) { lists += types.map { [$0] } }
        switch kind {
        case .conv, .convTranspose, .fused:
            // x of every extreme spatial size, a kernel of every extreme size that fits it otherwise.
            for size in sizes {
                for x in [TensorType(.float32, Shape(["N", size, 2])), TensorType(.float32, Shape(["N", size, size, 2]))] {
                    for k in sizes {
                        let kernel = TensorType(.float32, Shape(Array(repeating: k, count: x.shape.rank - 2) + [2, 2]))
                        lists += [[x, kernel], [x, kernel, TensorType(.float32, [2])]]
                    }
                }
            }
            lists += [[TensorType(.float32, ["N", 4]), TensorType(.float32, [4, 3])]]
        default:
            if arity.contains(2) {
                let floats = fewTypes.filter { $0.dtype == .float32 }
                lists += floats.flatMap { a in floats.map { b in [a, b] } }
            }
        }
        for x in fewTypes where x.shape.rank >= 1 {
            let last = x.shape.dims[x.shape.rank - 1]
            let parameter = TensorType(x.dtype, Shape([last]))
            switch kind {
            case .gemm, .layerNorm: lists.append([x, parameter, parameter])
            case .batchNorm: lists.append([x, parameter, parameter, parameter, parameter])
            case .gather: lists.append([x, TensorType(.int64, x.shape)])
            case .recurrent:
                // X [batch, seq, input] with `last` in each place, and parameters sized from extreme dimensions.
                guard case .recurrent(let r) = op else { break }
                let hidden = Dim.fixed(r.hiddenSize), dirs = Dim.fixed(r.directions)
                for sequence in [TensorType(.float32, ["N", last, 2]), TensorType(.float32, ["N", 3, last])] {
                    let input = sequence.shape.dims[2]
                    let w = TensorType(.float32, Shape([dirs, last, input])), r2 = TensorType(.float32, Shape([dirs, last, hidden]))
                    let b = TensorType(.float32, Shape([dirs, last])), h = TensorType(.float32, Shape(["N", dirs, hidden]))
                    lists += [[sequence, w, r2, b], [sequence, w, r2, b, h], [sequence, w, r2, b, h, h]]
                }
            case .attention:
                // Query, key and value with `last` as their lengths and the value's depth, with and without a mask.
                let q = TensorType(.float32, Shape(["N", last, 2, 3])), v = TensorType(.float32, Shape(["N", last, 2, last]))
                lists += [[q, q, v], [q, q, v, TensorType(.bool, Shape(["N", last, last]))], [x, x, x], [x, x, x, x]]
            case .quantizeLinear, .dequantizeLinear:
                lists.append([TensorType(.float32, x.shape), TensorType(.float32, Shape([])), TensorType(.int8, Shape([]))])
                lists.append([TensorType(.int8, x.shape), TensorType(.float32, Shape([last])), TensorType(.int8, Shape([last]))])
            default: break
            }
        }
        if kind == .concat {
            // Sizes that each fit but whose sum overflows.
            for dtype in [DType.int8, .float32] {
                lists.append(Array(repeating: TensorType(dtype, Shape([.fixed(1 << 62)])), count: 3))
                lists.append(Array(repeating: TensorType(dtype, Shape([2, .fixed(1 << 61)])), count: 3))
            }
        }
        return lists.filter { arity.contains($0.count) }
    }

    // MARK: - Tests

    func testEveryOpSurvivesExtremeAttributesAndShapes() {
        var calls = 0, thrown = 0
        var covered = Set<String>()
        for kind in Kind.allCases {
            let ops = Self.ops(of: kind)
            XCTAssertFalse(ops.isEmpty, "no samples for \(kind)")
            for op in ops {
                XCTAssertEqual(Self.kind(of: op), kind)
                covered.insert("\(kind)")
                for inputs in Self.inputLists(for: op) {
                    calls += 1
                    do {
                        let outputs = try op.inferTypes(inputs)
                        for output in outputs { XCTAssertTrue(Self.isCountable(output), "\(op) on \(inputs) gave \(output)") }
                    } catch {
                        thrown += 1
                        XCTAssertFalse(error.message.isEmpty)
                    }
                }
            }
        }
        XCTAssertEqual(covered.count, Kind.allCases.count)
        XCTAssertGreaterThan(calls, 200_000)
        XCTAssertGreaterThan(thrown, calls / 2, "most extreme cases are errors")
    }

    /// Every op refuses inputs whose sizes cannot be counted: a negative size, or more bytes than an Int holds.
    func testEveryOpRefusesUncountableInputs() {
        let uncountable = [
            TensorType(.float32, Shape([.fixed(Int.max), .fixed(Int.max)])), TensorType(.float32, Shape([.fixed(1 << 62)])),
            TensorType(.float32, Shape(["N", .fixed(-1)])),
        ]
        for kind in Kind.allCases {
            for op in Self.ops(of: kind) {
                for bad in uncountable {
                    let inputs = Array(repeating: bad, count: op.arity.lowerBound)
                    XCTAssertThrowsError(try op.inferTypes(inputs), "\(op) accepted \(inputs)")
                }
            }
        }
    }

    /// Attributes that are wrong whatever the input: each must be a thrown error on a sane input.
    func testExtremeAttributesAreErrors() {
        let x = TensorType(.float32, Shape(["N", 8, 8, 2])), w = TensorType(.float32, Shape([3, 3, 2, 4]))
        let line = TensorType(.int8, Shape(["N", .fixed(1 << 61), 2]))
        let cases: [(Op, [TensorType])] = [
            (.conv(Convolution(strides: [0, 1], dilations: [1, 1], pads: [1, 1, 1, 1])), [x, w]),
            (.conv(Convolution(strides: [-1, 1], dilations: [1, 1], pads: [0, 0, 0, 0])), [x, w]),
            (.conv(Convolution(strides: [1, 1], dilations: [Int.max, 1], pads: [0, 0, 0, 0])), [x, w]),
            (.conv(Convolution(strides: [1, 1], dilations: [0, 1], pads: [0, 0, 0, 0])), [x, w]),
            (.conv(Convolution(strides: [1, 1], dilations: [1, 1], pads: [Int.max, Int.max, 0, 0])), [x, w]),
            (.conv(Convolution(strides: [1, 1], dilations: [1, 1], pads: [0, 0, 0, 0], groups: 0)), [x, w]),
            (
                .convTranspose(Convolution(strides: [Int.max, 1], dilations: [1, 1], pads: [0, 0, 0, 0])),
                [x, TensorType(.float32, [3, 3, 4, 2])]
            ),
            (
                .convTranspose(Convolution(strides: [1, 1], dilations: [1, 1], pads: [Int.min, 0, 0, 0])),
                [x, TensorType(.float32, [3, 3, 4, 2])]
            ),
            (.pool(Pooling(kind: .max, window: [2, 2], strides: [0, 1], pads: [0, 0, 0, 0])), [x]),
            (.pool(Pooling(kind: .max, window: [Int.min, 2], strides: [1, 1], pads: [0, 0, 0, 0])), [x]),
            (.pool(Pooling(kind: .average, window: [2, 2], strides: [1, 1], pads: [Int.max, Int.max, 0, 0])), [x]),
            (.upsample(factors: [Int.max, 2], mode: .nearest), [x]),
            (.upsample(factors: [0, 2], mode: .nearest), [x]),
            (.upsample(factors: [1 << 40], mode: .nearest), [line]),
            (.pad(pads: [0, Int.max, 0, 0, Int.max, 0], value: 0), [line]),
            (.pad(pads: [0, 0, 0, 0, -1, 0, 0, 0], value: 0), [x]),
            (.crop(pads: [0, Int.max, 0, 0, 0, Int.max, 0, 0]), [x]),
            (.reshape(shape: [Int.max, Int.max]), [x]),
            (.reshape(shape: [0, 1 << 62, 1 << 62, -1]), [x]),
            (.reshape(shape: [-2]), [x]),
            (.flatten(axis: Int.max), [x]),
            (.flatten(axis: Int.min), [x]),
            (.concat(axis: 1), [line, line, line, line]),
            (.concat(axis: Int.min), [x, x]),
            (.softmax(axis: Int.min), [x]),
            (.reduce(.sum, axes: [Int.max], keepDims: true), [x]),
            (.batchNorm(epsilon: 0, axis: 7), [x] + Array(repeating: TensorType(.float32, [2]), count: 4)),
            (.layerNorm(axis: -5, epsilon: 0), [x]),
            (.gather(axis: Int.max), [x, TensorType(.int64, [3])]),
            (.slice(axes: [Int.min], starts: [0], ends: [1], steps: [1]), [x]),
            (.slice(axes: [1], starts: [0], ends: [8], steps: [0]), [x]),
            (.transpose(perm: [Int.max, 0, 1, 2]), [x]),
            (.quantizeLinear(axis: Int.max), [x, TensorType(.float32, [2]), TensorType(.int8, [2])]),
            (.dequantizeLinear(axis: Int.min), [TensorType(.int8, x.shape), TensorType(.float32, [2]), TensorType(.int8, [2])]),
        ]
        for (op, inputs) in cases { XCTAssertThrowsError(try op.inferTypes(inputs), "\(op) accepted \(inputs)") }
    }

    /// No negative dimension, and the bytes (symbolic dimensions as 1) fit in an Int.
    static func isCountable(_ type: TensorType) -> Bool {
        var total = type.dtype.byteSize
        for dim in type.shape.dims {
            guard let size = dim.fixedValue else { continue }
            guard size >= 0 else { return false }
            let (product, overflow) = total.multipliedReportingOverflow(by: size)
            if overflow { return false }
            total = product
        }
        return true
    }
}
