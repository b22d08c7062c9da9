/// libFuzzer target: a `.keras` zip archive opened by `KerasArchive` (entry names, types, duplicates) and
/// its three members extracted as `KerasReader` extracts them (size caps, inflation ratio, overrun, CRC-32).
/// Each input is read from memory (`KerasArchive(data:origin:)`, ZIPFoundation's in-memory archive, the same
/// parsing code as for a file), with no file written. HDF5 is not opened here: Fuzz/HDF5Fuzzer covers the
/// weights file.
import Foundation
import KilnIR

@testable import KerasFrontend

let origin = "fuzz.keras"

@_cdecl("LLVMFuzzerTestOneInput")
public func fuzz(_ data: UnsafePointer<UInt8>, _ size: Int) -> CInt {
    let bytes = Data(bytes: data, count: size)
    MemoryLimit.$bytes.withValue(64 << 20) {
        do {
            let archive = try KerasArchive(data: bytes, origin: origin)
            for name in ["config.json", "metadata.json"] where archive.contains(name) {
                _ = try archive.member(name, maxBytes: 1 << 20, limit: "a model configuration is far smaller")
            }
            _ = try archive.member("model.weights.h5", maxBytes: .max, limit: "", copies: 2)
        } catch {
            guard "\(error)".hasPrefix(origin) else { fatalError("an error that does not name the file: \(error)") }
        }
    }
    return 0
}
