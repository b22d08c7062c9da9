import KilnIR
import XCTest

@testable import KerasFrontend

/// `LayerConfig`, the checked reader of layer settings: the forms Keras writes are read, and each value out of
/// range is an error naming the layer, the field, the value and the range.
final class KerasLayerConfigTests: XCTestCase {
    private func settings(_ config: JSON, className: String = "Conv2D") -> LayerConfig {
        LayerConfig(LayerSpec(className: className, name: "layer_1", config: config, calls: []), file: "model.h5")
    }

    private func assertInvalid<T>(
        _ body: @autoclosure () throws(KerasImportError) -> T, _ message: String, file: StaticString = #filePath, line: UInt = #line
    ) {
        do {
            let value = try body()
            XCTFail("read \(value), expected an error saying \(message)", file: file, line: line)
        } catch {
            XCTAssertTrue("\(error)".contains(message), "\(error) should say \(message)", file: file, line: line)
            XCTAssertTrue("\(error)".hasPrefix("model.h5: layer 'layer_1' (Conv2D): "), "\(error)", file: file, line: line)
        }
    }

    func testReadsTheFormsKerasWrites() throws {
        let config = settings(
            .object([
                "units": .number(16), "strides": .array([.number(2), .number(1)]), "pool": .number(3), "nothing": .null,
                "padding": .array([.array([.number(1), .number(2)]), .number(3)]), "crop": .array([.number(1), .number(2)]),
                "axis": .array([.number(-1)]), "axes": .array([.number(3), .number(1)]), "mode": .string("same"),
                "flag": .bool(true), "zero": .number(0), "eps": .number(1e-5),
                "activation": .object(["class_name": .string("ReLU"), "config": .object([:])]),
            ]))
        XCTAssertEqual(try config.size("units"), 16)
        XCTAssertEqual(try config.size("absent", default: 1), 1)
        XCTAssertEqual(try config.size("nothing", default: 7), 7, "null takes the default")
        XCTAssertEqual(try config.sizes("strides", count: 2), [2, 1])
        XCTAssertEqual(try config.sizes("pool", count: 3), [3, 3, 3])
        XCTAssertEqual(try config.pairs("padding", count: 2).map { [$0.0, $0.1] }, [[1, 2], [3, 3]])
        XCTAssertEqual(try config.pairs("crop", count: 1).map { [$0.0, $0.1] }, [[1, 2]], "a bare pair in one dimension")
        XCTAssertEqual(try config.axis("axis", rank: 4), 3)
        XCTAssertEqual(try config.axisAsWritten("axis", rank: 4), -1)
        XCTAssertEqual(try config.axes("axes", rank: 4, default: [-1]), [1, 3])
        XCTAssertEqual(try config.choice("mode", ["valid", "same"], default: "valid"), "same")
        XCTAssertEqual(try config.bool("flag", default: false), true)
        XCTAssertEqual(try config.bool("zero", default: true), false, "1 and 0 stand for True and False")
        XCTAssertEqual(try config.float("eps", default: 0), 1e-5)
        XCTAssertEqual(try config.activation().name, "ReLU")
        XCTAssertEqual(try settings(.object([:])).activation().name, "linear")
    }

    func testRefusesValuesOutOfRange() {
        let config = settings(
            .object([
                "huge": .number(1e20), "zero": .number(0), "negative": .number(-3), "fraction": .number(2.5),
                "beyond": .number(9_223_372_036_854_775_808), "text": .string("7"), "three": .array([.number(1), .number(0), .number(1)]),
                "axes": .array([.number(1), .number(-3)]), "mode": .string("full"), "flag": .number(2),
                "eps": .number(1e300), "activation": .number(3), "pad": .array([.array([.number(1)])]),
            ]))
        assertInvalid(try config.size("huge"), "'huge' is 1e+20; it must be a whole number from 1 to 2^31")
        assertInvalid(try config.size("zero"), "'zero' is 0; it must be a whole number from 1 to 2^31")
        assertInvalid(try config.size("negative"), "'negative' is -3")
        assertInvalid(try config.size("fraction"), "'fraction' is 2.5")
        assertInvalid(try config.size("beyond"), "'beyond' is 9.223372036854776e+18")
        assertInvalid(try config.size("text"), "'text' is '7'")
        assertInvalid(try config.size("missing"), "'missing' is missing")
        assertInvalid(try config.sizes("three", count: 3), "'three' is 0; it must be a whole number from 1 to 2^31")
        assertInvalid(try config.sizes("three", count: 2), "'three' is [1, 0, 1]; it must be a whole number from 1 to 2^31, or a list of 2")
        assertInvalid(try config.pairs("negative", count: 2), "'negative' is -3; it must be a whole number from 0 to 2^31")
        assertInvalid(try config.pairs("pad", count: 1), "(before, after) pairs")
        assertInvalid(try config.axis("huge", rank: 4), "it must be an axis of the rank-4 input, from -4 to 3")
        assertInvalid(try config.axis("zero", rank: 0), "it must be an axis, but the input has none")
        assertInvalid(try config.axes("axes", rank: 4, default: []), "a list of distinct axes")
        assertInvalid(
            try config.choice("mode", ["valid", "same"], default: "valid"), "'mode' is 'full'; it must be one of 'valid', 'same'")
        assertInvalid(try config.bool("flag", default: false), "'flag' is 2; it must be true or false")
        assertInvalid(try config.float("eps", default: 0), "it must be a number within Float's range")
        assertInvalid(try config.activation(), "'activation' is 3; it must be the name of an activation")
    }

    /// Through the lowering: a relation between settings and the input is checked where it is read.
    func testGroupsMustDivideTheChannels() {
        var model = ModelConfigBuilder()
        model.input("x", [4, 4, 3])
        model.layer("Conv2D", "conv", ["filters": 4, "kernel_size": [1, 1], "groups": 2], on: ["x"])
        model.outputs = ["conv"]
        XCTAssertThrowsError(try model.lower()) { error in
            let expected = "layer 'conv' (Conv2D): 'groups' is 2; it must be a whole number that divides the 3 input channels"
            XCTAssertTrue("\(error)".contains(expected), "\(error)")
        }
    }
}
