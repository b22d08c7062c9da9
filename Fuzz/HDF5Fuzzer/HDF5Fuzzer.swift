/// libFuzzer target: an HDF5 file image opened in memory (`H5Pset_file_image` with the core driver, as
/// `.keras` weights are opened) and read as `KerasReader` reads a model: the root attributes, the
/// configuration lowered with the Keras 2 weights layout (`model_weights/<layer>`), and the Keras 3 layout
/// (`layers/.../vars/<i>`) walked with every layer's weights read. libhdf5 itself is not instrumented:
/// coverage guides only through Kiln's side of the calls.
///
/// By default the image is walked as Kiln walks every HDF5 file, in a forked child (`HDF5Snapshot`): a crash
/// inside libhdf5 becomes an error, and the walk's coverage stays in the child. With
/// `KILN_FUZZ_HDF5_IN_PROCESS=1` (`scripts/fuzz.sh --hdf5-in-process`) the same walk runs in this process
/// (`HDF5Snapshot.walksInProcess`): no fork per input and the walk's coverage guides, but a crash inside
/// libhdf5 ends the run like any crash (the script tells those apart).
import Foundation
import KilnIR

@testable import KerasFrontend

let file = "fuzz.h5"
let inProcess = ProcessInfo.processInfo.environment["KILN_FUZZ_HDF5_IN_PROCESS"] == "1"

func read(_ image: Data) throws {
    let hdf5 = try HDF5Snapshot.read(image: image, origin: file, skip: KerasReader.skipsOptimizerState)
    let config = try hdf5.stringAttribute("model_config")
    let version = try hdf5.stringAttribute("keras_version") ?? hdf5.stringAttribute("keras_version", of: "/model_weights")
    _ = try hdf5.stringAttribute("backend")
    if let config {
        let weights = H5ModelWeights(file: hdf5, root: "/model_weights", displayName: file)
        _ = try? KerasReader.lower(config, version: version, backend: nil, format: "h5", weights: weights, file: file)
    }
    if let names = try hdf5.stringsAttribute("layer_names", of: "/model_weights") {
        let weights = H5ModelWeights(file: hdf5, root: "/model_weights", displayName: file)
        for name in names.prefix(64) { _ = try weights.weights(of: name) }
    }
    let keras3 = try KerasArchiveWeights(file: hdf5, displayName: file)
    for child in try hdf5.exists("/layers") ? hdf5.children(of: "/layers").prefix(64) : [] {
        _ = try keras3.weights(of: child)
    }
}

@_cdecl("LLVMFuzzerTestOneInput")
public func fuzz(_ data: UnsafePointer<UInt8>, _ size: Int) -> CInt {
    let image = Data(bytes: data, count: size)
    // A file that hangs libhdf5 is stopped after 1 s (10 s in kiln), well inside libFuzzer's -timeout.
    SnapshotReader.baseSilence = 1
    HDF5Snapshot.walksInProcess = inProcess
    MemoryLimit.$bytes.withValue(64 << 20) {
        do {
            try read(image)
        } catch let error as KerasImportError {
            guard "\(error)".hasPrefix(file) else { fatalError("an error that does not name the file: \(error)") }
        } catch {
            // HDF5Error is internal and carries its origin; the reader wraps it with the file name.
        }
    }
    return 0
}
