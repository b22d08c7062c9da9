import CBLAS
import Foundation
import KilnIR

/// Reference kernels for the layer-shaped ops: convolution, pooling, reductions, normalization, joins and
/// padding. Plain index arithmetic over row-major channels-last data.
enum Layers {
    /// Row-major strides of a shape.
    static func strides(_ shape: [Int]) -> [Int] {
        var result = [Int](repeating: 1, count: shape.count)
        for d in stride(from: shape.count - 2, through: 0, by: -1) { result[d] = result[d + 1] * shape[d + 1] }
        return result
    }

    /// Calls `body` with every index of `dims` in row-major order.
    static func forEachIndex(_ dims: [Int], _ body: ([Int]) -> Void) {
        guard !dims.contains(0) else { return }
        var index = [Int](repeating: 0, count: dims.count)
        while true {
            body(index)
            var d = dims.count - 1
            while d >= 0 {
                index[d] += 1
                if index[d] < dims[d] { break }
                index[d] = 0
                d -= 1
            }
            if d < 0 { return }
        }
    }

    /// Each output pixel's window of input (im2col: a row per pixel, a column per window position and input
    /// channel of the group, zeros where the window reads padding) times the kernel as a matrix, in double
    /// precision with `cblas_dgemm`, plus the bias. Pixels go in blocks, so the columns stay small.
    static func conv(_ x: Tensor, _ w: Tensor, bias: Tensor?, _ c: Convolution, outputShape: [Int]) -> Tensor {
        let spatial = x.shape.count - 2
        let cin = x.shape[spatial + 1], cout = w.shape[spatial + 1]
        let cinPerGroup = cin / c.groups, coutPerGroup = cout / c.groups
        let xs = strides(x.shape), ws = strides(w.shape)
        let input = x.floats.map(Double.init), kernel = w.floats, b = bias?.floats
        let kernelDims = Array(w.shape[0..<spatial])
        let windowCount = kernelDims.reduce(1, *), columns = windowCount * cinPerGroup
        let pixelShape = Array(outputShape.dropLast()), pixels = pixelShape.reduce(1, *)
        var out = [Float](repeating: 0, count: outputShape.reduce(1, *))
        // Every pixel's input offset for every window position (-1: padding).
        var positions: [[Int]] = []
        forEachIndex(pixelShape) { positions.append($0) }
        var windowOffsets: [[Int]] = []
        forEachIndex(kernelDims) { windowOffsets.append($0) }
        let block = max(1, min(pixels, (1 << 22) / max(columns, 1)))
        for group in 0..<c.groups {
            // The group's kernel as a [window x cinPerGroup, coutPerGroup] matrix.
            var weights = [Double](repeating: 0, count: columns * coutPerGroup)
            for (k, offset) in windowOffsets.enumerated() {
                var kernelOffset = group * coutPerGroup
                for d in 0..<spatial { kernelOffset += offset[d] * ws[d] }
                for ci in 0..<cinPerGroup {
                    for co in 0..<coutPerGroup {
                        weights[(k * cinPerGroup + ci) * coutPerGroup + co] = Double(kernel[kernelOffset + ci * ws[spatial] + co])
                    }
                }
            }
            var patch = [Double](repeating: 0, count: block * columns)
            var product = [Double](repeating: 0, count: block * coutPerGroup)
            for first in stride(from: 0, to: pixels, by: block) {
                let rows = min(block, pixels - first)
                for row in 0..<rows {
                    let position = positions[first + row]
                    for (k, offset) in windowOffsets.enumerated() {
                        let target = (row * windowCount + k) * cinPerGroup
                        var source = position[0] * xs[0] + group * cinPerGroup
                        var inside = true
                        for d in 0..<spatial {
                            let at = position[d + 1] * c.strides[d] - c.pads[d] + offset[d] * c.dilations[d]
                            if at < 0 || at >= x.shape[d + 1] {
                                inside = false
                                break
                            }
                            source += at * xs[d + 1]
                        }
                        for ci in 0..<cinPerGroup { patch[target + ci] = inside ? input[source + ci] : 0 }
                    }
                }
                cblas_dgemm(
                    CblasRowMajor, CblasNoTrans, CblasNoTrans, Int32(rows), Int32(coutPerGroup), Int32(columns), 1, patch, Int32(columns),
                    weights, Int32(coutPerGroup), 0, &product, Int32(coutPerGroup))
                for row in 0..<rows {
                    for co in 0..<coutPerGroup {
                        let channel = group * coutPerGroup + co
                        out[(first + row) * cout + channel] = Float(Double(b?[channel] ?? 0) + product[row * coutPerGroup + co])
                    }
                }
            }
        }
        return Tensor(shape: outputShape, floats: out)
    }

    /// Scatters every input pixel times the kernel into the output: out[i * stride + j * dilation - pad] +=.
    static func convTranspose(_ x: Tensor, _ w: Tensor, bias: Tensor?, _ c: Convolution, outputShape: [Int]) -> Tensor {
        let spatial = x.shape.count - 2
        let cin = x.shape[spatial + 1], cout = w.shape[spatial]
        let ws = strides(w.shape), os = strides(outputShape)
        let input = x.floats, kernel = w.floats
        var out = [Double](repeating: 0, count: outputShape.reduce(1, *))
        let b = bias?.floats
        if let b { for i in out.indices { out[i] = Double(b[i % cout]) } }
        var i = 0
        forEachIndex(Array(x.shape.dropLast())) { position in
            let pixel = i
            i += cin
            forEachIndex(Array(w.shape[0..<spatial])) { k in
                var offset = position[0] * os[0]
                for d in 0..<spatial {
                    let at = position[d + 1] * c.strides[d] + k[d] * c.dilations[d] - c.pads[d]
                    if at < 0 || at >= outputShape[d + 1] { return }
                    offset += at * os[d + 1]
                }
                var kernelOffset = 0
                for d in 0..<spatial { kernelOffset += k[d] * ws[d] }
                for co in 0..<cout {
                    var sum = 0.0
                    for ci in 0..<cin { sum += Double(input[pixel + ci]) * Double(kernel[kernelOffset + co * cin + ci]) }
                    out[offset + co] += sum
                }
            }
        }
        return Tensor(shape: outputShape, floats: out.map(Float.init))
    }

    static func pool(_ x: Tensor, _ p: Pooling, outputShape: [Int]) -> Tensor {
        let spatial = x.shape.count - 2
        let channels = x.shape[spatial + 1]
        let xs = strides(x.shape)
        let input = x.floats
        var out = [Float](repeating: 0, count: outputShape.reduce(1, *))
        var o = 0
        forEachIndex(Array(outputShape.dropLast())) { position in
            for channel in 0..<channels {
                var maximum = -Float.infinity
                var sum = 0.0
                var count = 0
                forEachIndex(p.window) { k in
                    var offset = position[0] * xs[0] + channel
                    for d in 0..<spatial {
                        let at = position[d + 1] * p.strides[d] - p.pads[d] + k[d]
                        if at < 0 || at >= x.shape[d + 1] { return }
                        offset += at * xs[d + 1]
                    }
                    maximum = Swift.max(maximum, input[offset])
                    sum += Double(input[offset])
                    count += 1
                }
                out[o] = p.kind == .max ? maximum : Float(sum / Double(Swift.max(count, 1)))
                o += 1
            }
        }
        return Tensor(shape: outputShape, floats: out)
    }

    static func reduce(_ x: Tensor, _ reduction: Reduction, axes: [Int], outputShape: [Int]) -> Tensor {
        let rank = x.shape.count
        let reduced = Set(axes.map { $0 < 0 ? $0 + rank : $0 })
        let input = x.floats
        // Accumulate each input element into the output slot whose index drops the reduced axes.
        let keptStrides = strides(x.shape.enumerated().map { reduced.contains($0.offset) ? 1 : $0.element })
        let count = outputShape.reduce(1, *)
        var accumulator = [Double](repeating: reduction == .max ? -.infinity : reduction == .min ? .infinity : 0, count: count)
        var i = 0
        forEachIndex(x.shape) { index in
            var slot = 0
            for d in 0..<rank where !reduced.contains(d) { slot += index[d] * keptStrides[d] }
            let v = Double(input[i])
            switch reduction {
            case .sum, .mean: accumulator[slot] += v
            case .max: accumulator[slot] = Swift.max(accumulator[slot], v)
            case .min: accumulator[slot] = Swift.min(accumulator[slot], v)
            }
            i += 1
        }
        let n = Double(reduced.reduce(1) { $0 * x.shape[$1] })
        return Tensor(shape: outputShape, floats: accumulator.map { Float(reduction == .mean ? $0 / n : $0) })
    }

    static func batchNorm(_ x: Tensor, scale: Tensor, offset: Tensor, mean: Tensor, variance: Tensor, epsilon: Float, axis: Int) -> Tensor {
        let rank = x.shape.count
        let a = axis < 0 ? axis + rank : axis
        let inner = x.shape[(a + 1)...].reduce(1, *), channels = x.shape[a]
        let g = scale.floats, b = offset.floats, m = mean.floats, v = variance.floats
        let out = x.floats.enumerated().map { i, value -> Float in
            let c = (i / inner) % channels
            return Float((Double(value) - Double(m[c])) / (Double(v[c]) + Double(epsilon)).squareRoot() * Double(g[c]) + Double(b[c]))
        }
        return Tensor(shape: x.shape, floats: out)
    }

    static func layerNorm(_ x: Tensor, scale: Tensor?, bias: Tensor?, axis: Int, epsilon: Float) -> Tensor {
        let a = axis < 0 ? axis + x.shape.count : axis
        let size = x.shape[a...].reduce(1, *), outer = size == 0 ? 0 : x.count / size
        let input = x.floats, g = scale?.floats, b = bias?.floats
        var out = [Float](repeating: 0, count: x.count)
        for o in 0..<outer {
            let row = input[(o * size)..<((o + 1) * size)].map(Double.init)
            let mean = row.reduce(0, +) / Double(size)
            let variance = row.reduce(0) { $0 + ($1 - mean) * ($1 - mean) } / Double(size)
            let deviation = (variance + Double(epsilon)).squareRoot()
            for j in 0..<size {
                var v = (row[j] - mean) / deviation
                if let g { v *= Double(g[j]) }
                if let b { v += Double(b[j]) }
                out[o * size + j] = Float(v)
            }
        }
        return Tensor(shape: x.shape, floats: out)
    }

    static func concat(_ inputs: [Tensor], axis: Int, outputShape: [Int]) -> Tensor {
        let rank = outputShape.count
        let a = axis < 0 ? axis + rank : axis
        let outer = outputShape[..<a].reduce(1, *)
        var out: [Float] = []
        out.reserveCapacity(outputShape.reduce(1, *))
        let values = inputs.map(\.floats)
        for o in 0..<outer {
            for (input, data) in zip(inputs, values) {
                let block = input.shape[a...].reduce(1, *)
                out += data[o * block..<(o + 1) * block]
            }
        }
        return Tensor(shape: outputShape, floats: out)
    }

    /// Upsampling along one spatial dimension at a time (the product of 1-D interpolations is the N-linear
    /// one): nearest repeats input o / factor; linear reads (o + 0.5) / factor - 0.5 clamped to the input.
    static func upsample(_ x: Tensor, factors: [Int], mode: Upsampling) -> Tensor {
        var shape = x.shape
        var values = x.floats
        for (d, factor) in factors.enumerated() where factor > 1 {
            let axis = d + 1
            let size = shape[axis], outSize = size * factor
            let outer = shape[..<axis].reduce(1, *), inner = shape[(axis + 1)...].reduce(1, *)
            var out = [Float](repeating: 0, count: outer * outSize * inner)
            for o in 0..<outSize {
                let coordinate = mode == .nearest ? Double(o / factor) : max((Double(o) + 0.5) / Double(factor) - 0.5, 0)
                let low = min(Int(coordinate), size - 1), high = min(low + 1, size - 1)
                let t = Float(coordinate - Double(low))
                for a in 0..<outer {
                    let lowBase = (a * size + low) * inner, highBase = (a * size + high) * inner, outBase = (a * outSize + o) * inner
                    for i in 0..<inner {
                        let p = values[lowBase + i], q = values[highBase + i]
                        out[outBase + i] = t == 0 ? p : p + (q - p) * t
                    }
                }
            }
            shape[axis] = outSize
            values = out
        }
        return Tensor(shape: shape, floats: values)
    }

    /// For element i of a tensor of `shape`, the index of its per-axis parameter (0 when per-tensor).
    private static func parameterIndex(_ shape: [Int], axis: Int, perAxis: Bool) -> (Int) -> Int {
        guard perAxis else { return { _ in 0 } }
        let inner = shape[(axis + 1)...].reduce(1, *), size = shape[axis]
        return { $0 / inner % size }
    }

    /// ONNX QuantizeLinear: x / scale in f32, rounded half to even, plus the zero point, saturated.
    static func quantize(_ x: Tensor, scale: Tensor, zeroPoint: Tensor, axis: Int) -> Tensor {
        let scales = scale.floats, zeros = zeroPoint.int64s.map(Float.init)
        let index = parameterIndex(x.shape, axis: axis, perAxis: scale.shape.count == 1)
        let (low, high): (Float, Float) = zeroPoint.dtype == .uint8 ? (0, 255) : (-128, 127)
        let values = x.floats.enumerated().map { i, v in
            let p = index(i)
            if v.isNaN { return zeros[p] }
            return Swift.min(Swift.max((v / scales[p]).rounded(.toNearestOrEven) + zeros[p], low), high)
        }
        let storage: TensorStorage = zeroPoint.dtype == .uint8 ? .uint8(values.map { UInt8($0) }) : .int8(values.map { Int8($0) })
        return Tensor(shape: x.shape, storage: storage)
    }

    /// ONNX DequantizeLinear: (x - zeroPoint) * scale.
    static func dequantize(_ x: Tensor, scale: Tensor, zeroPoint: Tensor, axis: Int) -> Tensor {
        let scales = scale.floats, zeros = zeroPoint.int64s
        let index = parameterIndex(x.shape, axis: axis, perAxis: scale.shape.count == 1)
        let values = x.int64s.enumerated().map { i, q in Float(q - zeros[index(i)]) * scales[index(i)] }
        return Tensor(shape: x.shape, floats: values)
    }

    /// Slices of `data` along `axis` chosen by `indices`; any index outside [0, size) is an error.
    static func gather(_ data: Tensor, _ indices: Tensor, axis: Int, node: String) throws -> Tensor {
        let size = data.shape[axis]
        let outer = data.shape[..<axis].reduce(1, *), inner = data.shape[(axis + 1)...].reduce(1, *)
        let picks = indices.int64s
        if let bad = picks.first(where: { $0 < 0 || $0 >= size }) {
            throw InterpreterError.indexOutOfRange(node: node, index: bad, size: size)
        }
        let values = data.floats
        var out: [Float] = []
        out.reserveCapacity(outer * picks.count * inner)
        for a in 0..<outer {
            for pick in picks {
                let start = (a * size + Int(pick)) * inner
                out += values[start..<start + inner]
            }
        }
        return Tensor(shape: Array(data.shape[..<axis]) + indices.shape + Array(data.shape[(axis + 1)...]), floats: out)
    }

    static func crop(_ x: Tensor, pads: [Int], outputShape: [Int]) -> Tensor {
        let xs = strides(x.shape)
        let input = x.floats
        var out: [Float] = []
        out.reserveCapacity(outputShape.reduce(1, *))
        forEachIndex(outputShape) { index in
            var offset = 0
            for d in 0..<index.count { offset += (index[d] + pads[d]) * xs[d] }
            out.append(input[offset])
        }
        return Tensor(shape: outputShape, floats: out)
    }

    /// ONNX Slice along `axes`; the elements keep their type.
    static func slice(_ x: Tensor, axes: [Int], starts: [Int], ends: [Int], steps: [Int]) -> Tensor {
        let rank = x.shape.count
        var ranges = x.shape.map { SliceRange(start: 0, end: $0, step: 1, size: $0) }
        for (i, axis) in axes.enumerated() {
            let a = axis < 0 ? axis + rank : axis
            ranges[a] = SliceRange(start: starts[i], end: ends[i], step: steps[i], size: x.shape[a])
        }
        let xs = strides(x.shape)
        let shape = ranges.map(\.count)
        var order: [Int] = []
        order.reserveCapacity(shape.reduce(1, *))
        forEachIndex(shape) { index in
            var offset = 0
            for d in 0..<rank { offset += (ranges[d].first + index[d] * ranges[d].step) * xs[d] }
            order.append(offset)
        }
        func pick<T>(_ values: [T]) -> [T] { order.map { values[$0] } }
        let storage: TensorStorage
        switch x.storage {
        case .float32(let v): storage = .float32(pick(v))
        case .float16(let v): storage = .float16(pick(v))
        case .int8(let v): storage = .int8(pick(v))
        case .uint8(let v): storage = .uint8(pick(v))
        case .int32(let v): storage = .int32(pick(v))
        case .int64(let v): storage = .int64(pick(v))
        case .bool(let v): storage = .bool(pick(v))
        }
        return Tensor(shape: shape, storage: storage)
    }

    static func pad(_ x: Tensor, pads: [Int], value: Float, outputShape: [Int]) -> Tensor {
        let rank = x.shape.count
        var out = [Float](repeating: value, count: outputShape.reduce(1, *))
        let os = strides(outputShape)
        let input = x.floats
        var i = 0
        forEachIndex(x.shape) { index in
            var offset = 0
            for d in 0..<rank { offset += (index[d] + pads[d]) * os[d] }
            out[offset] = input[i]
            i += 1
        }
        return Tensor(shape: outputShape, floats: out)
    }
}
