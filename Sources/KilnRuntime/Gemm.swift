// The packed matrix product: register-tiled microkernels over 16-column panels of B, with the bias and
// activation applied to each tile as it is stored.
import Foundation

/// Rows of A per register tile. With FMA, 6x16 keeps twelve of the sixteen AVX registers as
/// accumulators; on the default SSE target, 2x16 uses eight (two per SIMD8) and leaves the rest for
/// the panel and the broadcasts, where a taller tile would spill.
#if KILN_FMA
let kilnTileRows = 6
#else
let kilnTileRows = 2
#endif

/// C[m, n] = f(A[m, k] x B + bias), with B packed in panels of 16 columns (panel p holds rows 0..<k of
/// columns 16p..<16p+16, zero-padded) so the microkernels stream it contiguously. Rows are taken in
/// blocks whose slice of A stays in the L2 cache while the panels pass over it; within a block a
/// panel stays in L1 across the row tiles. A last single row (all of batch 1) is the GEMV path, which
/// reads two panels per pass so that one broadcast of A feeds twice the multiplies.
func kilnGemm(
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
                    kilnProduct1x32(KilnFloatPanel.self, a + last * lda, packed + pair * k * 16, k, tile)
                    kilnFinish(tile, rows: 1, c + last * ldc + column, ldc: ldc, bias: bias, column: column, width: 16, f)
                    kilnFinish(
                        tile + 16, rows: 1, c + last * ldc + column + 16, ldc: ldc, bias: bias, column: column + 16,
                        width: Swift.min(16, n - column - 16), f)
                } else {
                    kilnProduct1x16(KilnFloatPanel.self, a + last * lda, packed + pair * k * 16, k, tile)
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
func kilnFinish(
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
func kilnProduct6x16(
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
func kilnProduct2x16(
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

/// How the one-row products read a panel: eight elements at a time as floats. The float panels are loaded as
/// they are; int8 panels (kilnGemvInt8) are widened in registers. Each product is one generic body that
/// the compiler specializes per panel type, into the same code as a copy written for that type.
protocol KilnPanelLoad {
    associatedtype Element
    static func load(_ p: UnsafePointer<Element>) -> KilnVector
}

/// Float panels, as kilnGemm reads them.
enum KilnFloatPanel: KilnPanelLoad {
    @inline(__always)
    static func load(_ p: UnsafePointer<Float>) -> KilnVector { kilnLoad(p) }
}

/// tile[0..<32] = one row of A x two adjacent packed panels (the second starts k * 16 elements after the
/// first): the batch-1 path, bound by how fast the panels stream in.
@inline(never)
func kilnProduct1x32<Panel: KilnPanelLoad>(
    _: Panel.Type, _ a: UnsafePointer<Float>, _ b: UnsafePointer<Panel.Element>, _ k: Int, _ tile: UnsafeMutablePointer<Float>
) {
    var s0 = KilnVector(), s1 = KilnVector(), t0 = KilnVector(), t1 = KilnVector()
    var p = b, q = b + k * 16
    // With FMA, a second set of accumulators over odd k-steps hides the fused multiply-add's latency;
    // on the default target it would not fit in the registers.
    #if KILN_FMA
    var i = 0
    var u0 = KilnVector(), u1 = KilnVector(), v0 = KilnVector(), v1 = KilnVector()
    while i + 2 <= k {
        let x = KilnVector(repeating: a[i]), y = KilnVector(repeating: a[i + 1])
        s0 = kilnMultiplyAdd(x, Panel.load(p), s0)
        s1 = kilnMultiplyAdd(x, Panel.load(p + 8), s1)
        t0 = kilnMultiplyAdd(x, Panel.load(q), t0)
        t1 = kilnMultiplyAdd(x, Panel.load(q + 8), t1)
        u0 = kilnMultiplyAdd(y, Panel.load(p + 16), u0)
        u1 = kilnMultiplyAdd(y, Panel.load(p + 24), u1)
        v0 = kilnMultiplyAdd(y, Panel.load(q + 16), v0)
        v1 = kilnMultiplyAdd(y, Panel.load(q + 24), v1)
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
        s0 = kilnMultiplyAdd(x, Panel.load(p), s0)
        s1 = kilnMultiplyAdd(x, Panel.load(p + 8), s1)
        t0 = kilnMultiplyAdd(x, Panel.load(q), t0)
        t1 = kilnMultiplyAdd(x, Panel.load(q + 8), t1)
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
func kilnProduct1x16<Panel: KilnPanelLoad>(
    _: Panel.Type, _ a: UnsafePointer<Float>, _ b: UnsafePointer<Panel.Element>, _ k: Int, _ tile: UnsafeMutablePointer<Float>
) {
    var s0 = KilnVector(), s1 = KilnVector(), t0 = KilnVector(), t1 = KilnVector()
    var p = b
    var i = 0
    while i + 2 <= k {
        let x = KilnVector(repeating: a[i]), y = KilnVector(repeating: a[i + 1])
        s0 = kilnMultiplyAdd(x, Panel.load(p), s0)
        s1 = kilnMultiplyAdd(x, Panel.load(p + 8), s1)
        t0 = kilnMultiplyAdd(y, Panel.load(p + 16), t0)
        t1 = kilnMultiplyAdd(y, Panel.load(p + 24), t1)
        p += 32
        i += 2
    }
    if i < k {
        let x = KilnVector(repeating: a[i])
        s0 = kilnMultiplyAdd(x, Panel.load(p), s0)
        s1 = kilnMultiplyAdd(x, Panel.load(p + 8), s1)
    }
    kilnStore(s0 + t0, tile)
    kilnStore(s1 + t1, tile + 8)
}
