import Foundation
import ModelFormats

// MARK: - Model

/// Llama-family text models (`LlamaForCausalLM`: Llama 2/3.x, SmolLM2, TinyLlama): the shared decoder,
/// biases only where `attention_bias` / `mlp_bias` say so, Llama 3 rope scaling.
enum LlamaFamily: ModelFamily {
    static let modelTypes = ["llama"]
    static let displayName = "Llama"

    static func load(_ ctx: LoadContext) throws -> LoadedWeights {
        let config = try TextConfig.parse(ctx.config, modelType: ctx.modelType)
        return LoadedWeights(language: try DecoderModel(config: config, weights: ctx.weights))
    }
}
