import Foundation

/// Rotary position embedding settings, from either config layout:
/// transformers 4.x (`rope_theta` + `rope_scaling`) or 5.x (`rope_parameters`).
public struct RopeConfig: Sendable, Equatable {
    public enum Scaling: Sendable, Equatable {
        case none
        /// Positions divided by `factor` (transformers `_compute_linear_scaling_rope_parameters`).
        case linear(factor: Double)
        /// Llama 3.x frequency-band scaling (`_compute_llama3_parameters`).
        case llama3(factor: Double, lowFreqFactor: Double, highFreqFactor: Double, originalMaxPositions: Int)
        /// Each pair's frequency divided by its own factor (GGUF `rope_freqs.weight`, which llama.cpp's
        /// converter writes for Llama 3 scaling: `inv_freq[i] / factors[i]`).
        case frequencyFactors([Float])
    }

    public var theta: Double
    public var scaling: Scaling
    /// Qwen2-VL M-RoPE: how many rotary pairs go to the temporal, height and width positions.
    public var mropeSection: [Int]?
    /// Rotate adjacent pairs `(2i, 2i+1)` instead of `(i, i + headDim/2)`: GGUF `llama` files, whose
    /// converter permuted the Q/K rows so that llama.cpp's normal-mode rope reproduces rotate-half.
    public var interleaved: Bool

    public init(theta: Double, scaling: Scaling = .none, mropeSection: [Int]? = nil, interleaved: Bool = false) {
        self.theta = theta
        self.scaling = scaling
        self.mropeSection = mropeSection
        self.interleaved = interleaved
    }

    static func parse(_ c: JSONConfig) throws -> RopeConfig {
        // 5.x: everything in rope_parameters; 4.x: rope_theta flat, extras in rope_scaling (may be null).
        let params = c.child("rope_parameters") ?? c.child("rope_scaling")
        let theta = try params?.optionalDouble("rope_theta") ?? c.optionalDouble("rope_theta") ?? 10000
        guard theta > 0 else {
            throw ModelError.invalidConfigValue(path: c.path, key: "rope_theta", reason: "must be positive")
        }
        var rope = RopeConfig(theta: theta)
        guard let params else { return rope }
        if let section = params.object["mrope_section"] as? [Any] {
            rope.mropeSection = try section.map {
                guard let n = $0 as? NSNumber, n.intValue > 0 else {
                    throw ModelError.invalidConfigValue(path: c.path, key: "mrope_section", reason: "expected positive integers")
                }
                return n.intValue
            }
        }
        let type = try params.optionalString("rope_type") ?? params.optionalString("type") ?? "default"
        switch type {
        case "default", "mrope":
            break
        case "linear":
            rope.scaling = .linear(factor: try params.double("factor"))
        case "llama3":
            rope.scaling = .llama3(
                factor: try params.double("factor"),
                lowFreqFactor: try params.double("low_freq_factor"),
                highFreqFactor: try params.double("high_freq_factor"),
                originalMaxPositions: try params.positiveInt("original_max_position_embeddings"))
        default:
            throw ModelError.unsupportedRopeType(path: c.path, ropeType: type)
        }
        return rope
    }

    /// Inverse frequencies for `headDim`, computed in Float as transformers does
    /// (`1.0 / (base ** (torch.arange(0, dim, 2).float() / dim))`, float32 throughout).
    public func inverseFrequencies(headDim: Int) -> [Float] {
        let half = headDim / 2
        var inv = (0..<half).map { i -> Float in
            1.0 / powf(Float(theta), Float(2 * i) / Float(headDim))
        }
        switch scaling {
        case .none:
            break
        case let .linear(factor):
            inv = inv.map { $0 / Float(factor) }
        case let .llama3(factor, low, high, original):
            // transformers/modeling_rope_utils.py `_compute_llama3_parameters`.
            let lowWavelen = Float(Double(original) / low)
            let highWavelen = Float(Double(original) / high)
            inv = inv.map { f in
                let wavelen = 2 * Float.pi / f
                if wavelen < highWavelen { return f }
                if wavelen > lowWavelen { return f / Float(factor) }
                let smooth = (Float(original) / wavelen - Float(low)) / Float(high - low)
                return (1 - smooth) * f / Float(factor) + smooth * f
            }
        case let .frequencyFactors(factors):
            inv = inv.enumerated().map { i, f in i < factors.count ? f / factors[i] : f }
        }
        return inv
    }
}

/// The decoder-only language model's hyper-parameters (Qwen2 and Llama families), read from
/// `config.json` or from its nested `text_config` (vision-language checkpoints).
public struct TextConfig: Sendable, Equatable {
    public var modelType: String
    public var hiddenSize: Int
    public var intermediateSize: Int
    public var layerCount: Int
    public var headCount: Int
    public var kvHeadCount: Int
    public var headDim: Int
    public var vocabularySize: Int
    public var rmsNormEps: Float
    public var maxPositions: Int
    public var tieWordEmbeddings: Bool
    /// q/k/v projections carry a bias (always in Qwen2; `attention_bias` in Llama).
    public var qkvBias: Bool
    /// o_proj carries a bias (Llama's `attention_bias` covers it too).
    public var outputBias: Bool
    public var mlpBias: Bool
    public var rope: RopeConfig
    public var bosTokenID: Int?
    public var eosTokenIDs: [Int]

    public static func parse(_ c: JSONConfig, modelType: String, tieDefault: Bool = false,
                             outer: JSONConfig? = nil) throws -> TextConfig {
        let hidden = try c.positiveInt("hidden_size")
        let heads = try c.positiveInt("num_attention_heads")
        let kvHeads = try c.optionalInt("num_key_value_heads") ?? heads
        guard kvHeads > 0, heads % kvHeads == 0 else {
            throw ModelError.invalidConfigValue(path: c.path, key: "num_key_value_heads",
                                                reason: "\(kvHeads) does not divide num_attention_heads \(heads)")
        }
        let headDim = try c.optionalInt("head_dim") ?? (hidden / heads)
        guard headDim > 0, headDim % 2 == 0 else {
            throw ModelError.invalidConfigValue(path: c.path, key: "head_dim", reason: "must be a positive even number")
        }
        let isQwen = modelType.hasPrefix("qwen2")
        let attentionBias = try c.optionalBool("attention_bias") ?? false
        // `tie_word_embeddings` sits at the top level of VLM configs in 4.x and inside text_config in 5.x.
        let tie = try c.optionalBool("tie_word_embeddings") ?? outer?.optionalBool("tie_word_embeddings") ?? tieDefault
        var eos = try c.intList("eos_token_id")
        if eos.isEmpty, let outer { eos = try outer.intList("eos_token_id") }
        return TextConfig(
            modelType: modelType,
            hiddenSize: hidden,
            intermediateSize: try c.positiveInt("intermediate_size"),
            layerCount: try c.positiveInt("num_hidden_layers"),
            headCount: heads,
            kvHeadCount: kvHeads,
            headDim: headDim,
            vocabularySize: try c.positiveInt("vocab_size"),
            rmsNormEps: Float(try c.optionalDouble("rms_norm_eps") ?? 1e-6),
            maxPositions: try c.optionalInt("max_position_embeddings") ?? 32768,
            tieWordEmbeddings: tie,
            qkvBias: isQwen || attentionBias,
            outputBias: !isQwen && attentionBias,
            mlpBias: try c.optionalBool("mlp_bias") ?? false,
            rope: try RopeConfig.parse(c),
            bosTokenID: try c.optionalInt("bos_token_id") ?? outer?.optionalInt("bos_token_id"),
            eosTokenIDs: eos)
    }
}
