import Foundation

/// Models pulled with Ollama: `OLLAMA_MODELS` (default `~/.ollama/models`) holds
/// `manifests/<registry>/<namespace>/<name>/<tag>` (JSON, its `layers` naming blobs by digest) and
/// `blobs/sha256-<hex>`; the layer of media type `application/vnd.ollama.image.model` is a GGUF file.
public enum OllamaStore {
    public struct Entry: Sendable, Equatable {
        public var name: String      // as `ollama list` shows it: "qwen2:0.5b", "user/model:tag"
        public var model: URL        // the GGUF blob
    }

    public static func root(environment env: [String: String] = ProcessInfo.processInfo.environment) -> URL {
        if let dir = env["OLLAMA_MODELS"], !dir.isEmpty { return URL(fileURLWithPath: dir) }
        let home = env["HOME"] ?? NSHomeDirectory()
        return URL(fileURLWithPath: home).appendingPathComponent(".ollama/models")
    }

    /// The GGUF blob of `name` (`qwen2`, `qwen2:0.5b`, `library/qwen2:latest`,
    /// `registry.ollama.ai/library/qwen2:latest`), or nil.
    public static func find(_ name: String, environment env: [String: String] = ProcessInfo.processInfo.environment) -> URL? {
        guard !name.isEmpty, !name.hasPrefix("/"), !name.hasPrefix("."), !name.contains("..") else { return nil }
        var base = name, tag = "latest"
        if let colon = name.lastIndex(of: ":"), !name[colon...].contains("/") {
            base = String(name[..<colon])
            tag = String(name[name.index(after: colon)...])
        }
        var parts = base.split(separator: "/").map(String.init)
        if parts.count == 1 { parts.insert("library", at: 0) }
        if parts.count == 2 { parts.insert("registry.ollama.ai", at: 0) }
        guard parts.count == 3 else { return nil }
        let root = root(environment: env)
        let manifest = root.appendingPathComponent("manifests").appendingPathComponent(parts.joined(separator: "/"))
            .appendingPathComponent(tag)
        return modelBlob(manifest: manifest, root: root)
    }

    static func modelBlob(manifest: URL, root: URL) -> URL? {
        guard let data = try? Data(contentsOf: manifest),
              let json = try? JSONSerialization.jsonObject(with: data) as? [String: Any],
              let layers = json["layers"] as? [[String: Any]] else { return nil }
        for layer in layers where layer["mediaType"] as? String == "application/vnd.ollama.image.model" {
            guard let digest = layer["digest"] as? String, digest.hasPrefix("sha256:"),
                  digest.dropFirst(7).allSatisfy(\.isHexDigit) else { continue }
            let blob = root.appendingPathComponent("blobs/sha256-\(digest.dropFirst(7))")
            if FileManager.default.fileExists(atPath: blob.path) { return blob }
        }
        return nil
    }

    /// The vision projector of a pulled model, given its model blob: the blob of the layer of media type
    /// `application/vnd.ollama.image.projector` in the manifest whose model layer is `blob` (Ollama
    /// stores a vision model's llama.cpp mmproj file so), or nil.
    public static func projectorBlob(forModel blob: URL) -> URL? {
        let name = blob.lastPathComponent
        guard name.hasPrefix("sha256-"), blob.deletingLastPathComponent().lastPathComponent == "blobs" else { return nil }
        let root = blob.deletingLastPathComponent().deletingLastPathComponent()
        let digest = "sha256:" + name.dropFirst(7)
        guard let walker = FileManager.default.enumerator(at: root.appendingPathComponent("manifests"),
                                                          includingPropertiesForKeys: [.isRegularFileKey]) else { return nil }
        for case let url as URL in walker {
            guard (try? url.resourceValues(forKeys: [.isRegularFileKey]).isRegularFile) == true,
                  let data = try? Data(contentsOf: url),
                  let json = try? JSONSerialization.jsonObject(with: data) as? [String: Any],
                  let layers = json["layers"] as? [[String: Any]],
                  layers.contains(where: { $0["mediaType"] as? String == "application/vnd.ollama.image.model"
                                           && $0["digest"] as? String == digest }) else { continue }
            for layer in layers where layer["mediaType"] as? String == "application/vnd.ollama.image.projector" {
                guard let d = layer["digest"] as? String, d.hasPrefix("sha256:"), d.dropFirst(7).allSatisfy(\.isHexDigit) else { continue }
                let projector = root.appendingPathComponent("blobs/sha256-\(d.dropFirst(7))")
                if FileManager.default.fileExists(atPath: projector.path) { return projector }
            }
        }
        return nil
    }

    /// Every pulled model with a model layer present.
    public static func list(environment env: [String: String] = ProcessInfo.processInfo.environment) -> [Entry] {
        let root = root(environment: env)
        let manifests = root.appendingPathComponent("manifests")
        guard let walker = FileManager.default.enumerator(at: manifests, includingPropertiesForKeys: [.isRegularFileKey]) else { return [] }
        var found: [Entry] = []
        for case let url as URL in walker {
            guard (try? url.resourceValues(forKeys: [.isRegularFileKey]).isRegularFile) == true else { continue }
            let rel = url.path.dropFirst(manifests.path.count + 1).split(separator: "/").map(String.init)
            guard rel.count == 4, let blob = modelBlob(manifest: url, root: root) else { continue }
            let (registry, namespace, model, tag) = (rel[0], rel[1], rel[2], rel[3])
            var name = registry == "registry.ollama.ai" ? (namespace == "library" ? model : "\(namespace)/\(model)")
                                                         : "\(registry)/\(namespace)/\(model)"
            name += ":\(tag)"
            found.append(Entry(name: name, model: blob))
        }
        return found.sorted { $0.name < $1.name }
    }
}
