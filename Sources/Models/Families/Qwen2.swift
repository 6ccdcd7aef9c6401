import Foundation
import ModelFormats

// MARK: - Model

/// Qwen2 / Qwen2.5 text models (`Qwen2ForCausalLM`): the shared decoder with q/k/v biases.
enum Qwen2Family: ModelFamily {
    static let modelTypes = ["qwen2"]
    static let displayName = "Qwen2"

    static func load(_ ctx: LoadContext) throws -> LoadedWeights {
        let config = try TextConfig.parse(ctx.config, modelType: ctx.modelType)
        return LoadedWeights(language: try DecoderModel(config: config, weights: ctx.weights))
    }
}
