// One row times int8 panels, widened in registers (built with KILN_FMA, where this beats reading the
// floats: see docs/quantization.md).
import Foundation

#if KILN_FMA
/// c[n] = f(a[k] x B + bias) with B in int8 panels of 16 columns, one scale per column: each panel
/// sum is scaled once at the end.
func kilnGemvInt8(
    _ a: UnsafePointer<Float>, _ packed: UnsafePointer<Int8>, scales: UnsafePointer<Float>, bias: UnsafePointer<Float>?,
    _ c: UnsafeMutablePointer<Float>, n: Int, k: Int, activation f: KilnActivation
) {
    let panels = (n + 15) / 16
    withUnsafeTemporaryAllocation(of: Float.self, capacity: 32) { buffer in
        let tile = buffer.baseAddress!
        for pair in stride(from: 0, to: panels, by: 2) {
            let column = pair * 16
            let count = Swift.min(2, panels - pair)
            if count == 2 {
                kilnProduct1x32(KilnInt8Panel.self, a, packed + pair * k * 16, k, tile)
            } else {
                kilnProduct1x16(KilnInt8Panel.self, a, packed + pair * k * 16, k, tile)
            }
            for v in 0..<(2 * count) { kilnStore(kilnLoad(tile + 8 * v) * kilnLoad(scales + column + 8 * v), tile + 8 * v) }
            kilnFinish(tile, rows: 1, c + column, ldc: n, bias: bias, column: column, width: Swift.min(16, n - column), f)
            if count == 2 {
                kilnFinish(
                    tile + 16, rows: 1, c + column + 16, ldc: n, bias: bias, column: column + 16, width: Swift.min(16, n - column - 16),
                    f)
            }
        }
    }
}

/// c[n] = f(a[k] x B + bias) where a holds a quantized activation's dequantized values (whole
/// multiples of `inputScale`) and B int8 panels: the integers a / inputScale times the int8 weights,
/// summed exactly in int32, then scaled once by inputScale x the column's scale.
func kilnGemvInt32(
    _ a: UnsafePointer<Float>, inputScale: Float, _ packed: UnsafePointer<Int8>, scales: UnsafePointer<Float>,
    bias: UnsafePointer<Float>?, _ c: UnsafeMutablePointer<Float>, n: Int, k: Int, activation f: KilnActivation
) {
    let panels = (n + 15) / 16
    withUnsafeTemporaryAllocation(of: Int32.self, capacity: k + 32) { buffer in
        let integers = buffer.baseAddress!, tile = UnsafeMutableRawPointer(integers + k).assumingMemoryBound(to: Float.self)
        for i in 0..<k {
            let q = (a[i] / inputScale).rounded()
            integers[i] = q.isNaN ? 0 : Int32(Swift.min(Swift.max(q, -65536), 65536))
        }
        let scale = KilnVector(repeating: inputScale)
        for pair in stride(from: 0, to: panels, by: 2) {
            let column = pair * 16
            let count = Swift.min(2, panels - pair)
            kilnProductInt32(integers, packed + pair * k * 16, k, panels: count, tile)
            for v in 0..<(2 * count) { kilnStore(kilnLoad(tile + 8 * v) * (scale * kilnLoad(scales + column + 8 * v)), tile + 8 * v) }
            kilnFinish(tile, rows: 1, c + column, ldc: n, bias: bias, column: column, width: Swift.min(16, n - column), f)
            if count == 2 {
                kilnFinish(
                    tile + 16, rows: 1, c + column + 16, ldc: n, bias: bias, column: column + 16, width: Swift.min(16, n - column - 16),
                    f)
            }
        }
    }
}

/// tile[0..<16 x panels] = a[k] x one or two adjacent int8 panels in int32, converted to floats.
@inline(never)
func kilnProductInt32(
    _ a: UnsafePointer<Int32>, _ b: UnsafePointer<Int8>, _ k: Int, panels: Int, _ tile: UnsafeMutablePointer<Float>
) {
    var s0 = SIMD8<Int32>(), s1 = SIMD8<Int32>(), t0 = SIMD8<Int32>(), t1 = SIMD8<Int32>()
    var p = b
    if panels == 2 {
        var q = b + k * 16
        for i in 0..<k {
            let x = SIMD8<Int32>(repeating: a[i])
            s0 &+= x &* kilnLoadInt32(p)
            s1 &+= x &* kilnLoadInt32(p + 8)
            t0 &+= x &* kilnLoadInt32(q)
            t1 &+= x &* kilnLoadInt32(q + 8)
            p += 16
            q += 16
        }
    } else {
        for i in 0..<k {
            let x = SIMD8<Int32>(repeating: a[i])
            s0 &+= x &* kilnLoadInt32(p)
            s1 &+= x &* kilnLoadInt32(p + 8)
            p += 16
        }
    }
    kilnStore(KilnVector(s0), tile)
    kilnStore(KilnVector(s1), tile + 8)
    kilnStore(KilnVector(t0), tile + 16)
    kilnStore(KilnVector(t1), tile + 24)
}

@inline(__always)
func kilnLoadInt32(_ p: UnsafePointer<Int8>) -> SIMD8<Int32> {
    SIMD8<Int32>(truncatingIfNeeded: UnsafeRawPointer(p).loadUnaligned(as: SIMD8<Int8>.self))
}

/// Int8 panels, widened to floats in registers; the one-row products' sums are scaled afterwards.
enum KilnInt8Panel: KilnPanelLoad {
    @inline(__always)
    static func load(_ p: UnsafePointer<Int8>) -> KilnVector { kilnLoadInt8(p) }
}
#endif
