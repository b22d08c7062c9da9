import XCTest

@testable import KerasFrontend

/// The configuration parser: every JSON form, exactly, and malformed text refused with its offset,
/// including nesting deep enough to overflow a recursive parser's stack.
final class JSONTests: XCTestCase {
    func testEveryFormParses() throws {
        let text = #" { "a" : [1, -2.5e3, 0, 1E+2, true, false, null, "x\"\\\/\b\f\n\r\t\u00e9\ud83d\ude00 日本"], "b": {}, "c": [] } "#
        XCTAssertEqual(
            try JSON(parsing: text),
            .object([
                "a": .array([
                    .number(1), .number(-2500), .number(0), .number(100), .bool(true), .bool(false), .null,
                    .string("x\"\\/\u{8}\u{c}\n\r\té😀 日本"),
                ]),
                "b": .object([:]), "c": .array([]),
            ]))
        XCTAssertEqual(try JSON(parsing: #"{"k": 1, "k": 2}"#)["k"], .number(2), "the last of repeated keys")
    }

    func testMalformedTextIsRefused() {
        let cases = [
            "", " ", "{", "[1,]", "{\"a\" 1}", "{\"a\": 1,}", "NaN", "Infinity", "01", "1.", "-", "1e", "\"\u{1f}\"", "[1] x", "tru",
            "\"\\x\"", "\"\\u12g4\"", "\"\\ud800\\u0041\"", "\"open", "{1: 2}",
        ]
        for text in cases {
            XCTAssertThrowsError(try JSON(parsing: text), text.debugDescription) { error in
                XCTAssertTrue("\(error)".hasPrefix("not valid JSON at byte"), "\(error)")
            }
        }
    }

    func testDeepNestingIsAnErrorNotACrash() throws {
        XCTAssertNoThrow(try JSON(parsing: String(repeating: "[", count: 500) + String(repeating: "]", count: 500)))
        XCTAssertThrowsError(try JSON(parsing: String(repeating: "[", count: 100_000))) { error in
            XCTAssertTrue("\(error)".contains("nested more than 512 deep"), "\(error)")
        }
    }
}
