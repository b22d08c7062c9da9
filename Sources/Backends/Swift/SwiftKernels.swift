/// The runtime kernels a generated executor carries, as Swift source, in sections so a file holds only
/// what its graph uses. They need only the standard library and Foundation's math functions, and are
/// written for the default `-O`: products are `a * b + c`, which compiles to SSE multiplies and adds. With
/// `-D KILN_FMA` and a target that has FMA (`-target-cpu haswell` or later), products become fused
/// multiply-adds and the matrix kernel switches to a 6x16 register tile. Without an FMA target
/// `KILN_FMA` is slow (each fused multiply-add becomes a libm call), so it is never on by default.
enum SwiftKernels {
    /// A group of kernels, emitted in this order.
    enum Section: Int, CaseIterable, Comparable {
        case core, gemm, matMul, elementwise, layout, window, resample, gather, sparse, quantization, normalization, int8, int8Gemv

        static func < (lhs: Section, rhs: Section) -> Bool { lhs.rawValue < rhs.rawValue }

        var source: String {
            switch self {
            case .core: SwiftKernels.core
            case .gemm: SwiftKernels.gemm
            case .matMul: SwiftKernels.matMul
            case .elementwise: SwiftKernels.elementwise
            case .layout: SwiftKernels.layout
            case .window: SwiftKernels.window
            case .resample: SwiftKernels.resample
            case .gather: SwiftKernels.gather
            case .sparse: SwiftKernels.sparse
            case .quantization: SwiftKernels.quantization
            case .normalization: SwiftKernels.normalization
            case .int8: SwiftKernels.int8
            case .int8Gemv: SwiftKernels.int8Gemv
            }
        }
    }

    /// The source of the given sections (the core always), in a fixed order.
    static func source(for sections: Set<Section>) -> String {
        (sections.union([.core])).sorted().map(\.source).joined(separator: "\n")
    }

    /// Vector helpers, the elementwise functions (standalone and as epilogues), and shape resolution.
    static let core = #"""
        // MARK: - Kiln runtime kernels

        fileprivate typealias KilnVector = SIMD8<Float>

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
        fileprivate func kilnStore(_ v: KilnVector, _ p: UnsafeMutablePointer<Float>) {
            UnsafeMutableRawPointer(p).storeBytes(of: v, as: KilnVector.self)
        }

        /// An elementwise function: a standalone activation, or what a matrix product applies to its results
        /// before they leave the cache.
        fileprivate enum KilnActivation {
            case none, relu, sigmoid, tanh, exp, softplus, softsign, swish, geluExact, geluTanh, sqrt
            case thresholdedRelu(Float)
            case elu(Float)
            case selu(Float, Float)
            case hardSigmoid(Float, Float)
            case leakyRelu(Float)
            case clip(Float, Float)

            /// Whether `kilnActivate` computes it on vectors; the others call libm one element at a time.
            var isVectorized: Bool {
                switch self {
                case .none, .relu, .softsign, .sqrt, .thresholdedRelu, .hardSigmoid, .leakyRelu, .clip: return true
                case .sigmoid, .tanh, .exp, .softplus, .swish, .geluExact, .geluTanh, .elu, .selu: return false
                }
            }
        }

        /// The vectorized activations; the others pass through unchanged (see `isVectorized`).
        @inline(__always)
        fileprivate func kilnActivate(_ v: KilnVector, _ f: KilnActivation) -> KilnVector {
            switch f {
            case .relu: return v.replacing(with: 0, where: v .< 0)
            case .softsign: return v / (1 + v.replacing(with: -v, where: v .< 0))
            case .sqrt: return v.squareRoot()
            case .thresholdedRelu(let theta): return v.replacing(with: 0, where: .!(v .> theta))
            case .hardSigmoid(let alpha, let beta):
                let t = v * alpha + beta
                return t.replacing(with: 0, where: t .< 0).replacing(with: 1, where: t .> 1)
            case .leakyRelu(let alpha): return v.replacing(with: v * alpha, where: v .< 0)
            case .clip(let low, let high): return v.replacing(with: low, where: v .< low).replacing(with: high, where: v .> high)
            case .none, .sigmoid, .tanh, .exp, .softplus, .swish, .geluExact, .geluTanh, .elu, .selu: return v
            }
        }

        /// y[i] = f(x[i]); x and y may be the same buffer.
        fileprivate func kilnUnary(_ f: KilnActivation, _ x: UnsafePointer<Float>, _ y: UnsafeMutablePointer<Float>, _ count: Int) {
            if f.isVectorized {
                var i = 0
                while i + 8 <= count {
                    kilnStore(kilnActivate(kilnLoad(x + i), f), y + i)
                    i += 8
                }
                while i < count {
                    y[i] = kilnActivate(KilnVector(repeating: x[i]), f)[0]
                    i += 1
                }
                return
            }
            switch f {
            case .none, .relu, .softsign, .sqrt, .thresholdedRelu, .hardSigmoid, .leakyRelu, .clip: break
            case .sigmoid: for i in 0..<count { y[i] = 1 / (1 + Foundation.exp(-x[i])) }
            case .tanh: for i in 0..<count { y[i] = Foundation.tanh(x[i]) }
            case .exp: for i in 0..<count { y[i] = Foundation.exp(x[i]) }
            case .softplus: for i in 0..<count { y[i] = Swift.max(x[i], 0) + Foundation.log1p(Foundation.exp(-Swift.abs(x[i]))) }
            case .swish: for i in 0..<count { y[i] = x[i] / (1 + Foundation.exp(-x[i])) }
            case .geluExact: for i in 0..<count { y[i] = 0.5 * x[i] * (1 + Foundation.erf(x[i] * 0.70710678118654752)) }
            case .geluTanh:
                for i in 0..<count {
                    let v = x[i]
                    y[i] = 0.5 * v * (1 + Foundation.tanh(0.79788456080286536 * (v + 0.044715 * v * v * v)))
                }
            case .elu(let alpha): for i in 0..<count { y[i] = x[i] > 0 ? x[i] : alpha * Foundation.expm1(x[i]) }
            case .selu(let alpha, let gamma): for i in 0..<count { y[i] = gamma * (x[i] > 0 ? x[i] : alpha * Foundation.expm1(x[i])) }
            }
        }

        /// Resolves a static shape whose -1 entries are the batch size.
        @inline(__always)
        fileprivate func kilnResolve(_ shape: [Int], _ batch: Int, _ into: UnsafeMutableBufferPointer<Int>) {
            for d in 0..<shape.count { into[d] = shape[d] < 0 ? batch : shape[d] }
        }

        """#

    /// The packed matrix product: register-tiled microkernels over 16-column panels of B, with the bias
    /// and activation applied to each tile as it is stored.
    static let gemm = #"""
        /// Rows of A per register tile. With FMA, 6x16 keeps twelve of the sixteen AVX registers as
        /// accumulators; on the default SSE target, 2x16 uses eight (two per SIMD8) and leaves the rest for
        /// the panel and the broadcasts, where a taller tile would spill.
        #if KILN_FMA
        fileprivate let kilnTileRows = 6
        #else
        fileprivate let kilnTileRows = 2
        #endif

        /// C[m, n] = f(A[m, k] x B + bias), with B packed in panels of 16 columns (panel p holds rows 0..<k of
        /// columns 16p..<16p+16, zero-padded) so the microkernels stream it contiguously. Rows are taken in
        /// blocks whose slice of A stays in the L2 cache while the panels pass over it; within a block a
        /// panel stays in L1 across the row tiles. A last single row (all of batch 1) is the GEMV path, which
        /// reads two panels per pass so that one broadcast of A feeds twice the multiplies.
        fileprivate func kilnGemm(
            _ a: UnsafePointer<Float>, lda: Int, _ packed: UnsafePointer<Float>, bias: UnsafePointer<Float>?,
            _ c: UnsafeMutablePointer<Float>, ldc: Int, m: Int, n: Int, k: Int, activation f: KilnActivation
        ) {
            let panels = (n + 15) / 16
            let blockRows = Swift.max(kilnTileRows, 49152 / Swift.max(k, 1) / kilnTileRows * kilnTileRows)
            withUnsafeTemporaryAllocation(of: Float.self, capacity: Swift.max(32, 16 * kilnTileRows)) { buffer in
                let tile = buffer.baseAddress!
                var start = 0
                while start < m {
                    let end = Swift.min(m, start + blockRows)
                    for pair in stride(from: 0, to: panels, by: 2) {
                        let count = Swift.min(2, panels - pair)
                        var last = start
                        for panel in pair..<(pair + count) {
                            let b = packed + panel * k * 16, column = panel * 16, width = Swift.min(16, n - column)
                            var row = start
                            #if KILN_FMA
                            while row + 6 <= end {
                                kilnProduct6x16(a + row * lda, lda, b, k, tile)
                                kilnFinish(tile, rows: 6, c + row * ldc + column, ldc: ldc, bias: bias, column: column, width: width, f)
                                row += 6
                            }
                            #endif
                            while row + 2 <= end {
                                kilnProduct2x16(a + row * lda, lda, b, k, tile)
                                kilnFinish(tile, rows: 2, c + row * ldc + column, ldc: ldc, bias: bias, column: column, width: width, f)
                                row += 2
                            }
                            last = row
                        }
                        guard last < end else { continue }
                        let column = pair * 16
                        if count == 2 {
                            kilnProduct1x32(a + last * lda, packed + pair * k * 16, k, tile)
                            kilnFinish(tile, rows: 1, c + last * ldc + column, ldc: ldc, bias: bias, column: column, width: 16, f)
                            kilnFinish(
                                tile + 16, rows: 1, c + last * ldc + column + 16, ldc: ldc, bias: bias, column: column + 16,
                                width: Swift.min(16, n - column - 16), f)
                        } else {
                            kilnProduct1x16(a + last * lda, packed + pair * k * 16, k, tile)
                            kilnFinish(tile, rows: 1, c + last * ldc + column, ldc: ldc, bias: bias, column: column, width: n - column, f)
                        }
                    }
                    start = end
                }
            }
        }

        /// Stores `rows` rows of a tile (16 floats apart) into C, the first `width` columns, adding the bias
        /// and applying f while the tile is still in L1.
        @inline(__always)
        fileprivate func kilnFinish(
            _ tile: UnsafePointer<Float>, rows: Int, _ c: UnsafeMutablePointer<Float>, ldc: Int, bias: UnsafePointer<Float>?,
            column: Int, width: Int, _ f: KilnActivation
        ) {
            if width == 16 && f.isVectorized {
                var biasLo = KilnVector(), biasHi = KilnVector()
                if let bias {
                    biasLo = kilnLoad(bias + column)
                    biasHi = kilnLoad(bias + column + 8)
                }
                for r in 0..<rows {
                    kilnStore(kilnActivate(kilnLoad(tile + 16 * r) + biasLo, f), c + r * ldc)
                    kilnStore(kilnActivate(kilnLoad(tile + 16 * r + 8) + biasHi, f), c + r * ldc + 8)
                }
                return
            }
            for r in 0..<rows {
                let out = c + r * ldc
                if let bias {
                    for j in 0..<width { out[j] = tile[16 * r + j] + bias[column + j] }
                } else {
                    for j in 0..<width { out[j] = tile[16 * r + j] }
                }
                if case .none = f { continue }
                kilnUnary(f, out, out, width)
            }
        }

        #if KILN_FMA
        /// tile[6][16] = A[6 rows, k] x one packed panel, in twelve AVX accumulators.
        @inline(never)
        fileprivate func kilnProduct6x16(
            _ a: UnsafePointer<Float>, _ lda: Int, _ b: UnsafePointer<Float>, _ k: Int, _ tile: UnsafeMutablePointer<Float>
        ) {
            let a0 = a, a1 = a + lda, a2 = a + 2 * lda, a3 = a + 3 * lda, a4 = a + 4 * lda, a5 = a + 5 * lda
            var c00 = KilnVector(), c01 = KilnVector(), c10 = KilnVector(), c11 = KilnVector()
            var c20 = KilnVector(), c21 = KilnVector(), c30 = KilnVector(), c31 = KilnVector()
            var c40 = KilnVector(), c41 = KilnVector(), c50 = KilnVector(), c51 = KilnVector()
            var p = b
            for i in 0..<k {
                let b0 = kilnLoad(p), b1 = kilnLoad(p + 8)
                var x = KilnVector(repeating: a0[i])
                c00 = kilnMultiplyAdd(x, b0, c00)
                c01 = kilnMultiplyAdd(x, b1, c01)
                x = KilnVector(repeating: a1[i])
                c10 = kilnMultiplyAdd(x, b0, c10)
                c11 = kilnMultiplyAdd(x, b1, c11)
                x = KilnVector(repeating: a2[i])
                c20 = kilnMultiplyAdd(x, b0, c20)
                c21 = kilnMultiplyAdd(x, b1, c21)
                x = KilnVector(repeating: a3[i])
                c30 = kilnMultiplyAdd(x, b0, c30)
                c31 = kilnMultiplyAdd(x, b1, c31)
                x = KilnVector(repeating: a4[i])
                c40 = kilnMultiplyAdd(x, b0, c40)
                c41 = kilnMultiplyAdd(x, b1, c41)
                x = KilnVector(repeating: a5[i])
                c50 = kilnMultiplyAdd(x, b0, c50)
                c51 = kilnMultiplyAdd(x, b1, c51)
                p += 16
            }
            kilnStore(c00, tile)
            kilnStore(c01, tile + 8)
            kilnStore(c10, tile + 16)
            kilnStore(c11, tile + 24)
            kilnStore(c20, tile + 32)
            kilnStore(c21, tile + 40)
            kilnStore(c30, tile + 48)
            kilnStore(c31, tile + 56)
            kilnStore(c40, tile + 64)
            kilnStore(c41, tile + 72)
            kilnStore(c50, tile + 80)
            kilnStore(c51, tile + 88)
        }
        #endif

        /// tile[2][16] = A[2 rows, k] x one packed panel: the main tile on the default target, and the rows
        /// left over after the 6-row tiles with FMA.
        @inline(never)
        fileprivate func kilnProduct2x16(
            _ a: UnsafePointer<Float>, _ lda: Int, _ b: UnsafePointer<Float>, _ k: Int, _ tile: UnsafeMutablePointer<Float>
        ) {
            let a0 = a, a1 = a + lda
            var c00 = KilnVector(), c01 = KilnVector(), c10 = KilnVector(), c11 = KilnVector()
            var p = b
            // With FMA (where these are the rows left over after the 6-row tiles), a second set of
            // accumulators over odd k-steps hides the fused multiply-add's latency.
            #if KILN_FMA
            var i = 0
            var d00 = KilnVector(), d01 = KilnVector(), d10 = KilnVector(), d11 = KilnVector()
            while i + 2 <= k {
                let b0 = kilnLoad(p), b1 = kilnLoad(p + 8), e0 = kilnLoad(p + 16), e1 = kilnLoad(p + 24)
                let x = KilnVector(repeating: a0[i]), y = KilnVector(repeating: a1[i])
                c00 = kilnMultiplyAdd(x, b0, c00)
                c01 = kilnMultiplyAdd(x, b1, c01)
                c10 = kilnMultiplyAdd(y, b0, c10)
                c11 = kilnMultiplyAdd(y, b1, c11)
                let u = KilnVector(repeating: a0[i + 1]), v = KilnVector(repeating: a1[i + 1])
                d00 = kilnMultiplyAdd(u, e0, d00)
                d01 = kilnMultiplyAdd(u, e1, d01)
                d10 = kilnMultiplyAdd(v, e0, d10)
                d11 = kilnMultiplyAdd(v, e1, d11)
                p += 32
                i += 2
            }
            c00 += d00
            c01 += d01
            c10 += d10
            c11 += d11
            let rest = i
            #else
            let rest = 0
            #endif
            for j in rest..<k {
                let b0 = kilnLoad(p), b1 = kilnLoad(p + 8)
                let x = KilnVector(repeating: a0[j]), y = KilnVector(repeating: a1[j])
                c00 = kilnMultiplyAdd(x, b0, c00)
                c01 = kilnMultiplyAdd(x, b1, c01)
                c10 = kilnMultiplyAdd(y, b0, c10)
                c11 = kilnMultiplyAdd(y, b1, c11)
                p += 16
            }
            kilnStore(c00, tile)
            kilnStore(c01, tile + 8)
            kilnStore(c10, tile + 16)
            kilnStore(c11, tile + 24)
        }

        /// tile[0..<32] = one row of A x two adjacent packed panels (the second starts k * 16 floats after the
        /// first): the batch-1 path, bound by how fast the panels stream in.
        @inline(never)
        fileprivate func kilnProduct1x32(_ a: UnsafePointer<Float>, _ b: UnsafePointer<Float>, _ k: Int, _ tile: UnsafeMutablePointer<Float>) {
            var s0 = KilnVector(), s1 = KilnVector(), t0 = KilnVector(), t1 = KilnVector()
            var p = b, q = b + k * 16
            // With FMA, a second set of accumulators over odd k-steps hides the fused multiply-add's latency;
            // on the default target it would not fit in the registers.
            #if KILN_FMA
            var i = 0
            var u0 = KilnVector(), u1 = KilnVector(), v0 = KilnVector(), v1 = KilnVector()
            while i + 2 <= k {
                let x = KilnVector(repeating: a[i]), y = KilnVector(repeating: a[i + 1])
                s0 = kilnMultiplyAdd(x, kilnLoad(p), s0)
                s1 = kilnMultiplyAdd(x, kilnLoad(p + 8), s1)
                t0 = kilnMultiplyAdd(x, kilnLoad(q), t0)
                t1 = kilnMultiplyAdd(x, kilnLoad(q + 8), t1)
                u0 = kilnMultiplyAdd(y, kilnLoad(p + 16), u0)
                u1 = kilnMultiplyAdd(y, kilnLoad(p + 24), u1)
                v0 = kilnMultiplyAdd(y, kilnLoad(q + 16), v0)
                v1 = kilnMultiplyAdd(y, kilnLoad(q + 24), v1)
                p += 32
                q += 32
                i += 2
            }
            s0 += u0
            s1 += u1
            t0 += v0
            t1 += v1
            let rest = i
            #else
            let rest = 0
            #endif
            for j in rest..<k {
                let x = KilnVector(repeating: a[j])
                s0 = kilnMultiplyAdd(x, kilnLoad(p), s0)
                s1 = kilnMultiplyAdd(x, kilnLoad(p + 8), s1)
                t0 = kilnMultiplyAdd(x, kilnLoad(q), t0)
                t1 = kilnMultiplyAdd(x, kilnLoad(q + 8), t1)
                p += 16
                q += 16
            }
            kilnStore(s0, tile)
            kilnStore(s1, tile + 8)
            kilnStore(t0, tile + 16)
            kilnStore(t1, tile + 24)
        }

        /// tile[16] = one row of A x the last packed panel when their number is odd. Two k-steps per iteration
        /// keep four independent accumulators busy.
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
            kilnStore(s0 + t0, tile)
            kilnStore(s1 + t1, tile + 8)
        }

        """#

    /// Matrix products of two computed values (neither operand a constant that could be packed).
    static let matMul = #"""
        /// Y[batch][m, n] = A[batch][m, k] x B[batch][k, n] (or B[batch][n, k] transposed); strides of 0
        /// broadcast an operand over the batch.
        fileprivate func kilnMatMul(
            _ a: UnsafePointer<Float>, strideA: Int, _ b: UnsafePointer<Float>, strideB: Int, _ y: UnsafeMutablePointer<Float>,
            batch: Int, m: Int, n: Int, k: Int, transposeB: Bool
        ) {
            for index in 0..<batch {
                let pa = a + index * strideA, pb = b + index * strideB, py = y + index * m * n
                for i in 0..<m {
                    let row = py + i * n
                    if transposeB {
                        for j in 0..<n {
                            var sum: Float = 0
                            for l in 0..<k { sum += pa[i * k + l] * pb[j * k + l] }
                            row[j] = sum
                        }
                    } else {
                        row.update(repeating: 0, count: n)
                        for l in 0..<k {
                            let x = pa[i * k + l], column = pb + l * n
                            for j in 0..<n { row[j] += x * column[j] }
                        }
                    }
                }
            }
        }

        """#
}
