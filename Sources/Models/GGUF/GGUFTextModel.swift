import Foundation
import ModelFormats
import TensorCore

/// Text models from a GGUF file as llama.cpp's `convert_hf_to_gguf.py` writes them: the `qwen2`,
/// `qwen2vl` (Qwen2-VL / Qwen2.5-VL's language model, M-RoPE) and `llama` architectures, run by the shared
/// `DecoderModel`.
enum GGUFTextModel {
    static let architectures = ["llama", "qwen2", "qwen2vl"]

    /// llama.cpp's tensor names for the decoder's weights (`llm_tensor` names in llama-arch.cpp).
    static func tensorName(_ t: DecoderTensor) -> String {
        func blk(_ i: Int, _ s: String) -> String { "blk.\(i).\(s)" }
        switch t {
        case .embedding: return "token_embd.weight"
        case .finalNorm: return "output_norm.weight"
        case .lmHead: return "output.weight"
        case let .inputNorm(i): return blk(i, "attn_norm.weight")
        case let .postNorm(i): return blk(i, "ffn_norm.weight")
        case let .q(i): return blk(i, "attn_q.weight")
        case let .k(i): return blk(i, "attn_k.weight")
        case let .v(i): return blk(i, "attn_v.weight")
        case let .o(i): return blk(i, "attn_output.weight")
        case let .qBias(i): return blk(i, "attn_q.bias")
        case let .kBias(i): return blk(i, "attn_k.bias")
        case let .vBias(i): return blk(i, "attn_v.bias")
        case let .oBias(i): return blk(i, "attn_output.bias")
        case let .gate(i): return blk(i, "ffn_gate.weight")
        case let .up(i): return blk(i, "ffn_up.weight")
        case let .down(i): return blk(i, "ffn_down.weight")
        case let .gateBias(i): return blk(i, "ffn_gate.bias")
        case let .upBias(i): return blk(i, "ffn_up.bias")
        case let .downBias(i): return blk(i, "ffn_down.bias")
        }
    }

    /// The decoder's hyper-parameters from `{arch}.*` metadata (llama.cpp's `llm_load_hparams`).
    static func config(_ m: GGUFMetadata, architecture arch: String, weights: WeightStore) throws -> TextConfig {
        guard architectures.contains(arch) else {
            throw ModelError.unsupportedArchitecture(path: m.path, architecture: arch, supported: architectures)
        }
        let hidden = try m.positiveInt("\(arch).embedding_length")
        let heads = try m.positiveInt("\(arch).attention.head_count")
        let kvHeads = try m.optionalInt("\(arch).attention.head_count_kv") ?? heads
        guard kvHeads > 0, heads % kvHeads == 0 else {
            throw ModelError.invalidConfigValue(path: m.path, key: "\(arch).attention.head_count_kv",
                                                reason: "\(kvHeads) does not divide head_count \(heads)")
        }
        let headDim = try m.optionalInt("\(arch).attention.key_length") ?? hidden / heads
        guard headDim > 0, headDim % 2 == 0 else {
            throw ModelError.invalidConfigValue(path: m.path, key: "\(arch).attention.key_length",
                                                reason: "head size \(headDim) must be a positive even number")
        }
        if let v = try m.optionalInt("\(arch).attention.value_length"), v != headDim {
            throw ModelError.invalidConfigValue(path: m.path, key: "\(arch).attention.value_length",
                                                reason: "\(v) differs from the key length \(headDim) (not supported)")
        }
        if let r = try m.optionalInt("\(arch).rope.dimension_count"), r != headDim {
            throw ModelError.invalidConfigValue(path: m.path, key: "\(arch).rope.dimension_count",
                                                reason: "partial rotary (\(r) of \(headDim) dims) is not supported")
        }
        let embedding = try weights.tensor(tensorName(.embedding))
        guard embedding.shape.count == 2 else {
            throw ModelFormatError.invalidTensorEntry(path: m.path, tensor: embedding.name,
                                                      reason: "expected 2 dimensions, found shape \(embedding.shape)")
        }
        var eos: [Int] = []
        for key in ["eos_token_id", "eot_token_id", "eom_token_id"] {
            if let id = try m.optionalInt("tokenizer.ggml.\(key)"), !eos.contains(id) { eos.append(id) }
        }
        return TextConfig(
            modelType: arch,
            hiddenSize: hidden,
            intermediateSize: try m.positiveInt("\(arch).feed_forward_length"),
            layerCount: try m.positiveInt("\(arch).block_count"),
            headCount: heads,
            kvHeadCount: kvHeads,
            headDim: headDim,
            vocabularySize: embedding.shape[0],
            rmsNormEps: Float(try m.optionalDouble("\(arch).attention.layer_norm_rms_epsilon") ?? 1e-5),
            maxPositions: try m.optionalInt("\(arch).context_length") ?? 4096,
            tieWordEmbeddings: !weights.contains(tensorName(.lmHead)),
            // Qwen2 always has q/k/v biases; Llama's optional ones are picked up when present.
            qkvBias: arch == "qwen2" || arch == "qwen2vl",
            outputBias: false,
            mlpBias: false,
            rope: try rope(m, architecture: arch, weights: weights, headDim: headDim),
            bosTokenID: try m.optionalInt("tokenizer.ggml.bos_token_id"),
            eosTokenIDs: eos)
    }

    private static func rope(_ m: GGUFMetadata, architecture arch: String, weights: WeightStore,
                             headDim: Int) throws -> RopeConfig {
        let theta = try m.optionalDouble("\(arch).rope.freq_base") ?? 10000
        guard theta > 0 else {
            throw ModelError.invalidConfigValue(path: m.path, key: "\(arch).rope.freq_base", reason: "must be positive")
        }
        // llama.cpp: LLM_ARCH_LLAMA uses LLAMA_ROPE_TYPE_NORM (adjacent pairs) on Q/K rows its converter
        // permuted (LlamaModel.permute); LLM_ARCH_QWEN2 uses NEOX (rotate-half) on unpermuted rows.
        var rope = RopeConfig(theta: theta, interleaved: arch == "llama")
        if arch == "qwen2vl" { rope.mropeSection = try mropeSections(m, key: "\(arch).rope.dimension_sections", headDim: headDim) }
        let typeKey = "\(arch).rope.scaling.type"
        switch try m.optionalString(typeKey) ?? "none" {
        case "none":
            break
        case "linear":
            let factor = try m.optionalDouble("\(arch).rope.scaling.factor") ?? 1
            guard factor > 0 else {
                throw ModelError.invalidConfigValue(path: m.path, key: "\(arch).rope.scaling.factor", reason: "must be positive")
            }
            rope.scaling = factor == 1 ? .none : .linear(factor: factor)
        case let other:
            throw ModelError.unsupportedRopeType(path: m.path, ropeType: "\(other) (\(typeKey))")
        }
        if weights.contains("rope_freqs.weight") {
            // Llama 3 scaling, precomputed by the converter as one divisor per rotary pair.
            guard case .none = rope.scaling else {
                throw ModelError.invalidConfigValue(path: m.path, key: typeKey,
                                                    reason: "rope_freqs.weight together with linear scaling is not supported")
            }
            let factors = try weights.tensor("rope_freqs.weight", shape: [headDim / 2]).toFloats()
            guard factors.allSatisfy({ $0.isFinite && $0 > 0 }) else {
                throw ModelFormatError.invalidTensorEntry(path: m.path, tensor: "rope_freqs.weight",
                                                          reason: "factors must be positive and finite")
            }
            rope.scaling = .frequencyFactors(factors)
        }
        return rope
    }

    /// llama.cpp's `rope.dimension_sections` (4 entries, rotary pairs for t, h, w and an unused fourth axis
    /// that Qwen2-VL leaves at 0) -> transformers' `mrope_section`. llama.cpp's NEOX multi-rope assigns
    /// pair i to the section containing i, as transformers' chunking does, when the sections cover the
    /// head exactly.
    private static func mropeSections(_ m: GGUFMetadata, key: String, headDim: Int) throws -> [Int] {
        guard let s = try m.optionalInts(key) else { throw ModelError.missingConfigKey(path: m.path, key: key) }
        let used = s.count == 4 && s[3] == 0 ? Array(s.prefix(3)) : s
        guard used.count == 3, used.allSatisfy({ $0 >= 0 }), used.reduce(0, +) == headDim / 2 else {
            throw ModelError.invalidConfigValue(path: m.path, key: key,
                reason: "\(s) must be 3 sections (and a 4th of 0) covering the \(headDim / 2) rotary pairs")
        }
        return used
    }

    /// The decoder over the file's mapped tensors.
    static func load(_ file: GGUFFile, _ m: GGUFMetadata, architecture: String) throws -> DecoderModel {
        let weights = WeightStore(gguf: file)
        let config = try config(m, architecture: architecture, weights: weights)
        return try DecoderModel(config: config, weights: weights, name: tensorName)
    }
}
