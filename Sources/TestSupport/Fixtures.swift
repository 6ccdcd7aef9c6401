import Foundation

/// Where the committed fixtures live: `Tests/Fixtures` in the checkout. Found from this file's path so
/// tests need no resource bundles (copying model directories into bundles would slow every build).
public enum Fixtures {
    public static let root: URL = {
        URL(fileURLWithPath: #filePath)          // Sources/TestSupport/Fixtures.swift
            .deletingLastPathComponent()          // Sources/TestSupport
            .deletingLastPathComponent()          // Sources
            .deletingLastPathComponent()          // repo root
            .appendingPathComponent("Tests/Fixtures", isDirectory: true)
    }()

    /// The repository root (for tests that run the built binary).
    public static var repoRoot: URL { root.deletingLastPathComponent().deletingLastPathComponent() }

    public static func url(_ relative: String) -> URL { root.appendingPathComponent(relative) }

    /// Parses a JSON fixture into Foundation objects.
    public static func json(_ relative: String) throws -> Any {
        let data = try Data(contentsOf: url(relative))
        return try JSONSerialization.jsonObject(with: data, options: [.fragmentsAllowed])
    }

    /// Decodes a JSON fixture into a Decodable type.
    public static func decode<T: Decodable>(_ type: T.Type, _ relative: String) throws -> T {
        try JSONDecoder().decode(T.self, from: Data(contentsOf: url(relative)))
    }

    /// A fresh empty temporary directory, removed by the caller when wanted.
    public static func temporaryDirectory(_ prefix: String = "squint-test") throws -> URL {
        let dir = FileManager.default.temporaryDirectory
            .appendingPathComponent("\(prefix)-\(UUID().uuidString)", isDirectory: true)
        try FileManager.default.createDirectory(at: dir, withIntermediateDirectories: true)
        return dir
    }
}
