import KilnIR

/// libFuzzer target: a Keras model configuration (the JSON of `model_config`, `config.json` or
/// `model.to_json()`) decoded and lowered to a verified graph, with weights made up in the shapes the
/// lowering asks for. Any trap is a bug; so is an error message that does not name the file.
@testable import KerasFrontend

/// Weights of the expected shapes, filled with 0.25, refused past `maxElements` elements per array so a
/// configuration that asks for gigabytes meets a refusal rather than the fuzzer's memory limit.
struct MadeUpWeights: KerasWeightSource {
    static let maxElements = 1 << 16

    func weights(of layer: String) throws(KerasImportError) -> [(name: String, tensor: Tensor)] { [] }

    func weights(of layer: String, expecting shapes: [[Int]]) throws(KerasImportError) -> [(name: String, tensor: Tensor)] {
        try shapes.enumerated().map { (index, shape) throws(KerasImportError) in
            guard let count = MemoryLimit.byteCount(of: shape, elementSize: 1), count <= Self.maxElements else {
                throw .missingWeights(file: file, layer: layer, reason: "the fuzzer makes up no weight of shape \(shape)")
            }
            return ("\(layer)/\(index)", Tensor(shape: shape, floats: [Float](repeating: 0.25, count: count)))
        }
    }
}

let file = "fuzz.json"
let keras2 = Array(#""keras_version": "2"#.utf8)

/// Whether `pattern` occurs in `bytes`.
func contains(_ bytes: UnsafeBufferPointer<UInt8>, _ pattern: [UInt8]) -> Bool {
    guard bytes.count >= pattern.count else { return false }
    return (0...bytes.count - pattern.count).contains { start in pattern.indices.allSatisfy { bytes[start + $0] == pattern[$0] } }
}

@_cdecl("LLVMFuzzerTestOneInput")
public func fuzz(_ data: UnsafePointer<UInt8>, _ size: Int) -> CInt {
    let bytes = UnsafeBufferPointer(start: data, count: size)
    let text = String(decoding: bytes, as: UTF8.self)
    // The Keras version the file names, as `KerasReader` reads it for an architecture JSON, else 3. Found
    // in the bytes rather than by parsing the text a second time (JSON decoding is most of the time of a
    // run) or by Foundation's `String.contains` (a fifth of it, on Linux).
    let version = contains(bytes, keras2) ? "2" : "3"
    MemoryLimit.$bytes.withValue(64 << 20) {
        do {
            _ = try KerasReader.lower(text, version: version, backend: nil, format: "json", weights: MadeUpWeights(), file: file)
        } catch {
            guard "\(error)".hasPrefix(file) else { fatalError("an error that does not name the file: \(error)") }
        }
    }
    return 0
}
