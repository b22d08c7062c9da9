import KilnIR
import XCTest

/// `--max-memory` sizes, checked byte counts, and sizes in words.
final class MemoryLimitTests: XCTestCase {
    func testSizes() {
        XCTAssertEqual(MemoryLimit.parse("1048576"), 1 << 20)
        XCTAssertEqual(MemoryLimit.parse("4G"), 4 << 30)
        XCTAssertEqual(MemoryLimit.parse("512m"), 512 << 20)
        XCTAssertEqual(MemoryLimit.parse("1.5GiB"), 3 << 29)
        XCTAssertEqual(MemoryLimit.parse("2TB"), 2 << 40)
        for bad in ["", "0", "-1G", "G", "lots", "1e400", "0.5"] { XCTAssertNil(MemoryLimit.parse(bad), bad) }
    }

    func testByteCounts() {
        XCTAssertEqual(MemoryLimit.byteCount(of: [2, 3], elementSize: 4), 24)
        XCTAssertEqual(MemoryLimit.byteCount(of: [], elementSize: 8), 8)
        XCTAssertEqual(MemoryLimit.byteCount(of: [0, Int.max], elementSize: 4), 0)
        XCTAssertNil(MemoryLimit.byteCount(of: [1 << 62, 4], elementSize: 4))
        XCTAssertNil(MemoryLimit.byteCount(of: [-1], elementSize: 4))
    }

    func testTheLimitIsBoundPerCommand() {
        XCTAssertEqual(MemoryLimit.describe(512), "512 bytes")
        XCTAssertEqual(MemoryLimit.describe(3 << 29), "1.5 GiB")
        MemoryLimit.$bytes.withValue(1000) {
            XCTAssertTrue(MemoryLimit.allows(1000))
            XCTAssertFalse(MemoryLimit.allows(1001))
            XCTAssertTrue(MemoryLimit.exceeded(by: 2048).hasPrefix("needs 2.0 KiB, more than the memory limit of 1000 bytes"))
        }
        XCTAssertEqual(MemoryLimit.bytes, MemoryLimit.defaultBytes)
    }
}
