import Foundation
import Sampling

/// Defaults for `squint chat` from `$XDG_CONFIG_HOME/squint/chat.json` (default `~/.config/...`);
/// every key optional. Command-line flags win over it.
///
///     { "model": "/models/Qwen2-VL-2B-Instruct", "theme": "light", "maxTokens": 1024,
///       "sampling": { "temperature": 0.7, "topK": 20 } }
///
/// `mmproj` goes with `model` (a GGUF file): the vision projector to load with it, as `--mmproj`.
public struct ChatConfig: Sendable, Codable, Equatable {
    public var model: String?
    /// The llama.cpp mmproj file for `model`; used only when the model opened is that one.
    public var mmproj: String?
    public var theme: String?
    public var maxTokens: Int?
    public var sampling: SamplerSettings?

    public init(model: String? = nil, mmproj: String? = nil, theme: String? = nil, maxTokens: Int? = nil,
                sampling: SamplerSettings? = nil) {
        self.model = model
        self.mmproj = mmproj
        self.theme = theme
        self.maxTokens = maxTokens
        self.sampling = sampling
    }

    public static func defaultURL(environment: [String: String] = ProcessInfo.processInfo.environment) -> URL {
        let base: URL
        if let xdg = environment["XDG_CONFIG_HOME"], xdg.hasPrefix("/") {
            base = URL(fileURLWithPath: xdg, isDirectory: true)
        } else {
            base = URL(fileURLWithPath: environment["HOME"] ?? NSHomeDirectory(), isDirectory: true)
                .appendingPathComponent(".config", isDirectory: true)
        }
        return base.appendingPathComponent("squint/chat.json")
    }

    /// The config at `url`, or an empty one when there is no file.
    public static func load(_ url: URL) throws -> ChatConfig {
        guard FileManager.default.fileExists(atPath: url.path) else { return ChatConfig() }
        do {
            let config = try JSONDecoder().decode(ChatConfig.self, from: Data(contentsOf: url))
            try config.sampling?.validate()
            if let n = config.maxTokens, n < 1 {
                throw ConfigError.invalid(path: url.path, reason: "maxTokens must be at least 1 (got \(n))")
            }
            return config
        } catch let error as ConfigError {
            throw error
        } catch {
            throw ConfigError.invalid(path: url.path, reason: "\(error)")
        }
    }
}

public enum ConfigError: Error, CustomStringConvertible, Equatable {
    case invalid(path: String, reason: String)
    public var description: String {
        switch self {
        case let .invalid(path, reason): "bad config \(path): \(reason)"
        }
    }
}
