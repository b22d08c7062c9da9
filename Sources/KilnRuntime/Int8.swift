// Widening int8 weights to floats when the executor loads.
import Foundation

/// y[i] = Float(q[i]) * scales[i / inner % size]: int8 weights in their own layout, widened to the
/// values DequantizeLinear gives (zero points 0).
func kilnWiden(
    _ q: UnsafePointer<Int8>, scales: UnsafePointer<Float>, _ y: UnsafeMutablePointer<Float>, count: Int, inner: Int, size: Int
) {
    for i in 0..<count { y[i] = Float(q[i]) * scales[i / inner % size] }
}

/// y[i] = Float(q[i]) * scales[column]: int8 panels of 16 columns (`panelFloats` values each), widened
/// to the float panels the matrix kernels read.
func kilnWidenPanels(
    _ q: UnsafePointer<Int8>, scales: UnsafePointer<Float>, _ y: UnsafeMutablePointer<Float>, count: Int, panelFloats: Int
) {
    var i = 0
    while i < count {
        let s = scales + i / panelFloats * 16
        let lo = kilnLoad(s), hi = kilnLoad(s + 8)
        for _ in 0..<(panelFloats / 16) {
            kilnStore(kilnLoadInt8(q + i) * lo, y + i)
            kilnStore(kilnLoadInt8(q + i + 8) * hi, y + i + 8)
            i += 16
        }
    }
}

@inline(__always)
func kilnLoadInt8(_ p: UnsafePointer<Int8>) -> KilnVector {
    KilnVector(SIMD8<Int32>(truncatingIfNeeded: UnsafeRawPointer(p).loadUnaligned(as: SIMD8<Int8>.self)))
}
