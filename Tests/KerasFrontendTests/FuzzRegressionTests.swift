import Foundation
import KilnIR
import KilnTestSupport
import XCTest

@testable import KerasFrontend

/// Inputs the fuzzers of Fuzz/ (docs/fuzzing.md) crashed the Keras reader with, each now a clear error.
final class FuzzRegressionTests: XCTestCase {
    private let relu = TestPaths.testdata.appendingPathComponent("fixtures/act_relu_keras2_h5/model.h5").path

    /// HDF5Fuzzer: a layer named only of slashes has no outermost group to read weights from (the
    /// name was indexed as if it had one).
    func testALayerNamedOnlyOfSlashesIsAnErrorNotATrap() throws {
        let weights = H5ModelWeights(file: try HDF5File.open(path: relu), root: "/model_weights", displayName: relu)
        for name in ["", "/", "//"] {
            XCTAssertThrowsError(try weights.weights(of: name), "layer '\(name)'") { error in
                XCTAssertEqual(
                    "\(error)",
                    "\(relu): cannot read the weights of layer '\(name)': a layer name needs a character other than '/'; the file is damaged, or Kiln misreads it (please report it)"
                )
            }
        }
    }
}
