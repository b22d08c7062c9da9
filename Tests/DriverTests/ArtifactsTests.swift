import Foundation
import XCTest

@testable import KilnDriver

/// `Artifacts.write` undoes a write that fails part way: earlier files restored, new ones and the
/// directories it made removed, no temporaries or backups left.
final class ArtifactsTests: XCTestCase {
    private var scratch: URL!

    override func setUpWithError() throws {
        scratch = FileManager.default.temporaryDirectory.appendingPathComponent("kiln-artifacts-\(UUID().uuidString)")
        try FileManager.default.createDirectory(at: scratch, withIntermediateDirectories: true)
    }

    override func tearDownWithError() throws {
        try? FileManager.default.removeItem(at: scratch)
    }

    private func artifacts(failingAfter index: Int?) -> Artifacts {
        var artifacts = Artifacts()
        artifacts.add("a.onnx", Array("new a".utf8))
        artifacts.add("b.kir", text: "new b")
        artifacts.add("c.kir.weights", Array("new c".utf8))
        artifacts.failAfterPlacing = index
        return artifacts
    }

    private func contents(_ directory: URL) throws -> [String: String] {
        var result: [String: String] = [:]
        for name in try FileManager.default.contentsOfDirectory(atPath: directory.path) {
            result[name] = try String(contentsOf: directory.appendingPathComponent(name), encoding: .utf8)
        }
        return result
    }

    func testAFailureAfterReplacingFilesRestoresThem() throws {
        try Data("old a".utf8).write(to: scratch.appendingPathComponent("a.onnx"))
        try Data("old b".utf8).write(to: scratch.appendingPathComponent("b.kir"))
        try Data("mine".utf8).write(to: scratch.appendingPathComponent("notes.txt"))
        let before = try contents(scratch)
        for index in 0..<3 {
            XCTAssertThrowsError(try artifacts(failingAfter: index).write(to: scratch))
            XCTAssertEqual(try contents(scratch), before, "after placing file \(index)")
        }
        try artifacts(failingAfter: nil).write(to: scratch)
        XCTAssertEqual(try contents(scratch), ["a.onnx": "new a", "b.kir": "new b", "c.kir.weights": "new c", "notes.txt": "mine"])
    }

    func testAFailureRemovesTheDirectoriesItMade() throws {
        XCTAssertThrowsError(try artifacts(failingAfter: 1).write(to: scratch.appendingPathComponent("new/deeper/out")))
        XCTAssertEqual(try FileManager.default.contentsOfDirectory(atPath: scratch.path), [])
    }

    func testTwoFilesOfOneNameAreRefused() throws {
        var artifacts = Artifacts()
        artifacts.add("x.npy", [1])
        artifacts.add("X.npy", [2])
        XCTAssertThrowsError(try artifacts.write(to: scratch)) { error in
            XCTAssertTrue("\(error)".contains("two outputs would be written to this one file"), "\(error)")
        }
        XCTAssertEqual(try FileManager.default.contentsOfDirectory(atPath: scratch.path), [])
    }

    func testBaseNames() throws {
        for bad in ["", ".", "..", "a/b", "../x", ".hidden", String(repeating: "n", count: 201)] {
            XCTAssertThrowsError(try Artifacts.checkBaseName(bad), bad)
        }
        for good in ["model", "my-model_2", "résumé", String(repeating: "n", count: 200)] {
            XCTAssertNoThrow(try Artifacts.checkBaseName(good), good)
        }
    }
}
