import Foundation
import KilnDriver
import KilnIR
import KilnTestSupport
import XCTest

/// What -O2 does to every Keras fixture, as node counts per op kind before (-O0) and after, compared with
/// the reviewed golden testdata/goldens/node-counts.txt. A product with a fused epilogue counts as its own
/// kind (`Conv+Relu`).
final class NodeCountTests: XCTestCase {
    static func counts(_ graph: Graph) -> [String: Int] {
        graph.nodes.reduce(into: [:]) { $0[Summary.kind($1.op), default: 0] += 1 }
    }

    func testNodeCountsBeforeAndAfterO2MatchTheGolden() throws {
        let pipeline = try Optimizer.pipeline(level: "O2", verifyEach: true)
        var text = "# Nodes per op kind of every fixture: -O0 -> -O2. Re-record with KILN_UPDATE_GOLDENS=1.\n"
        let fixtures = try Fixture.all()
        XCTAssertGreaterThan(fixtures.count, 20)
        for fixture in fixtures {
            let graph = try fixture.load()
            let optimized = try pipeline.run(graph)
            let before = Self.counts(graph), after = Self.counts(optimized)
            text += "\n\(fixture.name): \(graph.nodes.count) -> \(optimized.nodes.count)\n"
            for kind in Set(before.keys).union(after.keys).sorted() {
                text += "  \(kind): \(before[kind, default: 0]) -> \(after[kind, default: 0])\n"
            }
        }
        if let failure = Golden.check(text, against: "node-counts.txt") { XCTFail(failure) }
    }

    /// On the CNNs with BatchNormalization, -O2 folds every BatchNorm that follows a product, leaves the
    /// others in the per-channel affine form (mean 0, variance 1, epsilon 0), and no activation right after
    /// a product.
    func testO2LeavesNoBatchNormAndNoActivationAfterAProductInTheBatchNormCNNs() throws {
        let pipeline = try Optimizer.pipeline(level: "O2", verifyEach: true)
        let fixtures = try Fixture.all().filter { $0.name.hasPrefix("cnn_bn") }
        XCTAssertEqual(fixtures.count, 3)
        for fixture in fixtures {
            let graph = try fixture.load()
            XCTAssertTrue(
                graph.nodes.contains { if case .batchNorm = $0.op { true } else { false } }, "\(fixture.name) has a BatchNorm to fold")
            let optimized = try pipeline.run(graph)
            let producers = optimized.producers
            for node in optimized.nodes {
                if case .batchNorm(let epsilon, _) = node.op {
                    let constants = optimized.constantsByName
                    XCTAssertEqual(epsilon, 0, "\(fixture.name): '\(node.name)'")
                    XCTAssertEqual(constants[node.inputs[3]]?.floats.allSatisfy { $0 == 0 }, true, "\(fixture.name): '\(node.name)' mean")
                    XCTAssertEqual(
                        constants[node.inputs[4]]?.floats.allSatisfy { $0 == 1 }, true, "\(fixture.name): '\(node.name)' variance")
                    if let p = producers[node.inputs[0]] {
                        XCTAssertFalse(
                            optimized.nodes[p].op.isProduct, "\(fixture.name): '\(node.name)' follows a product it could fold into")
                    }
                }
                guard case .activation(let activation) = node.op, let p = producers[node.inputs[0]] else { continue }
                let producer = optimized.nodes[p].op
                let isProduct: Bool
                if case .fused = producer { isProduct = true } else { isProduct = producer.acceptsEpilogue }
                XCTAssertFalse(isProduct, "\(fixture.name): \(activation.name) '\(node.name)' after \(producer.name) is not fused")
            }
            XCTAssertTrue(optimized.nodes.contains { if case .fused = $0.op { true } else { false } }, "\(fixture.name) fuses an epilogue")
        }
    }
}
