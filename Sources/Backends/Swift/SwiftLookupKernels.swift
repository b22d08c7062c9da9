/// Kernels for linear upsampling and table lookups (Gather).
extension SwiftKernels {
    static let resample = #"""
        /// Linear upsampling of channels-last data [batch, sizes..., channels] by integer `factors`, half-pixel
        /// centers: output position o of a dimension reads (o + 0.5) / factor - 0.5, clamped to the input.
        /// Interpolates along the last spatial dimension first, then the earlier ones, as a + (b - a) * t.
        fileprivate func kilnUpsampleLinear(
            _ x: UnsafePointer<Float>, _ sizes: [Int], _ factors: [Int], channels: Int, _ y: UnsafeMutablePointer<Float>, batch: Int
        ) {
            let spatial = sizes.count
            // Per dimension and output position: the two input positions and the weight of the second.
            var low: [[Int]] = [], high: [[Int]] = [], weight: [[Float]] = []
            for d in 0..<spatial {
                let n = sizes[d], f = factors[d]
                var l: [Int] = [], h: [Int] = [], t: [Float] = []
                for o in 0..<(n * f) {
                    let coordinate = Swift.max((Double(o) + 0.5) / Double(f) - 0.5, 0)
                    let first = Swift.min(Int(coordinate), n - 1)
                    l.append(first)
                    h.append(Swift.min(first + 1, n - 1))
                    t.append(Float(coordinate - Double(first)))
                }
                low.append(l)
                high.append(h)
                weight.append(t)
            }
            var inStrides = [Int](repeating: channels, count: spatial)
            for d in stride(from: spatial - 2, through: 0, by: -1) { inStrides[d] = inStrides[d + 1] * sizes[d + 1] }
            let inCount = sizes.reduce(channels, *)
            let outSizes = (0..<spatial).map { sizes[$0] * factors[$0] }
            let pixels = outSizes.reduce(1, *)
            let corners = 1 << spatial
            var offsets = [Int](repeating: 0, count: corners)
            var values = [Float](repeating: 0, count: corners)
            var index = [Int](repeating: 0, count: spatial)
            for b in 0..<batch {
                let xb = x + b * inCount
                var out = y + b * pixels * channels
                for _ in 0..<pixels {
                    // Corner c takes the high position in dimension d when bit (spatial - 1 - d) of c is set.
                    for c in 0..<corners {
                        var offset = 0
                        for d in 0..<spatial {
                            let useHigh = (c >> (spatial - 1 - d)) & 1 == 1
                            offset += (useHigh ? high[d][index[d]] : low[d][index[d]]) * inStrides[d]
                        }
                        offsets[c] = offset
                    }
                    for channel in 0..<channels {
                        for c in 0..<corners { values[c] = xb[offsets[c] + channel] }
                        var width = corners
                        for d in stride(from: spatial - 1, through: 0, by: -1) {
                            let t = weight[d][index[d]]
                            width /= 2
                            for c in 0..<width {
                                let p = values[2 * c], q = values[2 * c + 1]
                                values[c] = p + (q - p) * t
                            }
                        }
                        out[channel] = values[0]
                    }
                    out += channels
                    var d = spatial - 1
                    while d >= 0 {
                        index[d] += 1
                        if index[d] < outSizes[d] { break }
                        index[d] = 0
                        d -= 1
                    }
                }
            }
        }

        /// Nearest upsampling of channels-last data [batch, sizes..., channels] by integer `factors`: output
        /// position o of a dimension repeats input o / factor; each output pixel copies one input pixel.
        fileprivate func kilnUpsampleNearest(
            _ x: UnsafePointer<Float>, _ sizes: [Int], _ factors: [Int], channels: Int, _ y: UnsafeMutablePointer<Float>, batch: Int
        ) {
            let spatial = sizes.count
            var inStrides = [Int](repeating: channels, count: spatial)
            for d in stride(from: spatial - 2, through: 0, by: -1) { inStrides[d] = inStrides[d + 1] * sizes[d + 1] }
            let inCount = sizes.reduce(channels, *)
            let outSizes = (0..<spatial).map { sizes[$0] * factors[$0] }
            let pixels = outSizes.reduce(1, *)
            var index = [Int](repeating: 0, count: spatial)
            var out = y
            for b in 0..<batch {
                let xb = x + b * inCount
                for _ in 0..<pixels {
                    var offset = 0
                    for d in 0..<spatial { offset += index[d] / factors[d] * inStrides[d] }
                    let source = xb + offset
                    for c in 0..<channels { out[c] = source[c] }
                    out += channels
                    var d = spatial - 1
                    while d >= 0 {
                        index[d] += 1
                        if index[d] < outSizes[d] { break }
                        index[d] = 0
                        d -= 1
                    }
                }
            }
        }

        """#

    static let gather = #"""
        /// Copies the slices of `data` [outer, size, inner] picked along the middle dimension by `indices` (whole
        /// numbers held as floats) into y [outer, count, inner]. Returns the first index outside [0, size), if any,
        /// after writing zeros in its place.
        fileprivate func kilnGather(
            _ data: UnsafePointer<Float>, outer: Int, size: Int, inner: Int, _ indices: UnsafePointer<Float>, count: Int,
            _ y: UnsafeMutablePointer<Float>
        ) -> Int? {
            var bad: Int? = nil
            for a in 0..<outer {
                for i in 0..<count {
                    let target = y + (a * count + i) * inner
                    let value = indices[i]
                    guard value >= 0, value < Float(size) else {
                        if bad == nil { bad = value.isFinite ? Int(value) : Int.min }
                        target.update(repeating: 0, count: inner)
                        continue
                    }
                    target.update(from: data + (a * size + Int(value)) * inner, count: inner)
                }
            }
            return bad
        }

        /// Integer conversion of values held as floats: truncation toward zero, as a Cast to an integer type does.
        fileprivate func kilnTruncate(_ x: UnsafePointer<Float>, _ y: UnsafeMutablePointer<Float>, _ count: Int) {
            for i in 0..<count { y[i] = x[i].rounded(.towardZero) }
        }

        """#
}

extension SwiftKernels {
    static let sparse = #"""
        /// C[m, n] = A[m, :] x B (+ bias[n]) with B [k, n] sparse, stored by row: `starts[i]..<starts[i + 1]`
        /// index the columns and values of row i's nonzeros. Each nonzero B[i, j] adds A[:, i] * B[i, j] into
        /// column j, and rows of B meeting a zero of A (after a Relu, often half) are skipped. Eight rows of A
        /// at a time go through `scratch` transposed ([k][8], then C's block as [n][8]), so a nonzero costs one
        /// vector multiply-add; the last rows go one at a time.
        fileprivate func kilnSparseGemm(
            _ a: UnsafePointer<Float>, lda: Int, _ b: UnsafePointer<Float>, nonzeros: Int, bias: UnsafePointer<Float>?,
            _ c: UnsafeMutablePointer<Float>, ldc: Int, m: Int, n: Int, k: Int, scratch: UnsafeMutablePointer<Float>, activation: KilnActivation
        ) {
            let starts = UnsafeRawPointer(b).assumingMemoryBound(to: UInt32.self)
            let columns = starts + (k + 1)
            let values = b + (k + 1 + nonzeros)
            let at = scratch, ct = scratch + k * 8
            var row = 0
            while row + 8 <= m {
                for r in 0..<8 {
                    let source = a + (row + r) * lda
                    for i in 0..<k { at[i * 8 + r] = source[i] }
                }
                for j in 0..<n { kilnStore(KilnVector(repeating: bias?[j] ?? 0), ct + j * 8) }
                for i in 0..<k {
                    let x = kilnLoad(at + i * 8)
                    if x == KilnVector(repeating: 0) { continue }
                    for e in Int(starts[i])..<Int(starts[i + 1]) {
                        let target = ct + Int(columns[e]) * 8
                        kilnStore(kilnMultiplyAdd(x, KilnVector(repeating: values[e]), kilnLoad(target)), target)
                    }
                }
                for j in 0..<n {
                    let v = kilnLoad(ct + j * 8)
                    for r in 0..<8 { c[(row + r) * ldc + j] = v[r] }
                }
                row += 8
            }
            while row < m {
                let source = a + row * lda, out = c + row * ldc
                for j in 0..<n { out[j] = bias?[j] ?? 0 }
                for i in 0..<k {
                    let x = source[i]
                    if x == 0 { continue }
                    for e in Int(starts[i])..<Int(starts[i + 1]) { out[Int(columns[e])] += x * values[e] }
                }
                row += 1
            }
            if case .none = activation { return }
            for r in 0..<m { kilnUnary(activation, c + r * ldc, c + r * ldc, n) }
        }

        """#
}

extension SwiftKernels {
    static let quantization = #"""
        /// ONNX QuantizeLinear on values held as floats: x / scale rounded half to even, plus the zero point,
        /// saturated to [low, high]. Element i uses parameter (i / inner) % size (size 1: one for all).
        fileprivate func kilnQuantize(
            _ x: UnsafePointer<Float>, _ y: UnsafeMutablePointer<Float>, count: Int, scales: UnsafePointer<Float>,
            zeros: UnsafePointer<Float>, size: Int, inner: Int, low: Float, high: Float
        ) {
            var start = 0
            if size == 1 {
                // Eight at a time: adding and subtracting 1.5 x 2^23 rounds half to even (as rounded(.toNearestOrEven)
                // does) for magnitudes up to 2^22, and anything larger saturates anyway.
                let scale = KilnVector(repeating: scales[0]), zero = KilnVector(repeating: zeros[0])
                let limit: Float = 4_194_304, magic = KilnVector(repeating: 12_582_912)
                while start + 8 <= count {
                    let v = kilnLoad(x + start) / scale
                    let bounded = v.replacing(with: limit, where: v .> limit).replacing(with: -limit, where: v .< -limit)
                    let r = (bounded + magic) - magic + zero
                    var q = r.replacing(with: low, where: r .< low).replacing(with: high, where: r .> high)
                    q.replace(with: zero, where: v .!= v)
                    kilnStore(q, y + start)
                    start += 8
                }
            }
            for i in start..<count {
                let p = size == 1 ? 0 : i / inner % size
                let v = x[i]
                y[i] = v.isNaN ? zeros[p] : Swift.min(Swift.max((v / scales[p]).rounded(.toNearestOrEven) + zeros[p], low), high)
            }
        }

        /// ONNX DequantizeLinear on whole numbers held as floats: (q - zero point) * scale.
        fileprivate func kilnDequantize(
            _ q: UnsafePointer<Float>, _ y: UnsafeMutablePointer<Float>, count: Int, scales: UnsafePointer<Float>,
            zeros: UnsafePointer<Float>, size: Int, inner: Int
        ) {
            var start = 0
            if size == 1 {
                let scale = KilnVector(repeating: scales[0]), zero = KilnVector(repeating: zeros[0])
                while start + 8 <= count {
                    kilnStore((kilnLoad(q + start) - zero) * scale, y + start)
                    start += 8
                }
            }
            for i in start..<count {
                let p = size == 1 ? 0 : i / inner % size
                y[i] = (q[i] - zeros[p]) * scales[p]
            }
        }

        """#
}
