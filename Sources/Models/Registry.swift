import Foundation
import ModelFormats

/// A model family: one file in Families/, one line in `ModelRegistry.families`.
public protocol ModelFamily: Sendable {
    /// The `model_type` values of config.json this family loads.
    static var modelTypes: [String] { get }
    /// A short human name ("Qwen2", "Llama").
    static var displayName: String { get }
    static func load(_ context: LoadContext) throws -> LoadedWeights
}

/// What a family's loader gets: the parsed config, the weights, the directory.
public struct LoadContext: @unchecked Sendable {
    public let directory: URL
    public let config: JSONConfig
    public let modelType: String
    public let weights: WeightStore
}

/// What a family's loader returns.
public struct LoadedWeights: @unchecked Sendable {
    public let language: any LanguageModel
    /// The vision tower, connector and processor of vision-language families.
    public let vision: (any VisionLanguage)?
    public init(language: any LanguageModel, vision: (any VisionLanguage)? = nil) {
        self.language = language
        self.vision = vision
    }
}

public enum ModelRegistry {
    /// Every family Squint knows, keyed through their `modelTypes`.
    public static let families: [any ModelFamily.Type] = [
        Qwen2Family.self,
        LlamaFamily.self,
        Qwen2VLFamily.self,
        LlavaOneVisionFamily.self,
        SmolVLMFamily.self,
    ]

    public static var supportedModelTypes: [String] { families.flatMap { $0.modelTypes }.sorted() }

    public static func family(for modelType: String) -> (any ModelFamily.Type)? {
        families.first { $0.modelTypes.contains(modelType) }
    }
}
