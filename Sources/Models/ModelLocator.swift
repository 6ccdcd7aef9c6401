import Foundation
import ModelFormats

/// Finds a model from what a user types after `--model`: a directory, a `.gguf` file, or a Hugging Face repo id
/// (`Qwen/Qwen2-VL-2B-Instruct`) already in the local hub cache (`HF_HUB_CACHE`, else `HF_HOME/hub`,
/// else `~/.cache/huggingface/hub`, the same lookup as huggingface_hub).
public enum ModelLocator {
    public struct CachedModel: Sendable, Equatable {
        public var repoID: String
        public var directory: URL
    }

    public enum LocatorError: Error, CustomStringConvertible, Equatable {
        case notFound(spec: String, searched: [String])
        case ambiguousMmproj(model: String, candidates: [String])
        public var description: String {
            switch self {
            case let .ambiguousMmproj(model, candidates):
                "several mmproj files beside \(model) (\(candidates.joined(separator: ", "))): choose one with --mmproj FILE"
            case let .notFound(spec, searched):
                "no model at '\(spec)': not a directory or GGUF file, and not in the Hugging Face cache or the Ollama store (looked in \(searched.joined(separator: ", ")))"
            }
        }
    }

    /// The hub cache folders to search, in order.
    public static func hubCaches(environment env: [String: String] = ProcessInfo.processInfo.environment) -> [URL] {
        if let cache = env["HF_HUB_CACHE"], !cache.isEmpty { return [URL(fileURLWithPath: cache)] }
        if let home = env["HF_HOME"], !home.isEmpty { return [URL(fileURLWithPath: home).appendingPathComponent("hub")] }
        let home = env["HOME"] ?? NSHomeDirectory()
        let xdg = env["XDG_CACHE_HOME"].map { URL(fileURLWithPath: $0) }
            ?? URL(fileURLWithPath: home).appendingPathComponent(".cache")
        return [xdg.appendingPathComponent("huggingface/hub")]
    }

    public static func resolve(_ spec: String,
                               environment env: [String: String] = ProcessInfo.processInfo.environment) throws -> URL {
        let expanded = (spec as NSString).expandingTildeInPath
        var isDir: ObjCBool = false
        if FileManager.default.fileExists(atPath: expanded, isDirectory: &isDir) {
            // A directory, or a single-file model (GGUF, recognised by its magic rather than its name).
            if isDir.boolValue || GGUFFile.hasMagic(path: expanded) { return URL(fileURLWithPath: expanded) }
        }
        let caches = hubCaches(environment: env)
        let parts = spec.split(separator: "/")
        if parts.count == 2, !spec.hasPrefix("."), !spec.hasPrefix("/") {
            for cache in caches {
                if let dir = snapshot(repo: "models--\(parts[0])--\(parts[1])", in: cache) { return dir }
            }
        }
        // An Ollama model name ("qwen2:0.5b"): its GGUF blob.
        if let blob = OllamaStore.find(spec, environment: env) { return blob }
        throw LocatorError.notFound(spec: spec, searched: caches.map(\.path) + [OllamaStore.root(environment: env).path])
    }

    /// The llama.cpp `mmproj` file that goes with the GGUF model `model`, as llama.cpp, LM Studio and
    /// Ollama exports lay them out: a `.gguf` file in the same folder whose name contains "mmproj"
    /// (any case). With several, the one whose name, without "mmproj" and separators, shares the longest
    /// prefix with the model's name (`mmproj-Qwen2-VL-2B-f16.gguf` for `Qwen2-VL-2B-Q4_K_M.gguf`); a tie
    /// is an error naming them, to be settled with `--mmproj`. nil: none there.
    public static func mmproj(beside model: URL) throws -> URL? {
        // An Ollama blob: its manifest's projector layer, not files beside it (every blob lies there).
        if model.deletingLastPathComponent().lastPathComponent == "blobs", model.lastPathComponent.hasPrefix("sha256-") {
            return OllamaStore.projectorBlob(forModel: model)
        }
        let dir = model.deletingLastPathComponent()
        let entries = (try? FileManager.default.contentsOfDirectory(atPath: dir.path)) ?? []
        let candidates = entries.filter {
            $0.lowercased().contains("mmproj") && $0.lowercased().hasSuffix(".gguf") && $0 != model.lastPathComponent
        }.sorted()
        guard candidates.count > 1 else { return candidates.first.map { dir.appendingPathComponent($0) } }
        func key(_ name: String) -> [Character] {
            var s = name.lowercased()
            if s.hasSuffix(".gguf") { s.removeLast(5) }
            s = s.replacingOccurrences(of: "mmproj", with: "")
            return Array(s.drop { "-_. ".contains($0) })
        }
        let target = key(model.lastPathComponent)
        func shared(_ name: String) -> Int { zip(key(name), target).prefix { $0 == $1 }.count }
        let best = candidates.map(shared).max() ?? 0
        let winners = candidates.filter { shared($0) == best }
        guard winners.count == 1 else {
            throw LocatorError.ambiguousMmproj(model: model.path, candidates: winners)
        }
        return dir.appendingPathComponent(winners[0])
    }

    /// The snapshot `refs/main` points at, else the most recently modified snapshot that has a config.
    static func snapshot(repo: String, in cache: URL) -> URL? {
        let root = cache.appendingPathComponent(repo)
        let snapshots = root.appendingPathComponent("snapshots")
        if let ref = try? String(contentsOf: root.appendingPathComponent("refs/main"), encoding: .utf8) {
            let dir = snapshots.appendingPathComponent(ref.trimmingCharacters(in: .whitespacesAndNewlines))
            if FileManager.default.fileExists(atPath: dir.appendingPathComponent("config.json").path) { return dir }
        }
        let fm = FileManager.default
        let candidates = ((try? fm.contentsOfDirectory(at: snapshots, includingPropertiesForKeys: [.contentModificationDateKey])) ?? [])
            .filter { fm.fileExists(atPath: $0.appendingPathComponent("config.json").path) }
        return candidates.max { a, b in
            let da = (try? a.resourceValues(forKeys: [.contentModificationDateKey]).contentModificationDate) ?? .distantPast
            let db = (try? b.resourceValues(forKeys: [.contentModificationDateKey]).contentModificationDate) ?? .distantPast
            return da < db
        }
    }

    /// Every model in the hub caches that has a config.json.
    public static func cachedModels(environment env: [String: String] = ProcessInfo.processInfo.environment) -> [CachedModel] {
        var found: [CachedModel] = []
        for cache in hubCaches(environment: env) {
            let entries = (try? FileManager.default.contentsOfDirectory(atPath: cache.path)) ?? []
            for entry in entries.sorted() where entry.hasPrefix("models--") {
                let name = entry.dropFirst("models--".count).replacingOccurrences(of: "--", with: "/")
                if let dir = snapshot(repo: entry, in: cache) { found.append(CachedModel(repoID: name, directory: dir)) }
            }
        }
        return found
    }
}
