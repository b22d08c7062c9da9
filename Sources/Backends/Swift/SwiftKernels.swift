/// The kernels every generated executor carries, as Swift source. They use only the standard library and
/// Foundation's math functions, and are written for the default `-O` (products as `a * b + c`; with
/// `-D KILN_FMA` and an FMA-capable `-target-cpu`, fused multiply-adds).
enum SwiftKernels {
    static let source = #"""
        // MARK: - Kiln runtime kernels

        fileprivate typealias KilnVector = SIMD8<Float>

        /// What a matrix product applies to its results while they are still in registers.
        fileprivate enum KilnEpilogue {
            case none
            case relu
            case clip(Float, Float)
            case leakyRelu(Float)
        }

        @inline(__always)
        fileprivate func kilnMultiplyAdd(_ a: KilnVector, _ b: KilnVector, _ c: KilnVector) -> KilnVector {
            #if KILN_FMA
            return c.addingProduct(a, b)
            #else
            return a * b + c
            #endif
        }

        @inline(__always)
        fileprivate func kilnLoad(_ p: UnsafePointer<Float>) -> KilnVector {
            UnsafeRawPointer(p).loadUnaligned(as: KilnVector.self)
        }

        @inline(__always)
        fileprivate func kilnApply(_ v: KilnVector, _ epilogue: KilnEpilogue) -> KilnVector {
            switch epilogue {
            case .none:
                return v
            case .relu:
                return v.replacing(with: 0, where: v .< 0)
            case .clip(let low, let high):
                return v.replacing(with: low, where: v .< low).replacing(with: high, where: v .> high)
            case .leakyRelu(let alpha):
                return v.replacing(with: v * alpha, where: v .< 0)
            }
        }

        /// Stores the first `width` lanes of a row tile after adding the bias and applying the epilogue.
        @inline(__always)
        fileprivate func kilnStore(
            _ lo: KilnVector, _ hi: KilnVector, _ c: UnsafeMutablePointer<Float>, _ biasLo: KilnVector, _ biasHi: KilnVector,
            _ width: Int, _ epilogue: KilnEpilogue
        ) {
            let x = kilnApply(lo + biasLo, epilogue)
            let y = kilnApply(hi + biasHi, epilogue)
            if width == 16 {
                UnsafeMutableRawPointer(c).storeBytes(of: x, as: KilnVector.self)
                UnsafeMutableRawPointer(c + 8).storeBytes(of: y, as: KilnVector.self)
            } else {
                for j in 0..<min(width, 8) { c[j] = x[j] }
                if width > 8 { for j in 8..<width { c[j] = y[j - 8] } }
            }
        }

        @inline(__always)
        fileprivate func kilnBias(_ bias: UnsafePointer<Float>?, _ column: Int, _ width: Int) -> (KilnVector, KilnVector) {
            guard let bias else { return (KilnVector(), KilnVector()) }
            if width == 16 { return (kilnLoad(bias + column), kilnLoad(bias + column + 8)) }
            var lo = KilnVector(), hi = KilnVector()
            for j in 0..<width { if j < 8 { lo[j] = bias[column + j] } else { hi[j - 8] = bias[column + j] } }
            return (lo, hi)
        }

        /// Packs B, [k, n] row-major (or [n, k] when `transposed`), into panels of 16 columns: panel p holds
        /// rows 0..<k of columns 16p..<16p+16, zero-padded, so the kernels stream it contiguously.
        fileprivate func kilnPack(
            _ b: UnsafePointer<Float>, k: Int, n: Int, transposed: Bool, into packed: UnsafeMutablePointer<Float>
        ) {
            for panel in 0..<((n + 15) / 16) {
                let base = packed + panel * k * 16
                for row in 0..<k {
                    for j in 0..<16 {
                        let column = panel * 16 + j
                        base[row * 16 + j] = column < n ? (transposed ? b[column * k + row] : b[row * n + column]) : 0
                    }
                }
            }
        }

        /// C[m, n] = epilogue(A[m, k] x B + bias), with B packed by `kilnPack`.
        fileprivate func kilnGemm(
            _ a: UnsafePointer<Float>, lda: Int, _ packed: UnsafePointer<Float>, bias: UnsafePointer<Float>?,
            _ c: UnsafeMutablePointer<Float>, ldc: Int, m: Int, n: Int, k: Int, epilogue: KilnEpilogue
        ) {
            let panels = (n + 15) / 16
            // The products land in a small tile first: the k-loops then carry nothing but their accumulators,
            // which keeps them in registers whatever the epilogue.
            withUnsafeTemporaryAllocation(of: Float.self, capacity: 64) { buffer in
                let tile = buffer.baseAddress!
                var row = 0
                while row + 4 <= m {
                    for panel in 0..<panels {
                        kilnProduct4x16(a + row * lda, lda, packed + panel * k * 16, k, tile)
                        let (lo, hi) = kilnBias(bias, panel * 16, min(16, n - panel * 16))
                        for r in 0..<4 {
                            kilnStore(
                                kilnLoad(tile + 16 * r), kilnLoad(tile + 16 * r + 8), c + (row + r) * ldc + panel * 16, lo, hi,
                                min(16, n - panel * 16), epilogue)
                        }
                    }
                    row += 4
                }
                while row < m {
                    for panel in 0..<panels {
                        kilnProduct1x16(a + row * lda, packed + panel * k * 16, k, tile)
                        let (lo, hi) = kilnBias(bias, panel * 16, min(16, n - panel * 16))
                        kilnStore(kilnLoad(tile), kilnLoad(tile + 8), c + row * ldc + panel * 16, lo, hi, min(16, n - panel * 16), epilogue)
                    }
                    row += 1
                }
            }
        }

        /// tile[4][16] = A[4 rows, k] x one packed panel. With an AVX/FMA target (`-D KILN_FMA`) eight
        /// 256-bit accumulators cover the panel in one pass; for the default x86-64 target (16 SSE
        /// registers, two per vector) two passes of four accumulators avoid spilling.
        @inline(never)
        fileprivate func kilnProduct4x16(
            _ a: UnsafePointer<Float>, _ lda: Int, _ b: UnsafePointer<Float>, _ k: Int, _ tile: UnsafeMutablePointer<Float>
        ) {
            let a0 = a, a1 = a + lda, a2 = a + 2 * lda, a3 = a + 3 * lda
            let out = UnsafeMutableRawPointer(tile)
            #if KILN_FMA
            var c00 = KilnVector(), c01 = KilnVector(), c10 = KilnVector(), c11 = KilnVector()
            var c20 = KilnVector(), c21 = KilnVector(), c30 = KilnVector(), c31 = KilnVector()
            var p = b
            for i in 0..<k {
                let b0 = kilnLoad(p), b1 = kilnLoad(p + 8)
                let x0 = KilnVector(repeating: a0[i]), x1 = KilnVector(repeating: a1[i])
                c00 = kilnMultiplyAdd(x0, b0, c00)
                c01 = kilnMultiplyAdd(x0, b1, c01)
                c10 = kilnMultiplyAdd(x1, b0, c10)
                c11 = kilnMultiplyAdd(x1, b1, c11)
                let x2 = KilnVector(repeating: a2[i]), x3 = KilnVector(repeating: a3[i])
                c20 = kilnMultiplyAdd(x2, b0, c20)
                c21 = kilnMultiplyAdd(x2, b1, c21)
                c30 = kilnMultiplyAdd(x3, b0, c30)
                c31 = kilnMultiplyAdd(x3, b1, c31)
                p += 16
            }
            out.storeBytes(of: c00, toByteOffset: 0, as: KilnVector.self)
            out.storeBytes(of: c01, toByteOffset: 32, as: KilnVector.self)
            out.storeBytes(of: c10, toByteOffset: 64, as: KilnVector.self)
            out.storeBytes(of: c11, toByteOffset: 96, as: KilnVector.self)
            out.storeBytes(of: c20, toByteOffset: 128, as: KilnVector.self)
            out.storeBytes(of: c21, toByteOffset: 160, as: KilnVector.self)
            out.storeBytes(of: c30, toByteOffset: 192, as: KilnVector.self)
            out.storeBytes(of: c31, toByteOffset: 224, as: KilnVector.self)
            #else
            for half in 0..<2 {
                var c0 = KilnVector(), c1 = KilnVector(), c2 = KilnVector(), c3 = KilnVector()
                var p = b + 8 * half
                for i in 0..<k {
                    let v = kilnLoad(p)
                    c0 = kilnMultiplyAdd(KilnVector(repeating: a0[i]), v, c0)
                    c1 = kilnMultiplyAdd(KilnVector(repeating: a1[i]), v, c1)
                    c2 = kilnMultiplyAdd(KilnVector(repeating: a2[i]), v, c2)
                    c3 = kilnMultiplyAdd(KilnVector(repeating: a3[i]), v, c3)
                    p += 16
                }
                out.storeBytes(of: c0, toByteOffset: 32 * half, as: KilnVector.self)
                out.storeBytes(of: c1, toByteOffset: 64 + 32 * half, as: KilnVector.self)
                out.storeBytes(of: c2, toByteOffset: 128 + 32 * half, as: KilnVector.self)
                out.storeBytes(of: c3, toByteOffset: 192 + 32 * half, as: KilnVector.self)
            }
            #endif
        }

        /// tile[16] = one row of A x one packed panel: the batch-1 path. Two k-steps per iteration keep four
        /// independent accumulators busy.
        @inline(never)
        fileprivate func kilnProduct1x16(_ a: UnsafePointer<Float>, _ b: UnsafePointer<Float>, _ k: Int, _ tile: UnsafeMutablePointer<Float>) {
            var s0 = KilnVector(), s1 = KilnVector(), t0 = KilnVector(), t1 = KilnVector()
            var p = b
            var i = 0
            while i + 2 <= k {
                let x = KilnVector(repeating: a[i]), y = KilnVector(repeating: a[i + 1])
                s0 = kilnMultiplyAdd(x, kilnLoad(p), s0)
                s1 = kilnMultiplyAdd(x, kilnLoad(p + 8), s1)
                t0 = kilnMultiplyAdd(y, kilnLoad(p + 16), t0)
                t1 = kilnMultiplyAdd(y, kilnLoad(p + 24), t1)
                p += 32
                i += 2
            }
            if i < k {
                let x = KilnVector(repeating: a[i])
                s0 = kilnMultiplyAdd(x, kilnLoad(p), s0)
                s1 = kilnMultiplyAdd(x, kilnLoad(p + 8), s1)
            }
            UnsafeMutableRawPointer(tile).storeBytes(of: s0 + t0, as: KilnVector.self)
            UnsafeMutableRawPointer(tile + 8).storeBytes(of: s1 + t1, as: KilnVector.self)
        }

        /// Y[batch][m, n] = A[batch][m, k] x B[batch][k, n] for operands that are not constants; strides of 0
        /// broadcast an operand over the batch.
        fileprivate func kilnMatMul(
            _ a: UnsafePointer<Float>, strideA: Int, _ b: UnsafePointer<Float>, strideB: Int, _ y: UnsafeMutablePointer<Float>,
            batch: Int, m: Int, n: Int, k: Int, transposeB: Bool
        ) {
            for index in 0..<batch {
                let pa = a + index * strideA, pb = b + index * strideB, py = y + index * m * n
                for i in 0..<m {
                    for j in 0..<n { py[i * n + j] = 0 }
                    for l in 0..<k {
                        let x = pa[i * k + l]
                        if transposeB {
                            for j in 0..<n { py[i * n + j] += x * pb[j * k + l] }
                        } else {
                            for j in 0..<n { py[i * n + j] += x * pb[l * n + j] }
                        }
                    }
                }
            }
        }

        fileprivate enum KilnUnary {
            case relu, sigmoid, tanh, exp, softplus, softsign, swish, geluExact, geluTanh, sqrt
            case thresholdedRelu(Float)
            case elu(Float)
            case selu(Float, Float)
            case hardSigmoid(Float, Float)
            case leakyRelu(Float)
            case clip(Float, Float)
        }

        fileprivate func kilnUnary(_ f: KilnUnary, _ x: UnsafePointer<Float>, _ y: UnsafeMutablePointer<Float>, _ count: Int) {
            switch f {
            case .relu: for i in 0..<count { y[i] = x[i] < 0 ? 0 : x[i] }
            case .sigmoid: for i in 0..<count { y[i] = 1 / (1 + Foundation.exp(-x[i])) }
            case .tanh: for i in 0..<count { y[i] = Foundation.tanh(x[i]) }
            case .exp: for i in 0..<count { y[i] = Foundation.exp(x[i]) }
            case .softplus: for i in 0..<count { y[i] = Swift.max(x[i], 0) + Foundation.log1p(Foundation.exp(-Swift.abs(x[i]))) }
            case .softsign: for i in 0..<count { y[i] = x[i] / (1 + Swift.abs(x[i])) }
            case .swish: for i in 0..<count { y[i] = x[i] / (1 + Foundation.exp(-x[i])) }
            case .geluExact: for i in 0..<count { y[i] = 0.5 * x[i] * (1 + Foundation.erf(x[i] * 0.70710678118654752)) }
            case .geluTanh:
                for i in 0..<count {
                    let v = x[i]
                    y[i] = 0.5 * v * (1 + Foundation.tanh(0.79788456080286536 * (v + 0.044715 * v * v * v)))
                }
            case .elu(let alpha): for i in 0..<count { y[i] = x[i] > 0 ? x[i] : alpha * Foundation.expm1(x[i]) }
            case .selu(let alpha, let gamma):
                for i in 0..<count { y[i] = gamma * (x[i] > 0 ? x[i] : alpha * Foundation.expm1(x[i])) }
            case .hardSigmoid(let alpha, let beta): for i in 0..<count { y[i] = Swift.max(0, Swift.min(1, alpha * x[i] + beta)) }
            case .leakyRelu(let alpha): for i in 0..<count { y[i] = x[i] >= 0 ? x[i] : alpha * x[i] }
            case .clip(let low, let high): for i in 0..<count { y[i] = Swift.min(Swift.max(x[i], low), high) }
            case .sqrt: for i in 0..<count { y[i] = x[i].squareRoot() }
            case .thresholdedRelu(let theta): for i in 0..<count { y[i] = x[i] > theta ? x[i] : 0 }
            }
        }

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

        /// Resolves a static shape whose -1 entries are the batch size.
        @inline(__always)
        fileprivate func kilnResolve(_ shape: [Int], _ batch: Int, _ into: UnsafeMutableBufferPointer<Int>) {
            for d in 0..<shape.count { into[d] = shape[d] < 0 ? batch : shape[d] }
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
        fileprivate func kilnApplyScalar(_ v: Float, _ epilogue: KilnEpilogue) -> Float {
            switch epilogue {
            case .none: return v
            case .relu: return v < 0 ? 0 : v
            case .clip(let low, let high): return Swift.min(Swift.max(v, low), high)
            case .leakyRelu(let alpha): return v < 0 ? alpha * v : v
            }
        }

        /// The geometry of a channels-last sliding window: input [batch, spatial..., channels], window
        /// sizes, strides, dilations and pads (before each spatial dimension, then after), output spatial
        /// sizes. Static arrays, so nothing is allocated per call.
        fileprivate struct KilnWindow {
            var input: [Int]
            var window: [Int]
            var strides: [Int]
            var dilations: [Int]
            var pads: [Int]
            var output: [Int]
        }

        /// Visits every (output position, window position) pair, passing the flat output position and the
        /// flat input pixel index (batch and spatial, without channels), or -1 where the window reads padding.
        @inline(__always)
        fileprivate func kilnWindows(_ g: KilnWindow, batch: Int, _ body: (Int, Int, Int) -> Void) {
            let spatial = g.window.count
            withUnsafeTemporaryAllocation(of: Int.self, capacity: 2 * spatial + 1) { scratch in
                let position = UnsafeMutableBufferPointer(rebasing: scratch[0..<spatial])
                let offset = UnsafeMutableBufferPointer(rebasing: scratch[spatial..<2 * spatial])
                var outputCount = 1, windowCount = 1
                for d in 0..<spatial { outputCount *= g.output[d]; windowCount *= g.window[d] }
                var pixel = 0
                for n in 0..<batch {
                    for d in 0..<spatial { position[d] = 0 }
                    for _ in 0..<outputCount {
                        for d in 0..<spatial { offset[d] = 0 }
                        for w in 0..<windowCount {
                            var index = n
                            for d in 0..<spatial {
                                let at = position[d] * g.strides[d] - g.pads[d] + offset[d] * g.dilations[d]
                                if at < 0 || at >= g.input[d + 1] { index = -1; break }
                                index = index * g.input[d + 1] + at
                            }
                            body(pixel, w, index)
                            var d = spatial - 1
                            while d >= 0 {
                                offset[d] += 1
                                if offset[d] < g.window[d] { break }
                                offset[d] = 0
                                d -= 1
                            }
                        }
                        pixel += 1
                        var d = spatial - 1
                        while d >= 0 {
                            position[d] += 1
                            if position[d] < g.output[d] { break }
                            position[d] = 0
                            d -= 1
                        }
                    }
                }
            }
        }

        /// Lays out every window of x as one row of `columns` (window positions x channels), zeros for padding,
        /// so a convolution becomes one matrix product with the kernel.
        fileprivate func kilnIm2col(_ x: UnsafePointer<Float>, _ g: KilnWindow, channels: Int, _ columns: UnsafeMutablePointer<Float>, batch: Int) {
            var windowCount = 1
            for size in g.window { windowCount *= size }
            let width = windowCount * channels
            kilnWindows(g, batch: batch) { pixel, w, index in
                let row = columns + pixel * width + w * channels
                if index < 0 {
                    row.update(repeating: 0, count: channels)
                } else {
                    row.update(from: x + index * channels, count: channels)
                }
            }
        }

        /// A grouped convolution (depthwise when each group has one input channel), computed directly.
        fileprivate func kilnGroupedConv(
            _ x: UnsafePointer<Float>, _ g: KilnWindow, _ w: UnsafePointer<Float>, bias: UnsafePointer<Float>?,
            _ y: UnsafeMutablePointer<Float>, inChannels: Int, outChannels: Int, groups: Int, batch: Int, epilogue: KilnEpilogue
        ) {
            let perGroupIn = inChannels / groups, perGroupOut = outChannels / groups
            var windowCount = 1, pixels = batch
            for d in 0..<g.window.count { windowCount *= g.window[d]; pixels *= g.output[d] }
            for pixel in 0..<pixels {
                for o in 0..<outChannels { y[pixel * outChannels + o] = bias?[o] ?? 0 }
            }
            kilnWindows(g, batch: batch) { pixel, window, index in
                guard index >= 0 else { return }
                let source = x + index * inChannels
                let kernel = w + window * perGroupIn * outChannels
                let out = y + pixel * outChannels
                for o in 0..<outChannels {
                    let first = (o / perGroupOut) * perGroupIn
                    var sum: Float = 0
                    for i in 0..<perGroupIn { sum += source[first + i] * kernel[i * outChannels + o] }
                    out[o] += sum
                }
            }
            if case .none = epilogue { return }
            for i in 0..<pixels * outChannels { y[i] = kilnApplyScalar(y[i], epilogue) }
        }

        /// A transposed convolution: every input pixel, times the kernel, is added into the output positions
        /// it reaches. `g` describes the forward convolution from the output (its input) to x (its output).
        fileprivate func kilnConvTranspose(
            _ x: UnsafePointer<Float>, _ g: KilnWindow, _ w: UnsafePointer<Float>, bias: UnsafePointer<Float>?,
            _ y: UnsafeMutablePointer<Float>, inChannels: Int, outChannels: Int, batch: Int
        ) {
            var outputPixels = batch
            for d in 1..<(g.input.count - 1) { outputPixels *= g.input[d] }
            for pixel in 0..<outputPixels {
                for o in 0..<outChannels { y[pixel * outChannels + o] = bias?[o] ?? 0 }
            }
            kilnWindows(g, batch: batch) { pixel, window, index in
                guard index >= 0 else { return }
                let source = x + pixel * inChannels
                let kernel = w + window * outChannels * inChannels
                let out = y + index * outChannels
                for o in 0..<outChannels {
                    var sum: Float = 0
                    for i in 0..<inChannels { sum += source[i] * kernel[o * inChannels + i] }
                    out[o] += sum
                }
            }
        }

        /// Max or average pooling; the average counts only real (not padded) elements.
        fileprivate func kilnPool(
            _ x: UnsafePointer<Float>, _ g: KilnWindow, channels: Int, isMax: Bool, _ y: UnsafeMutablePointer<Float>, batch: Int
        ) {
            var pixels = batch
            for size in g.output { pixels *= size }
            withUnsafeTemporaryAllocation(of: Float.self, capacity: pixels) { counts in
                for pixel in 0..<pixels {
                    counts[pixel] = 0
                    for c in 0..<channels { y[pixel * channels + c] = isMax ? -Float.infinity : 0 }
                }
                kilnWindows(g, batch: batch) { pixel, _, index in
                    guard index >= 0 else { return }
                    let source = x + index * channels, out = y + pixel * channels
                    if isMax {
                        for c in 0..<channels { out[c] = Swift.max(out[c], source[c]) }
                    } else {
                        for c in 0..<channels { out[c] += source[c] }
                        counts[pixel] += 1
                    }
                }
                if !isMax {
                    for pixel in 0..<pixels {
                        let scale = 1 / Swift.max(counts[pixel], 1)
                        for c in 0..<channels { y[pixel * channels + c] *= scale }
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
}
