import Foundation

/// The `kiln` executable the command-line tests run.
public enum KilnExecutable {
    /// `$KILN_BINARY`, or the one `swift build` placed beside the test bundle (or in .build/debug).
    public static var url: URL {
        if let explicit = ProcessInfo.processInfo.environment["KILN_BINARY"] { return URL(fileURLWithPath: explicit) }
        let candidates =
            Bundle.allBundles.map { $0.bundleURL.deletingLastPathComponent() } + [TestPaths.root.appendingPathComponent(".build/debug")]
        return candidates.map { $0.appendingPathComponent("kiln") }.first { FileManager.default.isExecutableFile(atPath: $0.path) }
            ?? candidates[0].appendingPathComponent("kiln")
    }
}
