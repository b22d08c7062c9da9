import Foundation
import KilnDriver
import KilnIR
import KilnInterpreter
import KilnTestSupport
import XCTest

/// Entropy calibration on synthetic distributions whose answer is known, and the quantization report (per
/// layer SQNR, scales, zero points; output error; top-1 with labels) from the library and from `kiln convert`.
final class QuantizationReportTests: XCTestCase {
    /// `count` samples of a standard normal distribution (Box-Muller on a seeded generator).
    static func gaussian(_ count: Int, seed: UInt64 = 7) -> [Float] {
        var generator = SplitMix64(seed: seed)
        return (0..<count).map { _ in
            let u = max(Double(generator.nextUnitFloat()), 1e-9), v = Double(generator.nextUnitFloat())
            return Float((-2 * log(u)).squareRoot() * cos(2 * Double.pi * v))
        }
    }

    func testEntropyClipsAFewHugeOutliersOfAGaussian() throws {
        let values = Self.gaussian(100_000) + [1000, -800, 950, 600, -1000]
        let minmax = try XCTUnwrap(Calibration.minmax.range(of: values))
        let entropy = try XCTUnwrap(Calibration.entropy.range(of: values))
        XCTAssertEqual(minmax, -1000...1000)
        // The five outliers are clipped and the threshold sits in the Gaussian's tail, symmetric for signed data.
        print("entropy range of N(0, 1) with outliers at 1000: \(entropy)")
        XCTAssertEqual(entropy.lowerBound, -entropy.upperBound)
        XCTAssertGreaterThan(entropy.upperBound, 2)
        XCTAssertLessThan(entropy.upperBound, 8)
        // The same answer every time.
        XCTAssertEqual(Calibration.entropy.range(of: values), entropy)
    }

    func testEntropyKeepsAUniformDistributionWhole() throws {
        var generator = SplitMix64(seed: 11)
        let values = (0..<100_000).map { _ in generator.nextUnitFloat() * 6 - 2 }
        let minmax = try XCTUnwrap(Calibration.minmax.range(of: values))
        let entropy = try XCTUnwrap(Calibration.entropy.range(of: values))
        print("entropy range of U(-2, 4): \(entropy), minmax \(minmax)")
        // Signed: clipped at one threshold on |x|, never past the data, so the lower end stays the minimum.
        XCTAssertEqual(entropy.lowerBound, minmax.lowerBound)
        XCTAssertGreaterThan(entropy.upperBound, 0.95 * minmax.upperBound)
    }

    func testEntropyOnNonNegativeValuesStartsAtZero() throws {
        // Post-ReLU: half the values are 0, the rest a half-Gaussian, plus a few outliers at 50.
        let values = Self.gaussian(50_000).map { max($0, 0) } + [Float](repeating: 50, count: 3)
        let entropy = try XCTUnwrap(Calibration.entropy.range(of: values))
        print("entropy range of ReLU(N(0, 1)) with outliers at 50: \(entropy)")
        XCTAssertEqual(entropy.lowerBound, 0)
        XCTAssertGreaterThan(entropy.upperBound, 2)
        XCTAssertLessThan(entropy.upperBound, 8)
        // Nothing to clip, or nothing at all.
        XCTAssertEqual(Calibration.entropy.range(of: [Float](repeating: 0, count: 10)), 0...0)
        XCTAssertNil(Calibration.entropy.range(of: [.nan]))
    }

    func testUnknownCalibrationMethodListsAllThree() {
        XCTAssertThrowsError(try Quantizer(mode: "static", calibration: "kl")) { error in
            XCTAssertTrue("\(error)".contains("use minmax, percentile or entropy"), "\(error)")
        }
        XCTAssertNoThrow(try Quantizer(mode: "static", calibration: "entropy"))
    }
}
