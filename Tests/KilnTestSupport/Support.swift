import Foundation

/// Paths into the repository for tests.
public enum TestPaths {
    /// The repository root, found from this file's path.
    public static let root: URL = URL(fileURLWithPath: #filePath).deletingLastPathComponent().deletingLastPathComponent()
        .deletingLastPathComponent()
    public static let testdata = root.appendingPathComponent("testdata")
    public static let fixtures = testdata.appendingPathComponent("fixtures")
}
