import Foundation
import XCTest
@testable import Models
import TestSupport

final class ModelLocatorTests: XCTestCase {
    /// Lays out a hub cache as huggingface_hub does: models--ORG--NAME/{refs/main, snapshots/REV/...}.
    static func makeCache(_ root: URL, repo: String, revision: String = "abc123", from source: URL) throws -> URL {
        let entry = root.appendingPathComponent("models--" + repo.replacingOccurrences(of: "/", with: "--"))
        let snap = entry.appendingPathComponent("snapshots/\(revision)")
        try FileManager.default.createDirectory(at: snap, withIntermediateDirectories: true)
        try FileManager.default.createDirectory(at: entry.appendingPathComponent("refs"), withIntermediateDirectories: true)
        try revision.write(to: entry.appendingPathComponent("refs/main"), atomically: true, encoding: .utf8)
        for file in try FileManager.default.contentsOfDirectory(atPath: source.path) {
            // The hub stores files as links into blobs/; a symlink is what a real cache has.
            try FileManager.default.createSymbolicLink(at: snap.appendingPathComponent(file),
                                                       withDestinationURL: source.appendingPathComponent(file))
        }
        return snap
    }

    func testResolvesDirectoriesAndCachedRepoIDs() throws {
        let root = try Fixtures.temporaryDirectory("hub")
        defer { try? FileManager.default.removeItem(at: root) }
        let source = Fixtures.url("models/qwen2-v4")
        let snap = try Self.makeCache(root, repo: "Squint/Tiny-Qwen2", from: source)
        let env = ["HF_HUB_CACHE": root.path, "HOME": "/nonexistent"]
        XCTAssertEqual(try ModelLocator.resolve(source.path, environment: env), source)
        XCTAssertEqual(try ModelLocator.resolve("Squint/Tiny-Qwen2", environment: env).standardized.path, snap.standardized.path)
        XCTAssertEqual(ModelLocator.cachedModels(environment: env).map(\.repoID), ["Squint/Tiny-Qwen2"])
        // HF_HOME/hub is used when HF_HUB_CACHE is not set.
        XCTAssertEqual(ModelLocator.hubCaches(environment: ["HF_HOME": "/x"]).map(\.path), ["/x/hub"])
        XCTAssertThrowsError(try ModelLocator.resolve("Nobody/Nothing", environment: env)) { error in
            XCTAssertTrue("\(error)".contains(root.path), "\(error)")
        }
        // A model loads through its cache id.
        let model = try LoadedModel(directory: ModelLocator.resolve("Squint/Tiny-Qwen2", environment: env))
        XCTAssertEqual(model.modelType, "qwen2")
    }
}
