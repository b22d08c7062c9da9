import Foundation
import KilnTestSupport
import XCTest

@testable import KerasFrontend

/// Strings of every storage kind HDF5 has, read from testdata/hdf5/strings.h5 (written by
/// testdata/generate_fixtures.py with h5py), exactly as they were written.
final class HDF5StringTests: XCTestCase {
    private let names = ["kernel:0", "bias:0", "dense_1/kernel:0"]
    private let text = ["naïve", "日本語", "x"]

    private func open() throws -> HDF5File {
        try HDF5File.open(path: TestPaths.testdata.appendingPathComponent("hdf5/strings.h5").path)
    }

    /// Each kind, with the strings written; the longest fills its fixed-length field with no null after it.
    private var kinds: [(String, [String])] {
        [
            ("null_padded", names), ("null_terminated", names), ("space_padded", ["a b", "kernel:0", "dense_1/kernel:0"]),
            ("utf8_fixed", text), ("variable_ascii", names), ("variable_utf8", text), ("scalar_fixed", ["tensorflow"]),
            ("scalar_variable", ["2.3.1"]),
        ]
    }

    func testAttributesOfEveryKindReadExactly() throws {
        let file = try open()
        for (name, expected) in kinds {
            XCTAssertEqual(try file.stringsAttribute(name), expected, name)
            XCTAssertEqual(try file.stringAttribute(name), expected[0], name)
        }
        XCTAssertNil(try file.stringsAttribute("absent"))
    }

    func testDatasetsOfEveryKindReadExactly() throws {
        let file = try open()
        for (name, expected) in kinds {
            XCTAssertEqual(try file.stringsDataset("/datasets/\(name)"), expected, name)
        }
        XCTAssertEqual(try file.stringsDataset("/datasets/grid"), ["a", "bc", "def", "g"], "row-major")
        XCTAssertThrowsError(try file.stringsDataset("/datasets/floats")) { error in
            XCTAssertTrue((error as? HDF5Error)?.message.contains("does not hold strings") ?? false, "\(error)")
        }
        XCTAssertThrowsError(try file.stringsDataset("/datasets/absent"))
    }
}
