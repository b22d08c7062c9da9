// Layer normalization.
import Foundation

/// Normalizes each of `outer` rows of `size` values to zero mean and unit variance (accumulated in
/// Double), then applies the optional per-position scale and bias.
func kilnLayerNorm(
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
