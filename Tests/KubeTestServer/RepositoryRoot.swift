import Foundation

/// The repository's root directory, for tests that read `deploy/` or `examples/`.
public let repositoryRoot = URL(fileURLWithPath: #filePath)
    .deletingLastPathComponent().deletingLastPathComponent().deletingLastPathComponent()
