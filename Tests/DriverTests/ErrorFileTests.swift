import Foundation
import KilnDriver
import KilnTestSupport
import XCTest

/// Hostile input through the `kiln` executable: every file of testdata/errors with the command and message
/// its expected.txt gives, and the cases a repository cannot hold (FIFOs, symbolic-link loops, huge sparse
/// files, output locations). Each must fail with a message that names the file, in words, within seconds,
/// and leave the output location exactly as it was.
final class ErrorFileTests: XCTestCase {
    private var scratch: URL!
    private var kiln: URL { KilnExecutable.url }
    private let errors = TestPaths.testdata.appendingPathComponent("errors")
    private let relu = TestPaths.fixtures.appendingPathComponent("act_relu_keras3_keras")

    override func setUpWithError() throws {
        scratch = FileManager.default.temporaryDirectory.appendingPathComponent("kiln-errors-\(UUID().uuidString)")
        try FileManager.default.createDirectory(at: scratch, withIntermediateDirectories: true)
        try XCTSkipUnless(FileManager.default.isExecutableFile(atPath: kiln.path), "build the kiln product first (swift build)")
    }

    override func tearDownWithError() throws {
        try? FileManager.default.removeItem(at: scratch)
    }

    // MARK: - testdata/errors

    func testEveryErrorFileFailsWithItsMessageAndWritesNothing() throws {
        let manifest = try String(contentsOf: errors.appendingPathComponent("expected.txt"), encoding: .utf8)
        var checked = 0
        for line in manifest.split(separator: "\n") where !line.hasPrefix("#") && !line.trimmingCharacters(in: .whitespaces).isEmpty {
            let fields = line.components(separatedBy: " | ")
            XCTAssertEqual(fields.count, 3, "expected.txt: '\(line)' is not FILE | COMMAND | EXPECTED")
            guard fields.count == 3 else { continue }
            let (file, command, expected) = (fields[0], fields[1], fields[2])
            let out = try outputLocation(named: "out-\(checked)")
            let arguments = command.split(separator: " ").map {
                $0.replacingOccurrences(of: "{file}", with: errors.appendingPathComponent(file).path)
                    .replacingOccurrences(of: "{out}", with: out.path)
                    .replacingOccurrences(of: "{keras}", with: relu.appendingPathComponent("model.keras").path)
                    .replacingOccurrences(of: "{input}", with: relu.appendingPathComponent("inputs/input.npy").path)
            }
            if expected == "ok" {
                let result = try run(arguments)
                XCTAssertEqual(result.status, 0, "\(file): \(result.stderr)")
            } else {
                try assertRefused(arguments, mentioning: expected, leaving: out, context: file)
            }
            checked += 1
        }
        XCTAssertGreaterThanOrEqual(checked, 25, "expected.txt lost its cases")
    }

    // MARK: - Files a repository cannot hold

    func testAFIFOIsRefusedWithoutWaitingForAWriter() throws {
        let fifo = scratch.appendingPathComponent("model.h5")
        XCTAssertEqual(mkfifo(fifo.path, 0o600), 0)
        let out = try outputLocation(named: "out")
        try assertRefused(
            ["convert", fifo.path, "-o", out.path], mentioning: "model.h5: is a named pipe (FIFO), not a regular file", leaving: out)
        let kir = scratch.appendingPathComponent("pipe.kir")
        XCTAssertEqual(mkfifo(kir.path, 0o600), 0)
        try assertRefused(["inspect", kir.path], mentioning: "pipe.kir: is a named pipe (FIFO)", leaving: out)
        try assertRefused(
            ["run", relu.appendingPathComponent("model.keras").path, "--input", kir.path, "-o", out.path],
            mentioning: "pipe.kir: is a named pipe (FIFO)",
            leaving: out)
    }

    func testASymbolicLinkLoopIsCalledALoop() throws {
        let loop = scratch.appendingPathComponent("loop.h5")
        try FileManager.default.createSymbolicLink(atPath: loop.path, withDestinationPath: "loop.h5")
        try assertRefused(["inspect", loop.path], mentioning: "loop.h5: the path is a loop of symbolic links", leaving: nil)
    }

    func testADirectoryNamedLikeAModelIsCalledADirectory() throws {
        let directory = scratch.appendingPathComponent("model.kir")
        try FileManager.default.createDirectory(at: directory, withIntermediateDirectories: true)
        try assertRefused(["inspect", directory.path], mentioning: "model.kir: is a directory, not a .kir file", leaving: nil)
    }

    /// 3 GiB sparse files (no disk used): refused from their headers and sizes, without reading them whole.
    func testHugeFilesAreRefusedBeforeTheyAreRead() throws {
        let gigabytes3: UInt64 = 3 << 30
        let npy = scratch.appendingPathComponent("huge.npy")
        try Data(NPY.encode(.init(shape: [1, 8], floats: Array(repeating: 0, count: 8)))).write(to: npy)
        try extend(npy, to: gigabytes3)
        let out = try outputLocation(named: "out")
        try assertRefused(
            ["run", relu.appendingPathComponent("model.keras").path, "--input", npy.path, "-o", out.path],
            mentioning: "bytes after the 32 its shape [1, 8] of <f4 needs",
            leaving: out)

        let zip = scratch.appendingPathComponent("huge.kir")
        try Data("PK\u{3}\u{4}".utf8).write(to: zip)
        try extend(zip, to: gigabytes3)
        try assertRefused(["inspect", zip.path], mentioning: "huge.kir: not a Kiln IR file", leaving: nil)

        let kir = scratch.appendingPathComponent("large.kir")
        try Data("graph @g {\n".utf8).write(to: kir)
        try extend(kir, to: gigabytes3)
        try assertRefused(
            ["inspect", kir.path, "--max-memory", "1G"],
            mentioning: "large.kir: is 3.0 GiB and reading it needs 3.0 GiB, more than the memory limit of 1.0 GiB",
            leaving: nil)
    }

    func testMaxMemoryBoundsWhatAModelMayTake() throws {
        let model = relu.appendingPathComponent("model.keras").path
        XCTAssertEqual(try run(["inspect", model, "--max-memory", "64M"]).status, 0)
        try assertRefused(
            ["inspect", model, "--max-memory", "16K"],
            mentioning: "model.weights.h5 declares 9.7 KiB uncompressed, and reading it needs 19 KiB", leaving: nil)
        try assertRefused(["inspect", model, "--max-memory", "lots"], mentioning: "--max-memory takes a size such as 4G", leaving: nil)
        try assertRefused(
            ["verify", errors.appendingPathComponent("colliding_outputs.kir").path, "--batch", "100000", "--max-memory", "1M"],
            mentioning: "at batch size 100000 is [100000, 8] and needs 3.1 MiB, more than the memory limit of 1.0 MiB", leaving: nil)
    }

    // MARK: - Output locations

    func testOptNeverReplacesADirectory() throws {
        let out = try outputLocation(named: "existing")
        try assertRefused(
            ["opt", relu.appendingPathComponent("model.keras").path, "-o", out.path], mentioning: "-o \(out.path) is a directory",
            leaving: out)
        try assertRefused(
            ["opt", relu.appendingPathComponent("model.keras").path, "-o", out.path + "/"], mentioning: "is a directory", leaving: out)
    }

    /// A name Kiln would write that exists as a directory stops the command before anything is written:
    /// the earlier file of another name is kept as it was.
    func testConvertNeverReplacesADirectoryAndKeepsEarlierFiles() throws {
        let out = try outputLocation(named: "out")
        try Data("earlier".utf8).write(to: out.appendingPathComponent("model.kir"))
        try FileManager.default.createDirectory(at: out.appendingPathComponent("model.onnx"), withIntermediateDirectories: true)
        try Data("mine".utf8).write(to: out.appendingPathComponent("model.onnx/notes.txt"))
        try assertRefused(
            ["convert", relu.appendingPathComponent("model.keras").path, "-o", out.path, "--emit", "kir,onnx"],
            mentioning: "model.onnx: exists and is a directory; Kiln replaces only regular files", leaving: out)
    }

    func testConvertReplacesItsOwnFilesAndLeavesNoTemporaries() throws {
        let out = scratch.appendingPathComponent("twice")
        let model = relu.appendingPathComponent("model.keras").path
        for _ in 0..<2 {
            let result = try run(["convert", model, "-o", out.path, "--emit", "onnx,kir", "--name", "relu"])
            XCTAssertEqual(result.status, 0, result.stderr)
        }
        XCTAssertEqual(
            try FileManager.default.contentsOfDirectory(atPath: out.path).sorted(), ["relu.kir", "relu.kir.weights", "relu.onnx"])
    }

    func testOutputsWithOneFileNameGetDistinctFiles() throws {
        let out = scratch.appendingPathComponent("run")
        let result = try run([
            "run", errors.appendingPathComponent("colliding_outputs.kir").path, "--input",
            relu.appendingPathComponent("inputs/input.npy").path, "-o", out.path,
        ])
        XCTAssertEqual(result.status, 0, result.stderr)
        XCTAssertEqual(try FileManager.default.contentsOfDirectory(atPath: out.path).sorted(), ["x_y.npy", "x_y_2.npy"])
        // x_y keeps its own name; x/y (Relu, never negative) gets the suffix.
        XCTAssertTrue(try NPY.read(contentsOf: out.appendingPathComponent("x_y_2.npy")).floats.allSatisfy { $0 >= 0 })
        XCTAssertTrue(try NPY.read(contentsOf: out.appendingPathComponent("x_y.npy")).floats.allSatisfy { $0 > 0 && $0 < 1 })
        XCTAssertEqual(
            OutputFiles.fileNames(for: ["x/y", "x_y", "X_Y", "a"]),
            ["x_y": "x_y.npy", "X_Y": "X_Y_2.npy", "a": "a.npy", "x/y": "x_y_3.npy"])
    }

    func testOptionValuesThatWouldMisplaceOrLoseOutput() throws {
        let model = relu.appendingPathComponent("model.keras").path
        let out = try outputLocation(named: "out")
        let cases: [([String], String)] = [
            (["convert", model, "-o", out.path, "--name", "../../escaped"], "--name '../../escaped' holds a path separator"),
            (["convert", model, "-o", out.path, "--name", ""], "--name '' is empty"),
            (["convert", model, "-o", out.path, "--name", String(repeating: "n", count: 240)], "bytes long; Kiln takes at most 200"),
            (["convert", model, "-o", out.path, "--emit", ""], "--emit names no kind"),
            (["convert", model, "-o", out.path, "--emit", ","], "--emit names no kind"),
            (["merge", model, model + "x", "-o", out.path, "--name", "a/b"], "--name 'a/b' holds a path separator"),
            (["verify", model, "--batch", "0"], "--batch must be at least 1, not 0"),
            (["verify", model, "--batch=-1"], "--batch must be at least 1, not -1"),
        ]
        for (arguments, message) in cases { try assertRefused(arguments, mentioning: message, leaving: out) }
    }

    func testVerifyComparesOutputsWhoseNamesShareAFileName() throws {
        // x/y and x_y: the compiled executor writes its outputs by position, so neither overwrites the other.
        let result = try run(["verify", errors.appendingPathComponent("colliding_outputs.kir").path])
        XCTAssertEqual(result.status, 0, result.stdout + result.stderr)
        let rows = result.stdout.split(separator: "\n").filter { $0.hasPrefix("swift") }
        XCTAssertEqual(rows.count, 2, result.stdout)
        XCTAssertTrue(rows.allSatisfy { $0.hasSuffix("yes") }, result.stdout)
    }

    func testAFailedConvertLeavesNoQuantizationReport() throws {
        let model = relu.appendingPathComponent("model.keras").path
        let out = try outputLocation(named: "out")
        try FileManager.default.createDirectory(at: out.appendingPathComponent("relu.onnx"), withIntermediateDirectories: false)
        let reports = try outputLocation(named: "reports")
        try Data("earlier".utf8).write(to: reports.appendingPathComponent("report.json"))
        // An earlier report, a new one beside other files, and one in a directory the command would create.
        for report in ["reports/report.json", "reports/new.json", "new/report.json"] {
            try assertRefused(
                [
                    "convert", model, "-o", out.path, "--name", "relu", "--emit", "onnx", "--quantize", "dynamic", "--report",
                    scratch.appendingPathComponent(report).path,
                ], mentioning: "relu.onnx: exists and is a directory", leaving: nil, context: report)
        }
    }

    // MARK: - Helpers

    /// A directory holding one file, standing for output a user already has.
    private func outputLocation(named name: String) throws -> URL {
        let out = scratch.appendingPathComponent(name)
        try FileManager.default.createDirectory(at: out, withIntermediateDirectories: true)
        try Data("kept".utf8).write(to: out.appendingPathComponent("keep.txt"))
        return out
    }

    /// Runs kiln and checks that it fails, says `message`, and leaves `location` (and the scratch directory
    /// around it) exactly as it was.
    private func assertRefused(
        _ arguments: [String], mentioning message: String, leaving location: URL?, context: String = "", file: StaticString = #filePath,
        line: UInt = #line
    ) throws {
        let before = try snapshot(scratch)
        let result = try run(arguments)
        let label = context.isEmpty ? arguments.joined(separator: " ") : context
        XCTAssertNotEqual(result.status, 0, "\(label) should fail", file: file, line: line)
        XCTAssertTrue(
            result.stderr.contains(message), "\(label): stderr \(result.stderr) should mention \(message)", file: file, line: line)
        for leak in ["NSCocoaErrorDomain", "Error Domain", "The operation could not be completed"] {
            XCTAssertFalse(result.stderr.contains(leak), "\(label): \(result.stderr)", file: file, line: line)
        }
        XCTAssertEqual(try snapshot(scratch), before, "\(label) changed what was on disk", file: file, line: line)
    }

    /// Every path under `root` with its kind and, for a regular file, its bytes.
    private func snapshot(_ root: URL) throws -> [String: Data?] {
        var result: [String: Data?] = [:]
        guard let walker = FileManager.default.enumerator(atPath: root.path) else { return result }
        for case let relative as String in walker {
            let path = root.appendingPathComponent(relative).path
            let type = (try FileManager.default.attributesOfItem(atPath: path))[.type] as? FileAttributeType
            result[relative] =
                type == .typeRegular && ((try? FileManager.default.attributesOfItem(atPath: path)[.size] as? Int) ?? 0) < 1 << 20
                ? try Data(contentsOf: URL(fileURLWithPath: path)) : Data("\(type?.rawValue ?? "?")".utf8)
        }
        return result
    }

    private func extend(_ url: URL, to size: UInt64) throws {
        let handle = try FileHandle(forWritingTo: url)
        try handle.truncate(atOffset: size)
        try handle.close()
    }

    /// Runs kiln, killing it after 60 seconds (a hang is a failure, not a stuck test run).
    private func run(_ arguments: [String]) throws -> (status: Int32, stdout: String, stderr: String) {
        let process = Process()
        process.executableURL = kiln
        process.arguments = arguments
        let io = FileManager.default.temporaryDirectory
        let out = io.appendingPathComponent("kiln-stdout-\(UUID().uuidString)"),
            err = io.appendingPathComponent("kiln-stderr-\(UUID().uuidString)")
        _ = FileManager.default.createFile(atPath: out.path, contents: nil)
        _ = FileManager.default.createFile(atPath: err.path, contents: nil)
        defer {
            try? FileManager.default.removeItem(at: out)
            try? FileManager.default.removeItem(at: err)
        }
        process.standardOutput = try FileHandle(forWritingTo: out)
        process.standardError = try FileHandle(forWritingTo: err)
        try process.run()
        let deadline = Date().addingTimeInterval(60)
        while process.isRunning && Date() < deadline { Thread.sleep(forTimeInterval: 0.02) }
        if process.isRunning {
            process.terminate()
            process.waitUntilExit()
            XCTFail("kiln \(arguments.joined(separator: " ")) did not finish in 60 seconds")
        }
        process.waitUntilExit()
        return (process.terminationStatus, try String(contentsOf: out, encoding: .utf8), try String(contentsOf: err, encoding: .utf8))
    }
}
