// QuantizeLinear and DequantizeLinear on whole numbers held as floats.
import Foundation

/// ONNX QuantizeLinear on values held as floats: x / scale rounded half to even, plus the zero point,
/// saturated to [low, high]. Element i uses parameter (i / inner) % size (size 1: one for all).
func kilnQuantize(
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
func kilnDequantize(
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
