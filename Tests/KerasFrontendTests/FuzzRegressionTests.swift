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
        let weights = H5ModelWeights(
            file: try HDF5Snapshot.read(path: relu, skip: KerasReader.skipsOptimizerState), root: "/model_weights", displayName: relu)
        for name in ["", "/", "//"] {
            XCTAssertThrowsError(try weights.weights(of: name), "layer '\(name)'") { error in
                XCTAssertEqual(
                    "\(error)",
                    "\(relu): cannot read the weights of layer '\(name)': a layer name needs a character other than '/'; the file is damaged, or Kiln misreads it (please report it)"
                )
            }
        }
    }

    /// KerasArchiveFuzzer: a ZIP64 size of 2^63 or more trapped inside ZIPFoundation (converted to `off_t`
    /// and added unchecked); the archive is refused before ZIPFoundation reads it.
    func testAZIP64SizeOf2To63IsRefusedBeforeTheZipReaderTraps() throws {
        let name = Array("config.json".utf8)
        let data = Array("{}".utf8)
        func le(_ value: UInt64, _ bytes: Int) -> [UInt8] { (0..<bytes).map { UInt8(truncatingIfNeeded: value >> (8 * $0)) } }
        // The ZIP64 extended information extra field (id 1): uncompressed then compressed size, 2^63 each.
        let zip64 = le(1, 2) + le(16, 2) + le(1 << 63, 8) + le(1 << 63, 8)
        let sizes = le(0xffff_ffff, 4) + le(0xffff_ffff, 4)
        let local =
            le(0x0403_4b50, 4) + le(45, 2) + le(0, 2) + le(0, 2) + le(0, 4) + le(0, 4) + sizes
            + le(UInt64(name.count), 2) + le(UInt64(zip64.count), 2) + name + zip64 + data
        let central =
            le(0x0201_4b50, 4) + le(45, 2) + le(45, 2) + le(0, 2) + le(0, 2) + le(0, 4) + le(0, 4) + sizes
            + le(UInt64(name.count), 2) + le(UInt64(zip64.count), 2) + le(0, 2) + le(0, 2) + le(0, 2) + le(0, 4) + le(0, 4)
            + name + zip64
        let end =
            le(0x0605_4b50, 4) + le(0, 2) + le(0, 2) + le(1, 2) + le(1, 2) + le(UInt64(central.count), 4)
            + le(UInt64(local.count), 4) + le(0, 2)
        let url = FileManager.default.temporaryDirectory.appendingPathComponent("kiln-zip64-\(UUID().uuidString).keras")
        try Data(local + central + end).write(to: url)
        defer { try? FileManager.default.removeItem(at: url) }
        XCTAssertThrowsError(try KerasArchive(path: url.path)) { error in
            XCTAssertEqual(
                "\(error)",
                "\(url.path): an entry's ZIP64 size or offset is 9223372036854775808 bytes, beyond any file Kiln reads (the archive is damaged); re-save the model with model.save()"
            )
        }
    }

    /// KerasArchiveFuzzer: an entry whose local header lies past the end of the archive made ZIPFoundation
    /// 0.9.20's in-memory archive (`Archive(data:)`) trap on a negative read size (`MemoryFile.readData`).
    /// Kiln reads archives from files, where the same seek reads nothing: the archive is refused as damaged.
    func testAnEntryPastTheEndOfTheArchiveIsAnError() throws {
        let path = TestPaths.testdata.appendingPathComponent("fuzz/zip_entry_past_the_end.keras").path
        XCTAssertThrowsError(try KerasReader.read(contentsOf: URL(fileURLWithPath: path))) { error in
            XCTAssertTrue("\(error)".hasPrefix("\(path): "), "\(error)")
            XCTAssertTrue("\(error)".contains("the archive is damaged"), "\(error)")
        }
    }

    /// HDF5Fuzzer with KILN_FUZZ_HDF5_IN_PROCESS=1 walks in its own process (`HDF5Snapshot.walksInProcess`):
    /// the same records, so the same answers as the child's, here for a Keras 2 and a Keras 3 weights layout.
    func testAnHDF5WalkInProcessAnswersAsTheChildDoes() throws {
        let keras3 = TestPaths.testdata.appendingPathComponent("fixtures/act_elu_keras3_keras/model.keras").path
        let image = try KerasArchive(path: keras3).member("model.weights.h5", maxBytes: 1 << 30, limit: "")
        func answers() throws -> (names: [String], tensors: [Tensor]) {
            let h5 = try HDF5Snapshot.read(path: relu, skip: KerasReader.skipsOptimizerState)
            let layers = try XCTUnwrap(try h5.stringsAttribute("layer_names", of: "/model_weights"))
            let weights = H5ModelWeights(file: h5, root: "/model_weights", displayName: relu)
            let archive = try HDF5Snapshot.read(image: image, origin: "\(keras3)#model.weights.h5", skip: KerasReader.skipsOptimizerState)
            let archiveWeights = try KerasArchiveWeights(file: archive, displayName: keras3)
            let read =
                try layers.flatMap { try weights.weights(of: $0) }
                + archive.children(of: "/layers").flatMap { try archiveWeights.weights(of: $0) }
            return ([try h5.stringAttribute("model_config") ?? "no model_config"] + read.map(\.name), read.map(\.tensor))
        }
        let child = try answers()
        HDF5Snapshot.walksInProcess = true
        defer { HDF5Snapshot.walksInProcess = false }
        let inProcess = try answers()
        XCTAssertEqual(inProcess.names, child.names)
        XCTAssertEqual(inProcess.tensors, child.tensors)
        XCTAssertGreaterThan(child.tensors.count, 2)
    }

    /// Found profiling KerasArchiveFuzzer: ZIPFoundation looks for the end-of-directory record at every byte
    /// of the whole file, backwards, one seek and read each (seconds per megabyte); an archive without it in
    /// its last 64 KiB + 22 bytes, where the format puts it, is refused first.
    func testAnArchiveWithoutItsEndRecordIsRefusedWithoutAScanOfTheWholeFile() throws {
        let url = FileManager.default.temporaryDirectory.appendingPathComponent("kiln-no-end-\(UUID().uuidString).keras")
        try Data([0x50, 0x4b, 0x03, 0x04] + [UInt8](repeating: 0, count: 16 << 20)).write(to: url)
        defer { try? FileManager.default.removeItem(at: url) }
        let start = Date()
        XCTAssertThrowsError(try KerasArchive(path: url.path)) { error in
            XCTAssertEqual(
                "\(error)",
                "\(url.path): it is not a complete zip archive: the directory at the end of every zip file is missing (the file is truncated or not a zip); re-save the model with model.save()"
            )
        }
        XCTAssertLessThan(Date().timeIntervalSince(start), 5)
    }
}
