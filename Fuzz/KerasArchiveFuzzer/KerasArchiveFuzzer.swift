/// libFuzzer target: a `.keras` zip archive opened by `KerasArchive` (entry names, types, duplicates) and
/// its three members extracted as `KerasReader` extracts them (size caps, inflation ratio, overrun, CRC-32).
/// Each input is written over one scratch file in /dev/shm (memory, no disk) that stays open, and read from
/// its path as Kiln reads an archive: ZIPFoundation's in-memory archives trap on a seek past the end of the
/// data (docs/fuzzing.md, "Found"), which its file-backed reading, Kiln's, handles. HDF5 is not opened here:
/// Fuzz/HDF5Fuzzer covers the weights file.
import Foundation
import KilnIR

@testable import KerasFrontend

#if canImport(Glibc)
import Glibc
#endif

let directory = FileManager.default.fileExists(atPath: "/dev/shm") ? "/dev/shm" : FileManager.default.temporaryDirectory.path
let scratch = "\(directory)/kiln-archive-fuzz-\(getpid()).keras"
let descriptor = open(scratch, O_RDWR | O_CREAT | O_TRUNC, 0o600)

@_cdecl("LLVMFuzzerTestOneInput")
public func fuzz(_ data: UnsafePointer<UInt8>, _ size: Int) -> CInt {
    guard descriptor >= 0, ftruncate(descriptor, 0) == 0, pwrite(descriptor, data, size, 0) == size else {
        fatalError("cannot write \(scratch)")
    }
    MemoryLimit.$bytes.withValue(64 << 20) {
        do {
            let archive = try KerasArchive(path: scratch)
            for name in ["config.json", "metadata.json"] where archive.contains(name) {
                _ = try archive.member(name, maxBytes: 1 << 20, limit: "a model configuration is far smaller")
            }
            _ = try archive.member("model.weights.h5", maxBytes: .max, limit: "", copies: 2)
        } catch {
            guard "\(error)".hasPrefix(scratch) else { fatalError("an error that does not name the file: \(error)") }
        }
    }
    return 0
}
