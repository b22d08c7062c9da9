/// libFuzzer target: a `.keras` zip archive opened by `KerasArchive` (entry names, types, duplicates) and
/// its three members extracted as `KerasReader` extracts them (size caps, inflation ratio, overrun, CRC-32).
/// The zip reader takes a path, so each input is written to one scratch file first. HDF5 is not opened
/// here: Fuzz/HDF5Fuzzer covers the weights file.
import Foundation
import KilnIR

@testable import KerasFrontend

let scratch = FileManager.default.temporaryDirectory.appendingPathComponent("kiln-archive-fuzz-\(getpid()).keras")

@_cdecl("LLVMFuzzerTestOneInput")
public func fuzz(_ data: UnsafePointer<UInt8>, _ size: Int) -> CInt {
    guard FileManager.default.createFile(atPath: scratch.path, contents: Data(bytes: data, count: size)) else {
        fatalError("cannot write \(scratch.path)")
    }
    MemoryLimit.$bytes.withValue(64 << 20) {
        do {
            let archive = try KerasArchive(path: scratch.path)
            for name in ["config.json", "metadata.json"] where archive.contains(name) {
                _ = try archive.member(name, maxBytes: 1 << 20, limit: "a model configuration is far smaller")
            }
            _ = try archive.member("model.weights.h5", maxBytes: .max, limit: "", copies: 2)
        } catch {
            guard "\(error)".hasPrefix(scratch.path) else { fatalError("an error that does not name the file: \(error)") }
        }
    }
    return 0
}
