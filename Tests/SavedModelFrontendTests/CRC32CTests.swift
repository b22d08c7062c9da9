import XCTest

@testable import SavedModelFrontend

final class CRC32CTests: XCTestCase {
    func testPublishedCheckValue() {
        XCTAssertEqual(CRC32C.checksum("123456789".utf8), 0xE306_9283)
    }

    /// RFC 3720, appendix B.4 (the iSCSI CRC examples).
    func testRFC3720Vectors() {
        XCTAssertEqual(CRC32C.checksum([UInt8](repeating: 0, count: 32)), 0x8A91_36AA)
        XCTAssertEqual(CRC32C.checksum([UInt8](repeating: 0xFF, count: 32)), 0x62A8_AB43)
        XCTAssertEqual(CRC32C.checksum((0..<32).map { UInt8($0) }), 0x46DD_794E)
        XCTAssertEqual(CRC32C.checksum((0..<32).reversed().map { UInt8($0) }), 0x113F_DB5C)
    }

    func testContinuingEqualsOneRun() {
        let bytes = Array("hello, checkpoint".utf8)
        XCTAssertEqual(CRC32C.checksum(bytes[7...], continuing: CRC32C.checksum(bytes[..<7])), CRC32C.checksum(bytes))
    }

    func testMaskRoundTripsAndMovesTheValue() {
        for crc: UInt32 in [0, 1, 0xE306_9283, 0xFFFF_FFFF] {
            XCTAssertNotEqual(CRC32C.mask(crc), crc)
            XCTAssertEqual(CRC32C.unmask(CRC32C.mask(crc)), crc)
        }
    }
}
