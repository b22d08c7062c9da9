// Nearest and linear upsampling of channels-last data by integer factors.
import Foundation

/// Linear upsampling of channels-last data [batch, sizes..., channels] by integer `factors`, half-pixel
/// centers: output position o of a dimension reads (o + 0.5) / factor - 0.5, clamped to the input.
/// Interpolates along the last spatial dimension first, then the earlier ones, as a + (b - a) * t.
func kilnUpsampleLinear(
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
func kilnUpsampleNearest(
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
