import Foundation

/// Paths into the repository for tests.
public enum TestPaths {
    /// The repository root, found from this file's path.
    public static let root: URL = URL(fileURLWithPath: #filePath).deletingLastPathComponent().deletingLastPathComponent()
        .deletingLastPathComponent()
    public static let testdata = root.appendingPathComponent("testdata")
    public static let fixtures = testdata.appendingPathComponent("fixtures")
}

/// Slots filled from concurrent work, read after it finishes.
public final class ConcurrentResults<T>: @unchecked Sendable {
    private let lock = NSLock()
    private var storage: [T?]

    public init(count: Int) { storage = Array(repeating: nil, count: count) }

    public subscript(index: Int) -> T? {
        get { lock.withLock { storage[index] } }
        set { lock.withLock { storage[index] = newValue } }
    }

    public var values: [T?] { lock.withLock { storage } }
}
