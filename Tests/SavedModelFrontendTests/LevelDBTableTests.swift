import XCTest

@testable import SavedModelFrontend

final class LevelDBTableTests: XCTestCase {
    /// Keys that share long prefixes, as checkpoint keys do.
    let entries: [(key: [UInt8], value: [UInt8])] = [
        "", "layer-0/bias", "layer-0/kernel", "layer-1/bias", "layer-1/kernel", "layer-10/kernel", "z",
    ].enumerated().map { ($1.bytes, [UInt8](repeating: UInt8($0), count: $0 * 3)) }

    func read(_ bytes: [UInt8]) throws -> [(key: [UInt8], value: [UInt8])] {
        try LevelDBTable(bytes: bytes, file: "test.index").entries.map { ($0.key, Array($0.value)) }
    }

    func assertSameEntries(_ actual: [(key: [UInt8], value: [UInt8])], _ expected: [(key: [UInt8], value: [UInt8])]) {
        XCTAssertEqual(actual.map(\.key), expected.map(\.key))
        XCTAssertEqual(actual.map(\.value), expected.map(\.value))
    }

    func assertDamaged(_ bytes: [UInt8], mentions words: [String], file: StaticString = #filePath, line: UInt = #line) {
        XCTAssertThrowsError(try read(bytes), file: file, line: line) { error in
            guard case SavedModelImportError.damaged(let name, let reason) = error else {
                return XCTFail("expected .damaged, got \(error)", file: file, line: line)
            }
            XCTAssertEqual(name, "test.index", file: file, line: line)
            for word in words { XCTAssertTrue(reason.contains(word), "'\(reason)' does not mention '\(word)'", file: file, line: line) }
        }
    }

    func testOneBlockWithOneRestartKeepsSharedPrefixes() throws {
        let bytes = TableWriter().build(entries)
        assertSameEntries(try read(bytes), entries)
        // The shared prefixes are really shared: "layer-0/" is written once in the first block.
        XCTAssertEqual(bytes.count(of: Array("layer-".utf8)), 1)
    }

    func testRestartEveryOtherEntry() throws {
        let bytes = TableWriter(restartInterval: 2).build(entries)
        assertSameEntries(try read(bytes), entries)
        // Entry 1 follows the empty key; entries 2 and 4 are restarts, which write their whole keys.
        XCTAssertEqual(bytes.count(of: Array("layer-".utf8)), 3)
    }

    func testSeveralBlocks() throws {
        for perBlock in 1...3 {
            let bytes = TableWriter(restartInterval: 2, entriesPerBlock: perBlock).build(entries)
            assertSameEntries(try read(bytes), entries)
        }
    }

    func testEmptyTable() throws {
        XCTAssertTrue(try read(TableWriter().build([])).isEmpty)
    }

    func testBadBlockChecksum() {
        var bytes = TableWriter().build(entries)
        bytes[5] ^= 0x40
        assertDamaged(bytes, mentions: ["data block 1 of 1", "fails its checksum"])
    }

    func testTruncatedFooter() {
        let bytes = TableWriter().build(entries)
        assertDamaged(Array(bytes.dropLast(3)), mentions: ["magic number"])
        assertDamaged(Array(bytes.prefix(20)), mentions: ["20 bytes", "48-byte footer"])
    }

    func testHandlePastTheBlocks() throws {
        let bytes = TableWriter().build(entries)
        let footer = bytes.count - 48
        var reader = ByteReader(bytes[footer..<(footer + 40)])
        let metaindex = try BlockHandle(&reader, "metaindex")
        let index = try BlockHandle(&reader, "index")
        // The metaindex handle now claims a block of 1 TiB.
        var handles = TableWriter.varint(UInt64(metaindex.offset)) + TableWriter.varint(1 << 40)
        handles += TableWriter.varint(UInt64(index.offset)) + TableWriter.varint(UInt64(index.size))
        let broken =
            Array(bytes[..<footer]) + handles + [UInt8](repeating: 0, count: 40 - handles.count) + TableWriter.fixed64(LevelDBTable.magic)
        assertDamaged(broken, mentions: ["metaindex block", "runs past"])
    }

    func testRestartPointInsideAnEntry() {
        // Entry 0 (empty key and value) is bytes 0..<3, entry 1 bytes 3..<21.
        let bytes = TableWriter(restartInterval: 100, firstBlockRestarts: [0, 4]).build(entries)
        assertDamaged(bytes, mentions: ["restart point 4 falls inside an entry"])
    }

    func testRestartPointAtAnEntryThatSharesItsKey() {
        // Entry 2, "layer-0/kernel" at byte 21, keeps "layer-0/" of entry 1's key.
        let bytes = TableWriter(restartInterval: 100, firstBlockRestarts: [0, 21]).build(entries)
        assertDamaged(bytes, mentions: ["restart point 21 keeps 8 bytes"])
    }

    func testRestartPointPastTheEntries() {
        let bytes = TableWriter(firstBlockRestarts: [0, 100_000]).build(entries)
        assertDamaged(bytes, mentions: ["restart point 100000"])
    }

    func testKeysOutOfOrder() {
        let bytes = TableWriter().build([("b".bytes, []), ("a".bytes, [])])
        assertDamaged(bytes, mentions: ["out of order", "'a' follows 'b'"])
    }

    func testCompressedBlockIsNamed() {
        XCTAssertThrowsError(try read(TableWriter(blockType: 1).build(entries))) { error in
            guard case SavedModelImportError.unsupported(_, let reason) = error else { return XCTFail("\(error)") }
            XCTAssertTrue(reason.contains("Snappy"), reason)
        }
        XCTAssertThrowsError(try read(TableWriter(blockType: 7).build(entries))) { error in
            guard case SavedModelImportError.unsupported(_, let reason) = error else { return XCTFail("\(error)") }
            XCTAssertTrue(reason.contains("compression type 7"), reason)
        }
    }

    func testEntryRunningPastTheBlock() {
        // One entry claiming a 200-byte value in a block of a few bytes.
        let block =
            TableWriter.varint(0) + TableWriter.varint(1) + TableWriter.varint(200) + [0x61, 1, 2] + TableWriter.fixed32(0)
            + TableWriter.fixed32(1)
        var file = block + [0] + TableWriter.fixed32(CRC32C.mask(CRC32C.checksum([0], continuing: CRC32C.checksum(block))))
        let empty = TableWriter.block([], restartInterval: 1)
        let metaOffset = file.count
        file += empty + [0] + TableWriter.fixed32(CRC32C.mask(CRC32C.checksum([0], continuing: CRC32C.checksum(empty))))
        let index = TableWriter.block([("a".bytes, TableWriter.varint(0) + TableWriter.varint(UInt64(block.count)))], restartInterval: 1)
        let indexOffset = file.count
        file += index + [0] + TableWriter.fixed32(CRC32C.mask(CRC32C.checksum([0], continuing: CRC32C.checksum(index))))
        var footer = TableWriter.varint(UInt64(metaOffset)) + TableWriter.varint(UInt64(empty.count))
        footer += TableWriter.varint(UInt64(indexOffset)) + TableWriter.varint(UInt64(index.count))
        footer += [UInt8](repeating: 0, count: 40 - footer.count) + TableWriter.fixed64(LevelDBTable.magic)
        assertDamaged(file + footer, mentions: ["entry at byte 0", "runs past the block", "value"])
    }
}

extension Array where Element == UInt8 {
    /// How many times `pattern` occurs.
    func count(of pattern: [UInt8]) -> Int {
        guard count >= pattern.count else { return 0 }
        return (0...(count - pattern.count)).filter { self[$0..<$0 + pattern.count].elementsEqual(pattern) }.count
    }
}
