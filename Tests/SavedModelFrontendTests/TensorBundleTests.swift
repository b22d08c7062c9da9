import KilnIR
import TFProto
import XCTest

@testable import SavedModelFrontend

final class TensorBundleTests: XCTestCase {
    var writer: BundleWriter!

    override func setUpWithError() throws { writer = try BundleWriter() }
    override func tearDown() { writer.remove() }

    func reason(of error: Error, file: StaticString = #filePath, line: UInt = #line) -> String {
        switch error as? SavedModelImportError {
        case .damaged(_, let reason)?, .unsupported(_, let reason)?, .unreadable(_, let reason)?: return reason
        default:
            XCTFail("unexpected error \(error)", file: file, line: line)
            return ""
        }
    }

    func testEveryDtypeKerasStores() throws {
        writer.add("f32", .dtFloat, [2, 2], bytes: littleEndianBytes([Float(1.5), -2, 0.25, 8]))
        writer.add("f16", .dtHalf, [3], bytes: littleEndianBytes([Float16(0.5), -1, 2048].map(\.bitPattern)))
        // bfloat16 is the upper half of a float32: 1.5 is 0x3FC0, -3.0 is 0xC040.
        writer.add("bf16", .dtBfloat16, [2], bytes: littleEndianBytes([UInt16(0x3FC0), 0xC040]))
        writer.add("f64", .dtDouble, [2], bytes: littleEndianBytes([0.1, -1e3]))
        writer.add("i32", .dtInt32, [2], bytes: littleEndianBytes([Int32(-7), 1 << 30]))
        writer.add("i64", .dtInt64, [1, 2], bytes: littleEndianBytes([Int64(-1), 1 << 40]))
        writer.add("bool", .dtBool, [3], bytes: [1, 0, 1])
        writer.add("scalar", .dtFloat, [], bytes: littleEndianBytes([Float(3)]))
        writer.addStrings("names", [Array("ab".utf8), []])
        let bundle = try TensorBundle(prefix: try writer.write())

        XCTAssertEqual(bundle.keys, ["bf16", "bool", "f16", "f32", "f64", "i32", "i64", "names", "scalar"])
        XCTAssertEqual(try bundle.tensor("f32"), Tensor(shape: [2, 2], floats: [1.5, -2, 0.25, 8]))
        XCTAssertEqual(try bundle.tensor("f16"), Tensor(shape: [3], storage: .float16([Float16(0.5), -1, 2048].map(\.bitPattern))))
        XCTAssertEqual(try bundle.tensor("bf16"), Tensor(shape: [2], floats: [1.5, -3]))
        XCTAssertEqual(try bundle.tensor("f64"), Tensor(shape: [2], floats: [Float(0.1), -1000]))
        XCTAssertEqual(try bundle.tensor("i32"), Tensor(shape: [2], storage: .int32([-7, 1 << 30])))
        XCTAssertEqual(try bundle.tensor("i64"), Tensor(shape: [1, 2], storage: .int64([-1, 1 << 40])))
        XCTAssertEqual(try bundle.tensor("bool"), Tensor(shape: [3], storage: .bool([true, false, true])))
        XCTAssertEqual(try bundle.tensor("scalar"), Tensor(shape: [], floats: [3]))
        XCTAssertEqual(try bundle.strings("names"), [Array("ab".utf8), []])
        XCTAssertEqual(bundle.info(of: "i64")?.dtype, "int64")
        XCTAssertEqual(bundle.info(of: "i64")?.shape, [1, 2])
        XCTAssertThrowsError(try bundle.tensor("names")) { XCTAssertTrue(reason(of: $0).contains("holds strings"), "\($0)") }
        XCTAssertThrowsError(try bundle.tensor("nothing")) { error in
            XCTAssertEqual(error as? SavedModelImportError, .missingTensor(file: writer.prefix + ".index", key: "nothing"))
        }
    }

    func testSeveralShards() throws {
        writer.header.numShards = 2
        writer.shardCount = 2
        writer.add("a", .dtFloat, [1], bytes: littleEndianBytes([Float(1)]), shard: 0)
        writer.add("b", .dtFloat, [2], bytes: littleEndianBytes([Float(2), 3]), shard: 1)
        let bundle = try TensorBundle(prefix: try writer.write())
        XCTAssertTrue(bundle.shardFile(1).hasSuffix("variables.data-00001-of-00002"))
        XCTAssertEqual(try bundle.tensor("b"), Tensor(shape: [2], floats: [2, 3]))
        XCTAssertEqual(try bundle.tensor("a"), Tensor(shape: [1], floats: [1]))
    }

    func testMissingShardIsNamed() throws {
        writer.header.numShards = 2
        writer.add("b", .dtFloat, [1], bytes: littleEndianBytes([Float(2)]), shard: 1)
        let bundle = try TensorBundle(prefix: try writer.write())
        XCTAssertThrowsError(try bundle.tensor("b")) { error in
            XCTAssertEqual(error as? SavedModelImportError, .missingFile(writer.prefix + ".data-00001-of-00002"))
        }
    }

    func testOffsetPastTheShard() throws {
        writer.add("w", .dtFloat, [2], bytes: littleEndianBytes([Float(1), 2])) { $0.offset = 4 }
        let bundle = try TensorBundle(prefix: try writer.write())
        XCTAssertThrowsError(try bundle.tensor("w")) { error in
            XCTAssertTrue(reason(of: error).contains("past the end of the file (8 bytes)"), "\(error)")
            XCTAssertTrue("\(error)".contains("variables.data-00000-of-00001"), "\(error)")
        }
    }

    func testHugeOffsetDoesNotOverflow() throws {
        writer.add("w", .dtFloat, [2], bytes: littleEndianBytes([Float(1), 2])) { $0.offset = .max - 2 }
        let bundle = try TensorBundle(prefix: try writer.write())
        XCTAssertThrowsError(try bundle.tensor("w")) { XCTAssertTrue(reason(of: $0).contains("past the end"), "\($0)") }
    }

    func testBadTensorChecksum() throws {
        writer.add("w", .dtFloat, [2], bytes: littleEndianBytes([Float(1), 2])) { $0.crc32C ^= 1 }
        let bundle = try TensorBundle(prefix: try writer.write())
        XCTAssertThrowsError(try bundle.tensor("w")) { XCTAssertTrue(reason(of: $0).contains("fail their checksum"), "\($0)") }
    }

    func testSizeDisagreeingWithTheShape() throws {
        writer.add("w", .dtFloat, [3], bytes: littleEndianBytes([Float(1), 2]))
        let bundle = try TensorBundle(prefix: try writer.write())
        XCTAssertThrowsError(try bundle.tensor("w")) { XCTAssertTrue(reason(of: $0).contains("is 8 bytes"), "\($0)") }
    }

    func testOverflowingShape() throws {
        writer.add("w", .dtFloat, [1 << 40, 1 << 40], bytes: littleEndianBytes([Float(1)]))
        let bundle = try TensorBundle(prefix: try writer.write())
        XCTAssertThrowsError(try bundle.tensor("w")) { XCTAssertTrue(reason(of: $0).contains("more elements"), "\($0)") }
    }

    func testShardNumberOutsideTheBundle() throws {
        writer.add("w", .dtFloat, [1], bytes: littleEndianBytes([Float(1)])) { $0.shardID = 3 }
        let bundle = try TensorBundle(prefix: try writer.write())
        XCTAssertThrowsError(try bundle.tensor("w")) {
            XCTAssertTrue(reason(of: $0).contains("data file 3, but the bundle has 1"), "\($0)")
        }
    }

    func testPartitionedVariable() throws {
        writer.add("w", .dtFloat, [4], bytes: []) { $0.slices = [Tensorflow_TensorSliceProto(), Tensorflow_TensorSliceProto()] }
        let bundle = try TensorBundle(prefix: try writer.write())
        XCTAssertThrowsError(try bundle.tensor("w")) { error in
            guard case SavedModelImportError.unsupported(_, let reason) = error else { return XCTFail("\(error)") }
            XCTAssertTrue(reason.contains("partitioned variable stored as 2 slices"), reason)
        }
    }

    func testUnsupportedDtypeIsNamed() throws {
        writer.add("c", .dtComplex64, [1], bytes: [UInt8](repeating: 0, count: 8))
        let bundle = try TensorBundle(prefix: try writer.write())
        XCTAssertThrowsError(try bundle.tensor("c")) { XCTAssertTrue(reason(of: $0).contains("dtype complex64"), "\($0)") }
    }

    func testBoolByteOutsideZeroAndOne() throws {
        writer.add("b", .dtBool, [2], bytes: [1, 2])
        let bundle = try TensorBundle(prefix: try writer.write())
        XCTAssertThrowsError(try bundle.tensor("b")) { XCTAssertTrue(reason(of: $0).contains("the byte 2"), "\($0)") }
    }

    func testBrokenStringLengths() throws {
        writer.add("s", .dtString, [2], bytes: TableWriter.varint(5) + TableWriter.varint(9) + [0, 0, 0, 0] + Array("abc".utf8))
        let bundle = try TensorBundle(prefix: try writer.write())
        XCTAssertThrowsError(try bundle.strings("s")) { XCTAssertTrue(reason(of: $0).contains("checksum of their lengths"), "\($0)") }
    }

    func testBigEndianBundle() throws {
        writer.header.endianness = .big
        XCTAssertThrowsError(try writer.write()) { XCTAssertTrue(reason(of: $0).contains("big-endian"), "\($0)") }
    }

    func testNewerFormatVersion() throws {
        writer.header.version.minConsumer = 2
        XCTAssertThrowsError(try writer.write()) { XCTAssertTrue(reason(of: $0).contains("version 2 or later"), "\($0)") }
    }

    func testMissingIndex() {
        XCTAssertThrowsError(try TensorBundle(prefix: writer.prefix)) { error in
            XCTAssertEqual(error as? SavedModelImportError, .missingFile(writer.prefix + ".index"))
        }
    }

    func testIndexWithoutHeader() throws {
        let table = TableWriter().build([("w".bytes, try Tensorflow_BundleEntryProto().serializedBytes())])
        try Data(table).write(to: URL(fileURLWithPath: writer.prefix + ".index"))
        XCTAssertThrowsError(try TensorBundle(prefix: writer.prefix)) {
            XCTAssertTrue(reason(of: $0).contains("no bundle header"), "\($0)")
        }
    }

    func testEntryThatIsNotABundleEntry() throws {
        let table = TableWriter().build([([], try writer.header.serializedBytes()), ("w".bytes, [0xFF, 0xFF, 0xFF])])
        try Data(table).write(to: URL(fileURLWithPath: writer.prefix + ".index"))
        XCTAssertThrowsError(try TensorBundle(prefix: writer.prefix)) {
            XCTAssertTrue(reason(of: $0).contains("entry of 'w' is not a BundleEntryProto"), "\($0)")
        }
    }
}
