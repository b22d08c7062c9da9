/// libFuzzer target: Kiln IR text (`.kir`) parsed and verified; a graph that verifies is written as
/// `kiln opt` writes it (text plus weights file), read back, and must print the same. Blobs of the fuzzed
/// text (`blob "sha256:..."`) resolve to zeros of their type when small.
import KilnIR

/// The most elements a blob is made up with.
let maxBlobElements = 1 << 16

func zeros(_ hash: String, _ type: TensorType) -> Tensor? {
    guard let shape = type.shape.fixedSizes, let count = MemoryLimit.byteCount(of: shape, elementSize: 1), count <= maxBlobElements
    else { return nil }
    return Tensor(dtype: type.dtype, shape: shape, bytes: [UInt8](repeating: 0, count: count * type.dtype.byteSize))
}

@_cdecl("LLVMFuzzerTestOneInput")
public func fuzz(_ data: UnsafePointer<UInt8>, _ size: Int) -> CInt {
    let text = String(decoding: UnsafeBufferPointer(start: data, count: size), as: UTF8.self)
    MemoryLimit.$bytes.withValue(64 << 20) {
        guard let graph = try? TextParser.parse(text, resolveBlob: zeros), (try? graph.verify()) != nil else { return }
        let printed = graph.text
        let again: Graph
        do {
            let weights = try WeightsFile(decoding: WeightsFile(graph: graph).encoded())
            again = try TextParser.parse(printed, resolveBlob: weights.resolver)
        } catch {
            fatalError("the printed form of a verified graph does not parse: \(error)\n\(printed)")
        }
        guard again.text == printed else { fatalError("printing is not stable:\n\(printed)\n---\n\(again.text)") }
    }
    return 0
}
