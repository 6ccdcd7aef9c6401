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

extension ModelLocatorTests {
    /// An Ollama store as `ollama pull` leaves it: a manifest naming a model layer by digest, the blob a
    /// GGUF file. `--model qwen2:0.5b` resolves to the blob and loads.
    func testResolvesOllamaModelNames() throws {
        let root = try Fixtures.temporaryDirectory("ollama")
        defer { try? FileManager.default.removeItem(at: root) }
        let gguf = Fixtures.url("gguf-models/qwen2-f32.gguf")
        try XCTSkipUnless(FileManager.default.fileExists(atPath: gguf.path))
        let digest = String(repeating: "ab", count: 32)
        try FileManager.default.createDirectory(at: root.appendingPathComponent("blobs"), withIntermediateDirectories: true)
        try FileManager.default.copyItem(at: gguf, to: root.appendingPathComponent("blobs/sha256-\(digest)"))
        let manifestDir = root.appendingPathComponent("manifests/registry.ollama.ai/library/tinyqwen")
        try FileManager.default.createDirectory(at: manifestDir, withIntermediateDirectories: true)
        let manifest = """
        {"schemaVersion":2,"layers":[{"mediaType":"application/vnd.ollama.image.license","digest":"sha256:\(String(repeating: "cd", count: 32))"},
        {"mediaType":"application/vnd.ollama.image.model","digest":"sha256:\(digest)","size":1}]}
        """
        try manifest.write(to: manifestDir.appendingPathComponent("0.5b"), atomically: true, encoding: .utf8)
        let env = ["OLLAMA_MODELS": root.path, "HF_HUB_CACHE": root.appendingPathComponent("none").path]
        let url = try ModelLocator.resolve("tinyqwen:0.5b", environment: env)
        XCTAssertEqual(url.lastPathComponent, "sha256-\(digest)")
        XCTAssertEqual(OllamaStore.list(environment: env).map(\.name), ["tinyqwen:0.5b"])
        XCTAssertNil(OllamaStore.find("tinyqwen", environment: env), "tag latest is not pulled")
        XCTAssertNil(OllamaStore.find("../../etc:passwd", environment: env))
        let model = try LoadedModel(directory: url)
        XCTAssertEqual(model.modelType, "qwen2")
    }
}

extension ModelLocatorTests {
    /// A vision model pulled with Ollama: its manifest has a model layer (the text GGUF) and a projector
    /// layer (llama.cpp's mmproj file); `--model qwen2vl-tiny` loads both.
    func testOllamaVisionModelFindsItsProjector() throws {
        let root = try Fixtures.temporaryDirectory("ollama-vl")
        defer { try? FileManager.default.removeItem(at: root) }
        let (text, projector) = (String(repeating: "12", count: 32), String(repeating: "34", count: 32))
        try FileManager.default.createDirectory(at: root.appendingPathComponent("blobs"), withIntermediateDirectories: true)
        try FileManager.default.copyItem(at: Fixtures.url("gguf-vl/qwen2-vl-f32.gguf"), to: root.appendingPathComponent("blobs/sha256-\(text)"))
        try FileManager.default.copyItem(at: Fixtures.url("gguf-vl/mmproj-qwen2-vl-f32.gguf"),
                                        to: root.appendingPathComponent("blobs/sha256-\(projector)"))
        let manifestDir = root.appendingPathComponent("manifests/registry.ollama.ai/library/qwen2vl-tiny")
        try FileManager.default.createDirectory(at: manifestDir, withIntermediateDirectories: true)
        try """
        {"schemaVersion":2,"layers":[{"mediaType":"application/vnd.ollama.image.model","digest":"sha256:\(text)","size":1},
        {"mediaType":"application/vnd.ollama.image.projector","digest":"sha256:\(projector)","size":1}]}
        """.write(to: manifestDir.appendingPathComponent("latest"), atomically: true, encoding: .utf8)
        let env = ["OLLAMA_MODELS": root.path, "HF_HUB_CACHE": root.appendingPathComponent("none").path]
        let url = try ModelLocator.resolve("qwen2vl-tiny", environment: env)
        XCTAssertEqual(try ModelLocator.mmproj(beside: url)?.lastPathComponent, "sha256-\(projector)")
        let model = try LoadedModel(directory: url)
        XCTAssertNotNil(model.vision)
        XCTAssertEqual(model.mmproj?.lastPathComponent, "sha256-\(projector)")
        // Another blob in the same folder is not taken for a projector.
        XCTAssertNil(OllamaStore.projectorBlob(forModel: root.appendingPathComponent("blobs/sha256-\(projector)")))
    }
}
