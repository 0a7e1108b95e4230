import Foundation

/// The repository's root directory, for tests that read `deploy/` or `examples/`.
public let repositoryRoot = URL(fileURLWithPath: #filePath)
    .deletingLastPathComponent().deletingLastPathComponent().deletingLastPathComponent()

/// A product built next to the running test bundle (`.build/<config>/<name>`).
public func builtProduct(_ name: String) throws -> URL {
    let bundle = URL(fileURLWithPath: try FileManager.default.destinationOfSymbolicLink(atPath: "/proc/self/exe"))
    let binary = bundle.deletingLastPathComponent().appendingPathComponent(name)
    guard FileManager.default.isExecutableFile(atPath: binary.path) else {
        throw ProductNotBuilt(path: binary.path)
    }
    return binary
}

/// A test needs a product that was not built.
public struct ProductNotBuilt: Error, CustomStringConvertible {
    public var path: String
    public var description: String { "\(path) is missing: build all products first (swift build --build-tests)" }
}
