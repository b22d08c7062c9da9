import XCTest

@testable import SavedModelFrontend

final class ByteReaderTests: XCTestCase {
    func testVarintsAtTheirLimits() throws {
        var reader = ByteReader((TableWriter.varint(0) + TableWriter.varint(300) + TableWriter.varint(.max))[...])
        XCTAssertEqual(try reader.varint64("a"), 0)
        XCTAssertEqual(try reader.varint64("b"), 300)
        XCTAssertEqual(try reader.varint64("c"), .max)
        XCTAssertTrue(reader.isAtEnd)
    }

    func testVarintPast64BitsIsNil() throws {
        // Ten bytes whose last holds more than bit 63, and eleven bytes.
        var tooLarge = ByteReader(([UInt8](repeating: 0xFF, count: 9) + [0x02])[...])
        XCTAssertNil(try tooLarge.varint64("a"))
        var tooLong = ByteReader(([UInt8](repeating: 0x80, count: 10) + [0x00])[...])
        XCTAssertNil(try tooLong.varint64("b"))
        var wide = ByteReader(TableWriter.varint(1 << 32)[...])
        XCTAssertNil(try wide.varint32("c"))
    }

    func testReadsPastTheEndThrowAndSayWhat() {
        var reader = ByteReader([0x80, 0x80][...])
        XCTAssertThrowsError(try reader.varint64("value length")) { XCTAssertEqual(($0 as? ByteReader.Truncated)?.what, "value length") }
        var short = ByteReader([1, 2, 3][...])
        XCTAssertThrowsError(try short.fixed32("checksum"))
        XCTAssertThrowsError(try short.take(-1, "negative"))
        XCTAssertEqual(try short.take(3, "all"), [1, 2, 3])
    }

    func testFixedWidthIsLittleEndian() throws {
        var reader = ByteReader((TableWriter.fixed32(0xDEAD_BEEF) + TableWriter.fixed64(LevelDBTable.magic))[...])
        XCTAssertEqual(try reader.fixed32("a"), 0xDEAD_BEEF)
        XCTAssertEqual(try reader.fixed64("b"), LevelDBTable.magic)
    }
}
