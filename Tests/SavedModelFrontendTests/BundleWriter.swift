import Foundation
import TFProto

@testable import SavedModelFrontend

/// Writes TensorBundles (an index table and data shards) into a fresh temporary directory for the reader's
/// tests; each `add` appends a tensor's bytes to a shard and records its entry, which the test may alter.
struct BundleWriter {
    let directory: URL
    var shardCount = 1
    var header = Tensorflow_BundleHeaderProto()
    var entries: [(key: String, entry: Tensorflow_BundleEntryProto)] = []
    var shards: [Int: [UInt8]] = [:]

    init() throws {
        directory = FileManager.default.temporaryDirectory.appendingPathComponent("kiln-bundle-\(UUID().uuidString)")
        try FileManager.default.createDirectory(at: directory, withIntermediateDirectories: true)
        header.numShards = 1
        header.version.producer = 1
    }

    var prefix: String { directory.appendingPathComponent("variables").path }

    /// Appends `bytes` to `shard` as the tensor `key` of `dtype` and `shape`, with its masked CRC-32C.
    mutating func add(
        _ key: String, _ dtype: Tensorflow_DataType, _ shape: [Int64], bytes: [UInt8], shard: Int = 0,
        edit: (inout Tensorflow_BundleEntryProto) -> Void = { _ in }
    ) {
        var entry = Tensorflow_BundleEntryProto()
        entry.dtype = dtype
        entry.shape.dim = shape.map { size in
            var dim = Tensorflow_TensorShapeProto.Dim()
            dim.size = size
            return dim
        }
        entry.shardID = Int32(shard)
        entry.offset = Int64(shards[shard, default: []].count)
        entry.size = Int64(bytes.count)
        entry.crc32C = CRC32C.mask(CRC32C.checksum(bytes))
        edit(&entry)
        shards[shard, default: []] += bytes
        entries.append((key, entry))
    }

    /// Appends string elements in TensorFlow's layout: varint64 lengths, the masked CRC-32C of the lengths as
    /// uint32s, the bytes.
    mutating func addStrings(_ key: String, _ strings: [[UInt8]]) {
        let lengths = strings.flatMap { TableWriter.fixed32(UInt32($0.count)) }
        let lengthsCRC = TableWriter.fixed32(CRC32C.mask(CRC32C.checksum(lengths)))
        let bytes = strings.flatMap { TableWriter.varint(UInt64($0.count)) } + lengthsCRC + strings.flatMap { $0 }
        add(key, .dtString, [Int64(strings.count)], bytes: bytes) { entry in
            entry.crc32C = CRC32C.mask(CRC32C.checksum(lengths + lengthsCRC + strings.flatMap { $0 }))
        }
    }

    /// Writes the index and the shards; returns the prefix.
    func write() throws -> String {
        var table: [(key: [UInt8], value: [UInt8])] = [([], try header.serializedBytes())]
        for (key, entry) in entries.sorted(by: { $0.key.utf8.lexicographicallyPrecedes($1.key.utf8) }) {
            table.append((Array(key.utf8), try entry.serializedBytes()))
        }
        try Data(TableWriter(restartInterval: 2).build(table)).write(to: URL(fileURLWithPath: prefix + ".index"))
        let bundle = try TensorBundle(prefix: prefix)
        for (shard, bytes) in shards where shard < shardCount {
            try Data(bytes).write(to: URL(fileURLWithPath: bundle.shardFile(shard)))
        }
        return prefix
    }

    func remove() { try? FileManager.default.removeItem(at: directory) }
}

/// The little-endian bytes of values.
func littleEndianBytes<T>(_ values: [T]) -> [UInt8] { values.withUnsafeBytes { Array($0) } }
