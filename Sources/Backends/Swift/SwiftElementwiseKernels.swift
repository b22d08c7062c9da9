/// The elementwise, reduction and data-movement kernels.
extension SwiftKernels {
    /// Broadcasting arithmetic, softmax, reductions and per-channel affine maps.
    static let elementwise = #"""
        fileprivate enum KilnBinary { case add, sub, mul, div, max, min }

        @inline(__always)
        fileprivate func kilnCombine(_ op: KilnBinary, _ a: Float, _ b: Float) -> Float {
            switch op {
            case .add: return a + b
            case .sub: return a - b
            case .mul: return a * b
            case .div: return a / b
            case .max: return Swift.max(a, b)
            case .min: return Swift.min(a, b)
            }
        }

        /// y[i] = a[i % aCount] op b[i % bCount], for operands that repeat along leading dimensions.
        fileprivate func kilnBinary(
            _ op: KilnBinary, _ a: UnsafePointer<Float>, _ aCount: Int, _ b: UnsafePointer<Float>, _ bCount: Int,
            _ y: UnsafeMutablePointer<Float>, _ count: Int
        ) {
            if aCount == count && bCount == count {
                switch op {
                case .add: for i in 0..<count { y[i] = a[i] + b[i] }
                case .sub: for i in 0..<count { y[i] = a[i] - b[i] }
                case .mul: for i in 0..<count { y[i] = a[i] * b[i] }
                case .div: for i in 0..<count { y[i] = a[i] / b[i] }
                case .max: for i in 0..<count { y[i] = Swift.max(a[i], b[i]) }
                case .min: for i in 0..<count { y[i] = Swift.min(a[i], b[i]) }
                }
                return
            }
            var base = 0
            let period = Swift.max(aCount, bCount)
            while base < count {
                for j in 0..<period { y[base + j] = kilnCombine(op, a[(base + j) % aCount], b[(base + j) % bCount]) }
                base += period
            }
        }


        /// General NumPy broadcasting, walking the output index by index.
        fileprivate func kilnBinaryStrided(
            _ op: KilnBinary, _ a: UnsafePointer<Float>, _ aShape: [Int], _ b: UnsafePointer<Float>, _ bShape: [Int],
            _ y: UnsafeMutablePointer<Float>, _ shape: [Int], batch: Int
        ) {
            let rank = shape.count
            withUnsafeTemporaryAllocation(of: Int.self, capacity: 4 * rank + 1) { scratch in
                let dims = UnsafeMutableBufferPointer(rebasing: scratch[0..<rank])
                let sa = UnsafeMutableBufferPointer(rebasing: scratch[rank..<2 * rank])
                let sb = UnsafeMutableBufferPointer(rebasing: scratch[2 * rank..<3 * rank])
                let index = UnsafeMutableBufferPointer(rebasing: scratch[3 * rank..<4 * rank])
                kilnResolve(shape, batch, dims)
                func broadcastStrides(_ operand: [Int], _ strides: UnsafeMutableBufferPointer<Int>) {
                    var step = 1
                    for d in stride(from: rank - 1, through: 0, by: -1) {
                        let od = d - (rank - operand.count)
                        let size = od >= 0 ? (operand[od] < 0 ? batch : operand[od]) : 1
                        strides[d] = size == 1 ? 0 : step
                        step *= size
                    }
                }
                broadcastStrides(aShape, sa)
                broadcastStrides(bShape, sb)
                var count = 1
                for d in 0..<rank { count *= dims[d]; index[d] = 0 }
                for i in 0..<count {
                    var oa = 0, ob = 0
                    for d in 0..<rank { oa += index[d] * sa[d]; ob += index[d] * sb[d] }
                    y[i] = kilnCombine(op, a[oa], b[ob])
                    var d = rank - 1
                    while d >= 0 {
                        index[d] += 1
                        if index[d] < dims[d] { break }
                        index[d] = 0
                        d -= 1
                    }
                }
            }
        }
        /// y = x * scale + shift along a channel axis of size `channels`, with `inner` elements per channel step.
        fileprivate func kilnAffine(
            _ x: UnsafePointer<Float>, _ scale: UnsafePointer<Float>, _ shift: UnsafePointer<Float>, _ y: UnsafeMutablePointer<Float>,
            outer: Int, channels: Int, inner: Int
        ) {
            var i = 0
            for _ in 0..<outer {
                for c in 0..<channels {
                    let s = scale[c], t = shift[c]
                    for _ in 0..<inner {
                        y[i] = x[i] * s + t
                        i += 1
                    }
                }
            }
        }

        /// Reduces a [outer, size, inner] view over its middle dimension.
        fileprivate func kilnReduce(_ x: UnsafePointer<Float>, _ y: UnsafeMutablePointer<Float>, outer: Int, size: Int, inner: Int, kind: Int) {
            for o in 0..<outer {
                for i in 0..<inner {
                    let base = o * size * inner + i
                    var acc: Float = kind == 1 ? -Float.infinity : kind == 2 ? Float.infinity : 0
                    for j in 0..<size {
                        let v = x[base + j * inner]
                        switch kind {
                        case 1: acc = Swift.max(acc, v)
                        case 2: acc = Swift.min(acc, v)
                        default: acc += v
                        }
                    }
                    y[o * inner + i] = kind == 3 ? acc / Float(size) : acc
                }
            }
        }

        /// Softmax over the middle dimension of an [outer, size, inner] view, subtracting the maximum first.
        fileprivate func kilnSoftmax(_ x: UnsafePointer<Float>, _ y: UnsafeMutablePointer<Float>, outer: Int, size: Int, inner: Int) {
            for o in 0..<outer {
                for i in 0..<inner {
                    let base = o * size * inner + i
                    var maximum = -Float.infinity
                    for j in 0..<size { maximum = Swift.max(maximum, x[base + j * inner]) }
                    var sum: Float = 0
                    for j in 0..<size {
                        let e = Foundation.exp(x[base + j * inner] - maximum)
                        y[base + j * inner] = e
                        sum += e
                    }
                    let scale = 1 / sum
                    for j in 0..<size { y[base + j * inner] *= scale }
                }
            }
        }

        """#

    /// Layer normalization.
    static let normalization = #"""
        /// Normalizes each of `outer` rows of `size` values to zero mean and unit variance (accumulated in
        /// Double), then applies the optional per-position scale and bias.
        fileprivate func kilnLayerNorm(
            _ x: UnsafePointer<Float>, _ scale: UnsafePointer<Float>?, _ bias: UnsafePointer<Float>?, _ y: UnsafeMutablePointer<Float>,
            outer: Int, size: Int, epsilon: Float
        ) {
            for o in 0..<outer {
                let row = x + o * size, out = y + o * size
                var sum = 0.0
                for j in 0..<size { sum += Double(row[j]) }
                let mean = sum / Double(size)
                var squares = 0.0
                for j in 0..<size {
                    let d = Double(row[j]) - mean
                    squares += d * d
                }
                let inverse = 1 / (squares / Double(size) + Double(epsilon)).squareRoot()
                for j in 0..<size {
                    var v = (Double(row[j]) - mean) * inverse
                    if let scale { v *= Double(scale[j]) }
                    if let bias { v += Double(bias[j]) }
                    out[j] = Float(v)
                }
            }
        }

        """#

    /// Transpose, constant padding and cropping: strided copies over shapes whose -1 entries are the batch.
    static let layout = #"""
        /// y = x transposed by `perm` (output dimension i is input dimension perm[i]).
        fileprivate func kilnTranspose(
            _ x: UnsafePointer<Float>, _ shape: [Int], _ perm: [Int], _ y: UnsafeMutablePointer<Float>, batch: Int
        ) {
            let rank = shape.count
            withUnsafeTemporaryAllocation(of: Int.self, capacity: 4 * rank + 1) { scratch in
                let dims = UnsafeMutableBufferPointer(rebasing: scratch[0..<rank])
                let strides = UnsafeMutableBufferPointer(rebasing: scratch[rank..<2 * rank])
                let outDims = UnsafeMutableBufferPointer(rebasing: scratch[2 * rank..<3 * rank])
                let index = UnsafeMutableBufferPointer(rebasing: scratch[3 * rank..<4 * rank])
                kilnResolve(shape, batch, dims)
                var step = 1
                for d in stride(from: rank - 1, through: 0, by: -1) { strides[d] = step; step *= dims[d] }
                var count = 1
                for d in 0..<rank { outDims[d] = dims[perm[d]]; count *= outDims[d]; index[d] = 0 }
                for i in 0..<count {
                    var offset = 0
                    for d in 0..<rank { offset += index[d] * strides[perm[d]] }
                    y[i] = x[offset]
                    var d = rank - 1
                    while d >= 0 {
                        index[d] += 1
                        if index[d] < outDims[d] { break }
                        index[d] = 0
                        d -= 1
                    }
                }
            }
        }

        @inline(__always)
        /// Constant padding: `pads` before each dimension, then after each; shapes use -1 for the batch.
        fileprivate func kilnPad(_ x: UnsafePointer<Float>, _ shape: [Int], _ pads: [Int], value: Float, _ y: UnsafeMutablePointer<Float>, batch: Int) {
            let rank = shape.count
            withUnsafeTemporaryAllocation(of: Int.self, capacity: 3 * rank + 1) { scratch in
                let dims = UnsafeMutableBufferPointer(rebasing: scratch[0..<rank])
                let outStrides = UnsafeMutableBufferPointer(rebasing: scratch[rank..<2 * rank])
                let index = UnsafeMutableBufferPointer(rebasing: scratch[2 * rank..<3 * rank])
                kilnResolve(shape, batch, dims)
                var step = 1, total = 1, count = 1
                for d in stride(from: rank - 1, through: 0, by: -1) {
                    outStrides[d] = step
                    step *= dims[d] + pads[d] + pads[rank + d]
                }
                total = step
                for d in 0..<rank { count *= dims[d]; index[d] = 0 }
                y.update(repeating: value, count: total)
                for i in 0..<count {
                    var offset = 0
                    for d in 0..<rank { offset += (index[d] + pads[d]) * outStrides[d] }
                    y[offset] = x[i]
                    var d = rank - 1
                    while d >= 0 {
                        index[d] += 1
                        if index[d] < dims[d] { break }
                        index[d] = 0
                        d -= 1
                    }
                }
            }
        }

        /// The inverse of padding: copies the window of x that leaves `pads` out before and after each dimension.
        fileprivate func kilnCrop(
            _ x: UnsafePointer<Float>, _ inShape: [Int], _ outShape: [Int], _ pads: [Int], _ y: UnsafeMutablePointer<Float>, batch: Int
        ) {
            let rank = outShape.count
            withUnsafeTemporaryAllocation(of: Int.self, capacity: 3 * rank + 1) { scratch in
                let dims = UnsafeMutableBufferPointer(rebasing: scratch[0..<rank])
                let inStrides = UnsafeMutableBufferPointer(rebasing: scratch[rank..<2 * rank])
                let index = UnsafeMutableBufferPointer(rebasing: scratch[2 * rank..<3 * rank])
                kilnResolve(outShape, batch, dims)
                var step = 1
                for d in stride(from: rank - 1, through: 0, by: -1) {
                    inStrides[d] = step
                    step *= inShape[d] < 0 ? batch : inShape[d]
                }
                var count = 1
                for d in 0..<rank { count *= dims[d]; index[d] = 0 }
                for i in 0..<count {
                    var offset = 0
                    for d in 0..<rank { offset += (index[d] + pads[d]) * inStrides[d] }
                    y[i] = x[offset]
                    var d = rank - 1
                    while d >= 0 {
                        index[d] += 1
                        if index[d] < dims[d] { break }
                        index[d] = 0
                        d -= 1
                    }
                }
            }
        }

        """#
}
