import Foundation

/// How static quantization turns the values an activation took on the calibration inputs into the real range
/// its 8-bit integers cover.
///
/// - `minmax`: the smallest and largest value; nothing clips, but one outlier stretches every step.
/// - `percentile`: drops the outer `percentile` percent of each tail first.
/// - `entropy`: the clipping threshold whose 8-bit version of the distribution loses the least information,
///   KL(P || Q), as TensorRT and ONNX Runtime calibrate (see `EntropyThreshold`).
public enum Calibration: String, Sendable, CaseIterable {
    case minmax, percentile, entropy

    /// The range `values` should map onto `levels` integers, or nil when none of them is finite.
    public func range(of values: [Float], percentile: Double = 0.01, levels: Int = 256) -> ClosedRange<Float>? {
        var data = values.filter(\.isFinite)
        guard let low = data.min(), let high = data.max() else { return nil }
        switch self {
        case .minmax:
            return low...high
        case .percentile:
            data.sort()
            let drop = Int(Double(data.count) * percentile / 100)
            return data[drop]...data[data.count - 1 - drop]
        case .entropy:
            // One-sided data (post-ReLU) spreads all the levels over [0, T]; signed data spreads half of them on
            // each side of 0, so the threshold on |x| is chosen for half the levels, and each side is clipped at it
            // without reaching past the data. Zeros are left out: the zero point holds them exactly whatever the
            // threshold, and after a ReLU their spike would otherwise decide the threshold alone. The histogram
            // has at most one bin per 16 values: sparser, sampling noise makes every wide threshold look costly,
            // and with fewer than 16 values per level only the maximum is a candidate (minmax).
            let oneSided = low >= 0 || high <= 0
            let magnitudes = data.compactMap { $0 == 0 ? nil : abs($0) }
            let search = EntropyThreshold(levels: oneSided ? levels : levels / 2, bins: min(2048, magnitudes.count / 16))
            let threshold = search.threshold(magnitudes)
            return max(low, -threshold)...min(high, threshold)
        }
    }
}

/// The KL-divergence threshold of a distribution of non-negative values (Migacz, "8-bit Inference with
/// TensorRT", 2017).
///
/// A histogram of `bins` bins (at least `levels`) over [0, max] is the reference. For each candidate threshold, the first `i` bins
/// (i from `levels` to `bins`) are P, with everything above the threshold added to P's last bin (that is what
/// clipping does to it); Q is the same `i` bins merged into `levels` groups and spread back evenly over the
/// bins of each group that P does not leave empty (that is what rounding to `levels` steps does). The
/// threshold is the candidate with the smallest KL(P || Q).
///
/// The smallest candidate is `levels` bins, 1/8 (or 1/16) of the maximum. When it wins, the histogram was too
/// coarse to see where the mass is (a few huge outliers over a narrow bulk), so the search zooms in: a new
/// histogram over [0, that threshold], with the values beyond it counted as clipped, up to `zooms` times.
public struct EntropyThreshold: Sendable {
    public var levels: Int
    public var bins = 2048
    public var zooms = 4

    public init(levels: Int, bins: Int = 2048) {
        self.levels = levels
        self.bins = max(bins, levels)
    }

    /// The threshold for `values` (each >= 0).
    public func threshold(_ values: [Float]) -> Float {
        var top = values.max() ?? 0
        for _ in 0...zooms {
            guard top > 0 else { return 0 }
            let width = top / Float(bins)
            var histogram = [Double](repeating: 0, count: bins)
            var clipped = 0.0
            for value in values {
                if value > top {
                    clipped += 1
                } else {
                    histogram[min(Int(value / width), bins - 1)] += 1
                }
            }
            let best = bestBinCount(histogram, clipped: clipped)
            top = Float(best) * width
            guard best == levels, levels < bins else { break }
        }
        return top
    }

    /// The number of bins, `levels...histogram.count`, whose threshold has the smallest KL divergence; the
    /// first of equals, so the result does not depend on floating-point ties.
    func bestBinCount(_ histogram: [Double], clipped: Double) -> Int {
        var suffix = [Double](repeating: 0, count: histogram.count + 1)
        suffix[histogram.count] = clipped
        for i in stride(from: histogram.count - 1, through: 0, by: -1) { suffix[i] = suffix[i + 1] + histogram[i] }
        let total = suffix[0]
        guard total > 0 else { return histogram.count }
        var best = histogram.count, smallest = Double.infinity
        for count in levels...histogram.count {
            let divergence = Self.divergence(histogram[0..<count], outliers: suffix[count], total: total, levels: levels)
            if divergence < smallest {
                smallest = divergence
                best = count
            }
        }
        return best
    }

    /// KL(P || Q) for the first bins of a histogram: P with `outliers` added to its last bin, Q the bins merged
    /// into `levels` groups (group j is bins [j * n / levels, (j + 1) * n / levels)) and spread back over the
    /// group's bins that P does not leave empty. Both sum to `total`, so the divergence divides by it once.
    static func divergence(_ bins: ArraySlice<Double>, outliers: Double, total: Double, levels: Int) -> Double {
        let n = bins.count, start = bins.startIndex
        var sum = 0.0
        for group in 0..<levels {
            let lower = group * n / levels, upper = (group + 1) * n / levels
            guard upper > lower else { continue }
            var mass = 0.0, used = 0
            for i in lower..<upper {
                mass += bins[start + i]
                let p = bins[start + i] + (i == n - 1 ? outliers : 0)
                if p > 0 { used += 1 }
            }
            // Q holds only the values below the threshold: clipping much piles a spike onto P's last bin that Q
            // does not have, and that is what a low threshold costs.
            for i in lower..<upper {
                let p = bins[start + i] + (i == n - 1 ? outliers : 0)
                guard p > 0 else { continue }
                let q = max(mass / Double(used), 1e-9 * total)
                sum += p * log(p / q)
            }
        }
        // P and Q's total masses differ by the clipped values; renormalizing Q adds this term.
        let qTotal = total - outliers
        return (sum + total * log(max(qTotal, 1e-9 * total) / total)) / total
    }
}
