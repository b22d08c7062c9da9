/// libFuzzer target: `.npy` bytes decoded by `NPY.decode`, the reader `run` and `verify` use for inputs; a
/// tensor that decodes must encode and decode back to itself.
import KilnDriver
import KilnIR

@_cdecl("LLVMFuzzerTestOneInput")
public func fuzz(_ data: UnsafePointer<UInt8>, _ size: Int) -> CInt {
    let bytes = Array(UnsafeBufferPointer(start: data, count: size))
    MemoryLimit.$bytes.withValue(64 << 20) {
        do {
            let tensor = try NPY.decode(bytes, file: "fuzz.npy")
            let again = try NPY.decode(NPY.encode(tensor), file: "encoded.npy")
            // Bytes, not `==`: a NaN element is not equal to itself.
            guard again.dtype == tensor.dtype, again.shape == tensor.shape, again.bytes == tensor.bytes else {
                fatalError("encoding \(tensor.shape) of \(tensor.dtype) does not decode to itself")
            }
        } catch {
            guard "\(error)".hasPrefix("fuzz.npy: ") else { fatalError("an error that does not name the file: \(error)") }
        }
    }
    return 0
}
