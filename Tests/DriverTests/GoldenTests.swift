import Foundation
import KilnDriver
import KilnIR
import KilnTestSupport
import SwiftBackend
import XCTest

/// The MLP's IR and generated Swift, compared exactly with reviewed goldens.
final class GoldenTests: XCTestCase {
    func testMLPIRGolden() throws {
        let graph = try ModelLoader.load(try Fixture.named("mnist_mlp_keras3_h5").model)
        if let failure = Golden.check(graph.text, against: "mnist_mlp_keras3_h5.kir") { XCTFail(failure) }
    }

    /// The executor `kiln convert` writes: -O2, legalized for Swift.
    func testMLPGeneratedSwiftGolden() throws {
        let graph = try Optimizer.pipeline(level: "O2").run(try ModelLoader.load(try Fixture.named("mnist_mlp_keras3_h5").model))
        let emission = try SwiftEmitter().emit(try Backend.swift.legalize(graph), typeName: "MnistMLP")
        if let failure = Golden.check(emission.source, against: "MnistMLP.swift.txt") { XCTFail(failure) }
    }

    func testIRFileRoundTripsThroughKiln() throws {
        let graph = try ModelLoader.load(try Fixture.named("mnist_mlp_keras2_h5").model)
        let directory = FileManager.default.temporaryDirectory.appendingPathComponent("kiln-kir-\(UUID().uuidString)")
        defer { try? FileManager.default.removeItem(at: directory) }
        try Converter(emit: [.kir], name: "mlp").artifacts(for: graph).write(to: directory)
        let reloaded = try ModelLoader.load(directory.appendingPathComponent("mlp.kir"))
        XCTAssertEqual(reloaded, graph)
    }
}
