import KerasFrontend
import KilnIR
import TFProto
import XCTest

@testable import SavedModelFrontend

/// `CheckpointWeights` on hand-built object graphs: the walk from the root to a layer's variables, and object
/// graphs that point nowhere.
final class CheckpointWeightsTests: XCTestCase {
    var writer: BundleWriter!

    override func setUpWithError() throws { writer = try BundleWriter() }
    override func tearDown() { writer.remove() }

    typealias Object = Tensorflow_TrackableObjectGraph.TrackableObject

    func object(_ children: [(Int32, String)], key: String? = nil) -> Object {
        var object = Object()
        object.children = children.map { id, name in
            var reference = Object.ObjectReference()
            reference.nodeID = id
            reference.localName = name
            return reference
        }
        if let key {
            var attribute = Object.SerializedTensor()
            attribute.name = "VARIABLE_VALUE"
            attribute.checkpointKey = key
            object.attributes = [attribute]
        }
        return object
    }

    /// root -> layer_with_weights-0 (node 1) -> variables (node 2) -> "1" bias (node 4), "0" kernel (node 3).
    func weights(_ nodes: [Object]) throws -> CheckpointWeights {
        if writer.entries.isEmpty {
            writer.add("dense/kernel", .dtFloat, [2, 1], bytes: littleEndianBytes([Float(1), 2]))
            writer.add("dense/bias", .dtHalf, [1], bytes: littleEndianBytes([Float16(0.5).bitPattern]))
        }
        var graph = Tensorflow_TrackableObjectGraph()
        graph.nodes = nodes
        return CheckpointWeights(
            bundle: try TensorBundle(prefix: try writer.write()), objectGraph: graph, layerPaths: ["dense": "root.layer_with_weights-0"],
            file: "model/1")
    }

    var goodGraph: [Object] {
        [
            object([(1, "layer_with_weights-0")]), object([(2, "variables"), (3, "kernel"), (4, "bias")]), object([(4, "1"), (3, "0")]),
            object([], key: "dense/kernel"), object([], key: "dense/bias"),
        ]
    }

    func testVariablesInTheirListsOrderAsFloat32WithTheLayersNames() throws {
        let loaded = try weights(goodGraph).weights(of: "dense")
        XCTAssertEqual(loaded.map(\.name), ["dense/kernel", "dense/bias"])
        XCTAssertEqual(loaded.map(\.tensor), [Tensor(shape: [2, 1], floats: [1, 2]), Tensor(shape: [1], floats: [0.5])])
        XCTAssertTrue(try weights(goodGraph).weights(of: "no_such_layer").isEmpty)
    }

    func assertUnreadable(_ nodes: [Object], mentioning text: String, file: StaticString = #filePath, line: UInt = #line) throws {
        let source = try weights(nodes)
        XCTAssertThrowsError(try source.weights(of: "dense"), file: file, line: line) { error in
            guard case KerasImportError.unreadableWeights(_, let layer, let reason) = error else {
                return XCTFail("\(error)", file: file, line: line)
            }
            XCTAssertEqual(layer, "dense", file: file, line: line)
            XCTAssertTrue(reason.contains(text), reason, file: file, line: line)
        }
    }

    func testReferenceOutsideTheGraph() throws {
        var nodes = goodGraph
        nodes[2] = object([(0, "0"), (99, "1")])
        try assertUnreadable(nodes, mentioning: "refers to object 99 of 5")
        nodes[0] = object([(-1, "layer_with_weights-0")])
        try assertUnreadable(nodes, mentioning: "refers to object -1 of 5")
    }

    func testLayerMissingFromTheGraph() throws {
        var nodes = goodGraph
        nodes[0] = object([(1, "layer-0")])
        try assertUnreadable(nodes, mentioning: "no object at root.layer_with_weights-0")
    }

    func testVariablesListWithAName() throws {
        var nodes = goodGraph
        nodes[2] = object([(3, "first")])
        try assertUnreadable(nodes, mentioning: "entry named 'first'")
    }

    func testVariableWithoutAValue() throws {
        var nodes = goodGraph
        nodes[4] = object([])
        try assertUnreadable(nodes, mentioning: "variable 1 of root.layer_with_weights-0 has no VARIABLE_VALUE")
    }

    func testKeyTheCheckpointLacks() throws {
        var nodes = goodGraph
        nodes[4] = object([], key: "dense/gamma")
        try assertUnreadable(nodes, mentioning: "holds no tensor 'dense/gamma'")
    }

    func testEmptyGraphHasNoWeights() throws {
        XCTAssertTrue(try weights([]).weights(of: "dense").isEmpty)
    }
}
