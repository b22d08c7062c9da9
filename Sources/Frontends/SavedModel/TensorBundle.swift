import KilnIR
import SwiftProtobuf
import TFProto

/// A TensorBundle checkpoint: the `variables/` of a SavedModel (TensorFlow's
/// tensorflow/core/util/tensor_bundle/tensor_bundle.h). `<prefix>.index` is a `LevelDBTable` whose empty key
/// holds a `BundleHeaderProto` (number of shards, endianness, format version) and whose other keys are
/// checkpoint keys (`layer_with_weights-0/kernel/.ATTRIBUTES/VARIABLE_VALUE`) holding `BundleEntryProto`s
/// (tensorflow/core/protobuf/tensor_bundle.proto): the dtype and shape, and bytes `[offset, offset + size)` of
/// shard file `<prefix>.data-<shard_id, 5 digits>-of-<num_shards, 5 digits>` whose masked CRC-32C is
/// `crc32c`.
///
/// Tensors are read one at a time, after their range is checked against the shard's real size and
/// `MemoryLimit`, and their checksum verified. Numeric dtypes become `Tensor`s: float32, float16, int8,
/// uint8, int32, int64 and bool as they are, bfloat16 and float64 converted to float32. String tensors are
/// read by `strings(_:)`. Partitioned (sliced) variables and big-endian bundles are refused.
public struct TensorBundle {
    /// The path of the files without their suffixes: `model/1/variables/variables`.
    public let prefix: String
    /// The number of `.data-` files.
    public let shardCount: Int
    /// Every checkpoint key, in the index's order; the header's empty key is not one.
    public let keys: [String]
    private let entries: [String: Tensorflow_BundleEntryProto]

    var indexFile: String { prefix + ".index" }

    /// Reads and checks `<prefix>.index`.
    ///
    /// - Throws: `SavedModelImportError.missingFile` or `.unreadable` when the index cannot be opened,
    ///   `.damaged` for a broken table, header or entry, `.unsupported` for a compressed table, a big-endian
    ///   bundle or one from a newer format version.
    public init(prefix: String) throws(SavedModelImportError) {
        self.prefix = prefix
        let indexFile = prefix + ".index"
        let bytes = try Self.readAll(indexFile)
        let table = try LevelDBTable(bytes: bytes, file: indexFile)
        func damaged(_ reason: String) -> SavedModelImportError { .damaged(file: indexFile, reason: reason) }

        guard let first = table.entries.first, first.key.isEmpty else {
            throw damaged("has no bundle header (the entry with the empty key)")
        }
        let header: Tensorflow_BundleHeaderProto
        do {
            header = try Tensorflow_BundleHeaderProto(serializedBytes: Array(first.value))
        } catch {
            throw damaged("the bundle header is not a BundleHeaderProto (\(error))")
        }
        guard header.numShards >= 1 else { throw damaged("the bundle header says there are \(header.numShards) data files") }
        guard header.endianness == .little else {
            throw .unsupported(file: indexFile, reason: "the checkpoint was written big-endian; Kiln reads little-endian checkpoints only")
        }
        // TensorFlow writes format version 1 and reads bundles whose min_consumer is at most 1.
        guard header.version.minConsumer <= 1, !header.version.badConsumers.contains(1) else {
            throw .unsupported(
                file: indexFile,
                reason: "the checkpoint needs a TensorBundle reader of version \(header.version.minConsumer) or later; Kiln reads version 1"
            )
        }
        self.shardCount = Int(header.numShards)

        var keys: [String] = []
        var entries: [String: Tensorflow_BundleEntryProto] = [:]
        for (key, value) in table.entries.dropFirst() {
            // The keys of a partitioned variable's slices are binary (tensorflow/core/util/saved_tensor_slice_util.h);
            // they are reached through the variable's own entry, so only UTF-8 keys are kept.
            guard let name = String(validating: key, as: UTF8.self) else { continue }
            do {
                entries[name] = try Tensorflow_BundleEntryProto(serializedBytes: Array(value))
            } catch {
                throw damaged("the entry of '\(name)' is not a BundleEntryProto (\(error))")
            }
            keys.append(name)
        }
        self.keys = keys
        self.entries = entries
    }

    /// The stored dtype and shape of `key`, nil when the checkpoint has no such key.
    public func info(of key: String) -> (dtype: String, shape: [Int64])? {
        entries[key].map { (Self.name(of: $0.dtype), $0.shape.dim.map(\.size)) }
    }

    /// The numeric tensor stored under `key`.
    ///
    /// - Throws: `.missingTensor` for an unknown key; `.unsupported` for a partitioned variable, a string
    ///   tensor or a dtype Kiln does not hold (complex, quantized, 4-bit...); `.damaged` when the shape, size,
    ///   shard or range disagree or the checksum fails; `.unreadable` when the shard cannot be read or the
    ///   tensor is larger than `MemoryLimit`.
    public func tensor(_ key: String) throws(SavedModelImportError) -> Tensor {
        let entry = try wholeEntry(key)
        let width: Int
        switch entry.dtype {
        case .dtFloat, .dtInt32: width = 4
        case .dtHalf, .dtBfloat16: width = 2
        case .dtDouble, .dtInt64: width = 8
        case .dtBool, .dtInt8, .dtUint8: width = 1
        case .dtString:
            throw .unsupported(file: indexFile, reason: "'\(key)' holds strings, not numbers")
        default:
            throw .unsupported(
                file: indexFile,
                reason:
                    "'\(key)' has dtype \(Self.name(of: entry.dtype)); Kiln reads float32, float16, bfloat16, float64, int8, uint8, int32, int64 and bool variables"
            )
        }
        let shape = try shape(of: entry, key)
        guard let byteCount = MemoryLimit.byteCount(of: shape, elementSize: width) else {
            throw .damaged(file: indexFile, reason: "the shape \(shape) of '\(key)' has more elements than a file can hold")
        }
        guard entry.size == byteCount else {
            throw .damaged(
                file: indexFile,
                reason:
                    "'\(key)' is \(entry.size) bytes, but \(shape.count)-d \(Self.name(of: entry.dtype)) of shape \(shape) is \(byteCount) bytes"
            )
        }
        let (bytes, shard) = try read(entry, key)
        func load<T>(_: T.Type) -> [T] {
            bytes.withUnsafeBytes { buffer in (0..<bytes.count / width).map { buffer.loadUnaligned(fromByteOffset: $0 * width, as: T.self) }
            }
        }
        let tensor: Tensor?
        switch entry.dtype {
        case .dtFloat: tensor = Tensor(dtype: .float32, shape: shape, bytes: bytes)
        case .dtHalf: tensor = Tensor(dtype: .float16, shape: shape, bytes: bytes)
        case .dtInt32: tensor = Tensor(dtype: .int32, shape: shape, bytes: bytes)
        case .dtInt64: tensor = Tensor(dtype: .int64, shape: shape, bytes: bytes)
        case .dtInt8: tensor = Tensor(dtype: .int8, shape: shape, bytes: bytes)
        case .dtUint8: tensor = Tensor(dtype: .uint8, shape: shape, bytes: bytes)
        case .dtBfloat16:
            // bfloat16 is the upper half of a float32.
            tensor = Tensor(shape: shape, floats: load(UInt16.self).map { Float(bitPattern: UInt32($0) << 16) })
        case .dtDouble: tensor = Tensor(shape: shape, floats: load(Double.self).map { Float($0) })
        case .dtBool:
            if let bad = bytes.first(where: { $0 > 1 }) {
                throw .damaged(file: shard, reason: "the bool tensor '\(key)' holds the byte \(bad); a bool is 0 or 1")
            }
            tensor = Tensor(dtype: .bool, shape: shape, bytes: bytes)
        default: tensor = nil
        }
        guard let tensor else { throw .damaged(file: indexFile, reason: "'\(key)' does not fit its shape \(shape)") }
        return tensor
    }

    /// The elements of the string tensor stored under `key` (the object graph under
    /// `_CHECKPOINTABLE_OBJECT_GRAPH`, a serialized `TrackableObjectGraph`). TensorFlow stores `n` strings as
    /// `n` varint64 lengths, the masked CRC-32C of the lengths (each as a little-endian uint32), then the bytes
    /// of the strings; the entry's checksum covers the lengths as uint32s, that CRC and the strings
    /// (tensor_bundle.cc, WriteStringTensor).
    public func strings(_ key: String) throws(SavedModelImportError) -> [[UInt8]] {
        let entry = try wholeEntry(key)
        guard entry.dtype == .dtString else {
            throw .unsupported(file: indexFile, reason: "'\(key)' has dtype \(Self.name(of: entry.dtype)), not strings")
        }
        let shape = try shape(of: entry, key)
        guard let count = MemoryLimit.byteCount(of: shape, elementSize: 1), count <= entry.size else {
            throw .damaged(file: indexFile, reason: "'\(key)' has shape \(shape), more strings than its \(entry.size) bytes can hold")
        }
        let (bytes, shard) = try read(entry, key, verify: false)
        func damaged(_ reason: String) -> SavedModelImportError { .damaged(file: shard, reason: "the strings of '\(key)' \(reason)") }
        var reader = ByteReader(bytes[...])
        var lengths: [Int] = []
        var lengthBytes: [UInt8] = []
        var total = 0
        do throws(ByteReader.Truncated) {
            for _ in 0..<count {
                guard let length = try reader.varint64("length"), length <= UInt64(UInt32.max) else {
                    throw ByteReader.Truncated(what: "length")
                }
                let (sum, overflow) = total.addingReportingOverflow(Int(length))
                guard !overflow else { throw ByteReader.Truncated(what: "length") }
                lengths.append(Int(length))
                total = sum
                withUnsafeBytes(of: UInt32(length).littleEndian) { lengthBytes.append(contentsOf: $0) }
            }
        } catch {
            throw damaged("have a length that is cut short or larger than 4 GiB")
        }
        var checksumReader = reader
        guard let storedLengthsCRC = try? checksumReader.fixed32("checksum"), let lengthsCRC = try? reader.take(4, "checksum") else {
            throw damaged("end before the checksum of their lengths")
        }
        guard storedLengthsCRC == CRC32C.mask(CRC32C.checksum(lengthBytes)) else { throw damaged("fail the checksum of their lengths") }
        guard total == reader.remaining else {
            throw damaged("have lengths adding up to \(total) bytes, but \(reader.remaining) bytes follow them")
        }
        let crc = CRC32C.checksum(
            reader.bytes[reader.position...], continuing: CRC32C.checksum(lengthsCRC, continuing: CRC32C.checksum(lengthBytes)))
        guard CRC32C.mask(crc) == entry.crc32C else { throw damaged("fail their checksum") }
        var result: [[UInt8]] = []
        for length in lengths { result.append(Array((try? reader.take(length, "string")) ?? [])) }
        return result
    }

    // MARK: - Reading

    private func wholeEntry(_ key: String) throws(SavedModelImportError) -> Tensorflow_BundleEntryProto {
        guard let entry = entries[key] else { throw .missingTensor(file: indexFile, key: key) }
        guard entry.slices.isEmpty else {
            throw .unsupported(
                file: indexFile,
                reason:
                    "'\(key)' is a partitioned variable stored as \(entry.slices.count) slices; Kiln reads whole variables: save the model without a variable partitioner"
            )
        }
        return entry
    }

    private func shape(of entry: Tensorflow_BundleEntryProto, _ key: String) throws(SavedModelImportError) -> [Int] {
        guard !entry.shape.unknownRank, entry.shape.dim.allSatisfy({ $0.size >= 0 }) else {
            throw .damaged(file: indexFile, reason: "'\(key)' has a shape with unknown dimensions; a checkpoint stores whole tensors")
        }
        return entry.shape.dim.map { Int($0.size) }
    }

    /// The name of shard `id`: `variables.data-00000-of-00001`.
    func shardFile(_ id: Int) -> String {
        func pad(_ number: Int) -> String {
            let digits = String(number)
            return String(repeating: "0", count: max(0, 5 - digits.count)) + digits
        }
        return "\(prefix).data-\(pad(id))-of-\(pad(shardCount))"
    }

    /// The entry's bytes from its shard, after checking the range and, when `verify`, the checksum.
    private func read(_ entry: Tensorflow_BundleEntryProto, _ key: String, verify: Bool = true) throws(SavedModelImportError) -> (
        [UInt8], String
    ) {
        guard entry.shardID >= 0, Int(entry.shardID) < shardCount else {
            throw .damaged(file: indexFile, reason: "'\(key)' is in data file \(entry.shardID), but the bundle has \(shardCount)")
        }
        let shard = shardFile(Int(entry.shardID))
        let file: InputFile
        do throws(InputFileError) {
            file = try InputFile(shard)
        } catch {
            throw error.reason.isMissing
                ? .missingFile(shard) : .unreadable(file: shard, reason: error.message)
        }
        let (end, overflow) = entry.offset.addingReportingOverflow(entry.size)
        guard entry.offset >= 0, entry.size >= 0, !overflow, end <= Int64(file.size) else {
            throw .damaged(
                file: shard,
                reason:
                    "'\(key)' is at bytes \(entry.offset) to \(entry.offset) + \(entry.size), past the end of the file (\(file.size) bytes)"
            )
        }
        guard MemoryLimit.allows(Int(entry.size)) else {
            throw .unreadable(file: shard, reason: "reading '\(key)' \(MemoryLimit.exceeded(by: Int(entry.size)))")
        }
        let bytes: [UInt8]
        do throws(InputFileError) {
            bytes = try file.read(at: Int(entry.offset), count: Int(entry.size))
        } catch {
            throw .unreadable(file: shard, reason: error.message)
        }
        guard bytes.count == Int(entry.size) else { throw .damaged(file: shard, reason: "the file shrank while '\(key)' was read") }
        if verify {
            let actual = CRC32C.mask(CRC32C.checksum(bytes))
            guard actual == entry.crc32C else {
                throw .damaged(
                    file: shard,
                    reason:
                        "the bytes of '\(key)' fail their checksum (stored masked CRC-32C 0x\(String(entry.crc32C, radix: 16)), computed 0x\(String(actual, radix: 16)))"
                )
            }
        }
        return (bytes, shard)
    }

    static func readAll(_ path: String) throws(SavedModelImportError) -> [UInt8] {
        do throws(InputFileError) {
            return try InputFile(path).readAll()
        } catch {
            throw error.reason.isMissing ? .missingFile(path) : .unreadable(file: path, reason: error.message)
        }
    }

    /// `float32`, `bfloat16`, or `DataType 42` for a number the schema does not name.
    static func name(of dtype: Tensorflow_DataType) -> String {
        switch dtype {
        case .dtFloat: "float32"
        case .dtDouble: "float64"
        case .dtHalf: "float16"
        case .dtBfloat16: "bfloat16"
        case .dtInt8: "int8"
        case .dtInt16: "int16"
        case .dtInt32: "int32"
        case .dtInt64: "int64"
        case .dtUint8: "uint8"
        case .dtUint16: "uint16"
        case .dtUint32: "uint32"
        case .dtUint64: "uint64"
        case .dtBool: "bool"
        case .dtString: "string"
        case .dtComplex64: "complex64"
        case .dtComplex128: "complex128"
        case .dtResource: "resource"
        case .dtVariant: "variant"
        case .UNRECOGNIZED(let number): "DataType \(number)"
        default: "\(dtype)"
        }
    }
}
