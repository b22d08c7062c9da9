import CBLAS
import Foundation
import KilnIR

/// One straightforward implementation per op.
enum Kernels {
    static func evaluate(_ node: Node, _ args: [Tensor]) throws -> [Tensor] {
        func unsupported(_ reason: String) -> InterpreterError {
            .unsupported(node: node.name, op: node.op.name, reason: reason)
        }
        switch node.op {
        case .identity:
            return args
        case .activation(let activation):
            let f = activation.function
            return [Tensor(shape: args[0].shape, floats: args[0].floats.map { Float(f(Double($0))) })]
        case .binary(let op): return [try broadcast(args[0], args[1], unsupported, op.apply)]
        case .compare(let comparison): return [compare(args[0], args[1], comparison)]
        case .matMul:
            return [matMul(args[0], args[1])]
        case .gemm(let transB):
            return [gemm(args[0], args[1], bias: args.count == 3 ? args[2] : nil, transB: transB, unsupported)]
        case .softmax(let axis):
            return [softmax(args[0], axis: axis)]
        case .flatten, .reshape:
            // Shape inference already resolved the target shape; bind its symbolic dims from the input.
            return [Tensor(shape: try concreteShape(node, args, unsupported), storage: args[0].storage)]
        case .transpose(let perm):
            return [args[0].transposed(perm)]
        case .cast(let to):
            return [cast(args[0], to: to)]
        case .conv(let convolution):
            return [
                Layers.conv(
                    args[0], args[1], bias: args.count == 3 ? args[2] : nil, convolution,
                    outputShape: try concreteShape(node, args, unsupported))
            ]
        case .convTranspose(let convolution):
            return [
                Layers.convTranspose(
                    args[0], args[1], bias: args.count == 3 ? args[2] : nil, convolution,
                    outputShape: try concreteShape(node, args, unsupported))
            ]
        case .pool(let pooling):
            return [Layers.pool(args[0], pooling, outputShape: try concreteShape(node, args, unsupported))]
        case .reduce(let reduction, let axes, _):
            return [Layers.reduce(args[0], reduction, axes: axes, outputShape: try concreteShape(node, args, unsupported))]
        case .batchNorm(let epsilon, let axis):
            return [
                Layers.batchNorm(args[0], scale: args[1], offset: args[2], mean: args[3], variance: args[4], epsilon: epsilon, axis: axis)
            ]
        case .layerNorm(let axis, let epsilon):
            return [
                Layers.layerNorm(
                    args[0], scale: args.count >= 2 ? args[1] : nil, bias: args.count == 3 ? args[2] : nil, axis: axis, epsilon: epsilon)
            ]
        case .concat(let axis):
            return [Layers.concat(args, axis: axis, outputShape: try concreteShape(node, args, unsupported))]
        case .crop(let pads):
            return [Layers.crop(args[0], pads: pads, outputShape: try concreteShape(node, args, unsupported))]
        case .slice(let axes, let starts, let ends, let steps):
            return [Layers.slice(args[0], axes: axes, starts: starts, ends: ends, steps: steps)]
        case .pad(let pads, let value):
            return [Layers.pad(args[0], pads: pads, value: value, outputShape: try concreteShape(node, args, unsupported))]
        case .upsample(let factors, let mode):
            return [Layers.upsample(args[0], factors: factors, mode: mode)]
        case .quantizeLinear(let axis):
            return [Layers.quantize(args[0], scale: args[1], zeroPoint: args[2], axis: axis < 0 ? axis + args[0].shape.count : axis)]
        case .dequantizeLinear(let axis):
            return [Layers.dequantize(args[0], scale: args[1], zeroPoint: args[2], axis: axis < 0 ? axis + args[0].shape.count : axis)]
        case .gather(let axis):
            return [try Layers.gather(args[0], args[1], axis: axis < 0 ? axis + args[0].shape.count : axis, node: node.name)]
        case .recurrent(let recurrence):
            return Recurrent.run(args, recurrence)
        case .attention(let attention):
            return AttentionKernel.run(args, attention)
        case .fused(let product, let epilogue):
            // The product exactly as unfused, then the activation on its f32 results.
            var inner = node
            inner.op = product
            let results = try evaluate(inner, args)
            let f = epilogue.function
            return [Tensor(shape: results[0].shape, floats: results[0].floats.map { Float(f(Double($0))) })]
        }
    }

    /// The output shape of a shape-only op for these concrete inputs.
    private static func concreteShape(_ node: Node, _ args: [Tensor], _ unsupported: (String) -> InterpreterError) throws -> [Int] {
        let types = try node.op.inferTypes(args.map(\.type))
        guard let shape = types[0].shape.fixedSizes else { throw unsupported("could not resolve the output shape") }
        return shape
    }

    // MARK: - Elementwise

    private static func broadcast(
        _ a: Tensor, _ b: Tensor, _ unsupported: (String) -> InterpreterError, _ f: (Float, Float) -> Float
    ) throws -> Tensor {
        guard a.dtype == .float32, b.dtype == .float32 else { throw unsupported("only f32 arithmetic is implemented") }
        let rank = max(a.shape.count, b.shape.count)
        let shapeA = Array(repeating: 1, count: rank - a.shape.count) + a.shape
        let shapeB = Array(repeating: 1, count: rank - b.shape.count) + b.shape
        let shape = zip(shapeA, shapeB).map { max($0, $1) }
        let stridesA = broadcastStrides(shapeA), stridesB = broadcastStrides(shapeB)
        let x = a.floats, y = b.floats
        let count = shape.reduce(1, *)
        var out = [Float](repeating: 0, count: count)
        var index = [Int](repeating: 0, count: rank)
        for i in 0..<count {
            var offsetA = 0, offsetB = 0
            for d in 0..<rank {
                offsetA += index[d] * stridesA[d]
                offsetB += index[d] * stridesB[d]
            }
            out[i] = f(x[offsetA], y[offsetB])
            var d = rank - 1
            while d >= 0 {
                index[d] += 1
                if index[d] < shape[d] { break }
                index[d] = 0
                d -= 1
            }
        }
        return Tensor(shape: shape, floats: out)
    }

    /// Compares elements of any one type (integers exactly, as Doubles hold them up to 2^53), with broadcasting.
    private static func compare(_ a: Tensor, _ b: Tensor, _ comparison: Comparison) -> Tensor {
        func values(_ t: Tensor) -> [Double] { t.dtype.isFloatingPoint ? t.floats.map(Double.init) : t.int64s.map(Double.init) }
        let x = values(a), y = values(b)
        let rank = max(a.shape.count, b.shape.count)
        let shapeA = Array(repeating: 1, count: rank - a.shape.count) + a.shape
        let shapeB = Array(repeating: 1, count: rank - b.shape.count) + b.shape
        let shape = zip(shapeA, shapeB).map { max($0, $1) }
        let stridesA = broadcastStrides(shapeA), stridesB = broadcastStrides(shapeB)
        var out: [Bool] = []
        out.reserveCapacity(shape.reduce(1, *))
        Layers.forEachIndex(shape) { index in
            var offsetA = 0, offsetB = 0
            for d in 0..<rank {
                offsetA += index[d] * stridesA[d]
                offsetB += index[d] * stridesB[d]
            }
            out.append(comparison.apply(x[offsetA], y[offsetB]))
        }
        return Tensor(shape: shape, storage: .bool(out))
    }

    /// Row-major strides with 0 for dimensions of size 1, so they broadcast.
    private static func broadcastStrides(_ shape: [Int]) -> [Int] {
        var strides = [Int](repeating: 0, count: shape.count)
        var step = 1
        for d in stride(from: shape.count - 1, through: 0, by: -1) {
            strides[d] = shape[d] == 1 ? 0 : step
            step *= shape[d]
        }
        return strides
    }

    // MARK: - Linear algebra

    /// OpenBLAS's threaded build shares internal buffers between calls: calls from several threads at once
    /// (tests run engines side by side) corrupt memory, so they go one at a time.
    private static let blasLock = NSLock()

    /// C[M,N] = A[M,K] x B (B is [K,N], or [N,K] when transposed), through BLAS.
    private static func sgemm(
        _ a: UnsafePointer<Float>, _ b: UnsafePointer<Float>, _ c: UnsafeMutablePointer<Float>, m: Int, n: Int, k: Int, transB: Bool
    ) {
        guard m > 0, n > 0 else { return }
        guard k > 0 else {
            c.update(repeating: 0, count: m * n)
            return
        }
        blasLock.lock()
        defer { blasLock.unlock() }
        cblas_sgemm(
            CblasRowMajor, CblasNoTrans, transB ? CblasTrans : CblasNoTrans, Int32(m), Int32(n), Int32(k),
            1, a, Int32(k), b, Int32(transB ? k : n), 0, c, Int32(n))
    }

    private static func gemm(_ a: Tensor, _ b: Tensor, bias: Tensor?, transB: Bool, _ unsupported: (String) -> InterpreterError) -> Tensor {
        let m = a.shape[0], k = a.shape[1]
        let n = transB ? b.shape[0] : b.shape[1]
        var out = [Float](repeating: 0, count: m * n)
        let x = a.floats, w = b.floats
        out.withUnsafeMutableBufferPointer { c in
            x.withUnsafeBufferPointer { pa in
                w.withUnsafeBufferPointer { pb in
                    sgemm(pa.baseAddress!, pb.baseAddress!, c.baseAddress!, m: m, n: n, k: k, transB: transB)
                }
            }
        }
        var result = Tensor(shape: [m, n], floats: out)
        if let bias {
            // Shape inference proved the bias broadcasts to [M, N].
            result = (try? broadcast(result, bias, unsupported, +)) ?? result
        }
        return result
    }

    private static func matMul(_ a: Tensor, _ b: Tensor) -> Tensor {
        let m = a.shape[a.shape.count - 2], k = a.shape[a.shape.count - 1], n = b.shape[b.shape.count - 1]
        let batchA = Array(a.shape.dropLast(2)), batchB = Array(b.shape.dropLast(2))
        let rank = max(batchA.count, batchB.count)
        let padA = Array(repeating: 1, count: rank - batchA.count) + batchA
        let padB = Array(repeating: 1, count: rank - batchB.count) + batchB
        let batch = zip(padA, padB).map { max($0, $1) }
        let stridesA = broadcastStrides(padA), stridesB = broadcastStrides(padB)
        let count = batch.reduce(1, *)
        let x = a.floats, w = b.floats
        var out = [Float](repeating: 0, count: count * m * n)
        x.withUnsafeBufferPointer { pa in
            w.withUnsafeBufferPointer { pb in
                out.withUnsafeMutableBufferPointer { pc in
                    var index = [Int](repeating: 0, count: rank)
                    for i in 0..<count {
                        let offsetA = zip(index, stridesA).reduce(0) { $0 + $1.0 * $1.1 }
                        let offsetB = zip(index, stridesB).reduce(0) { $0 + $1.0 * $1.1 }
                        sgemm(
                            pa.baseAddress! + offsetA * m * k, pb.baseAddress! + offsetB * k * n, pc.baseAddress! + i * m * n,
                            m: m, n: n, k: k, transB: false)
                        var d = rank - 1
                        while d >= 0 {
                            index[d] += 1
                            if index[d] < batch[d] { break }
                            index[d] = 0
                            d -= 1
                        }
                    }
                }
            }
        }
        return Tensor(shape: batch + [m, n], floats: out)
    }

    // MARK: - Reductions and layout

    private static func softmax(_ x: Tensor, axis: Int) -> Tensor {
        let rank = x.shape.count
        let axis = axis < 0 ? axis + rank : axis
        let size = x.shape[axis]
        let inner = x.shape[(axis + 1)...].reduce(1, *)
        let outer = x.shape[..<axis].reduce(1, *)
        let input = x.floats
        var out = [Float](repeating: 0, count: input.count)
        for o in 0..<outer {
            for i in 0..<inner {
                let base = o * size * inner + i
                var maximum = -Double.infinity
                for j in 0..<size { maximum = max(maximum, Double(input[base + j * inner])) }
                var sum = 0.0
                for j in 0..<size { sum += Foundation.exp(Double(input[base + j * inner]) - maximum) }
                for j in 0..<size { out[base + j * inner] = Float(Foundation.exp(Double(input[base + j * inner]) - maximum) / sum) }
            }
        }
        return Tensor(shape: x.shape, floats: out)
    }

    private static func cast(_ x: Tensor, to dtype: DType) -> Tensor {
        let floats = x.floats
        let storage: TensorStorage
        switch dtype {
        case .float32: storage = .float32(floats)
        case .float16: storage = .float16(floats.map { Float16($0).bitPattern })
        case .int8: storage = .int8(x.int64s.map { Int8(truncatingIfNeeded: $0) })
        case .uint8: storage = .uint8(x.int64s.map { UInt8(truncatingIfNeeded: $0) })
        case .int32: storage = .int32(x.int64s.map { Int32(truncatingIfNeeded: $0) })
        case .int64: storage = .int64(x.int64s)
        case .bool: storage = .bool(floats.map { $0 != 0 })
        }
        return Tensor(shape: x.shape, storage: storage)
    }
}

extension Activation {
    /// The activation as a function on Double, evaluated in double precision for the reference.
    var function: (Double) -> Double {
        switch self {
        case .relu: return { max($0, 0) }
        case .sigmoid: return { 1 / (1 + Foundation.exp(-$0)) }
        case .tanh: return { Foundation.tanh($0) }
        case .exp: return { Foundation.exp($0) }
        case .softplus: return { max($0, 0) + Foundation.log1p(Foundation.exp(-Swift.abs($0))) }
        case .softsign: return { $0 / (1 + Swift.abs($0)) }
        case .elu(let alpha): return { $0 > 0 ? $0 : Double(alpha) * Foundation.expm1($0) }
        case .selu(let alpha, let gamma): return { Double(gamma) * ($0 > 0 ? $0 : Double(alpha) * Foundation.expm1($0)) }
        case .gelu(let approximate):
            if approximate {
                let c = (2 / Double.pi).squareRoot()
                return { 0.5 * $0 * (1 + Foundation.tanh(c * ($0 + 0.044715 * $0 * $0 * $0))) }
            }
            return { 0.5 * $0 * (1 + Foundation.erf($0 / 2.0.squareRoot())) }
        case .swish: return { $0 / (1 + Foundation.exp(-$0)) }
        case .hardSigmoid(let alpha, let beta): return { max(0, min(1, Double(alpha) * $0 + Double(beta))) }
        case .leakyRelu(let alpha): return { $0 >= 0 ? $0 : Double(alpha) * $0 }
        case .clip(let lower, let upper): return { min(max($0, Double(lower)), Double(upper)) }
        case .sqrt: return { $0.squareRoot() }
        case .thresholdedRelu(let theta): return { $0 > Double(theta) ? $0 : 0 }
        case .log: return { Foundation.log($0) }
        case .abs: return { Swift.abs($0) }
        case .neg: return { -$0 }
        case .erf: return { Foundation.erf($0) }
        case .reciprocal: return { 1 / $0 }
        }
    }
}
