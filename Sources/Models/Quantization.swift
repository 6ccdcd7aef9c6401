import Foundation
import ModelFormats
import TensorCore

/// Quantisation of a checkpoint's language-model matrices at load (`--quant q8_0|q4_0|q4_k`), as llama.cpp's
/// quantize does for a GGUF: the attention and MLP projections and the embeddings; norms and biases stay as
/// they are, and so does the vision tower (its matrices run at prefill, where f16/bf16 are already fast).
/// The output projection (a tied embedding included) is kept at Q8_0 when Q4_0 or Q4_K is asked for
/// (llama.cpp keeps it at higher precision too), Q4_K matrices whose rows are not whole 256-element
/// super-blocks become Q8_0, and matrices whose rows are not whole 32-blocks keep their original type.
public enum Quantization {
    public static func parse(_ name: String) throws -> DType {
        switch name.lowercased() {
        case "q8_0": return .q8_0
        case "q4_0": return .q4_0
        case "q4_k": return .q4_K
        default:
            throw ModelError.invalidConfigValue(path: "--quant", key: name, reason: "supported: q8_0, q4_0, q4_k")
        }
    }

    static func isLanguageMatrix(_ name: String) -> Bool {
        let lower = name.lowercased()
        if lower.contains("vision") || lower.contains("visual") || lower.contains("mm_projector")
            || lower.contains("multi_modal") || lower.contains("connector") { return false }
        if name.hasSuffix("embed_tokens.weight") || name.hasSuffix("lm_head.weight") { return true }
        return name.contains("layers.") && (name.contains("self_attn.") || name.contains("mlp."))
            && name.hasSuffix("_proj.weight")
    }

    /// The type a language matrix gets: the requested one, except Q8_0 for the output projection under the
    /// 4-bit types (`lm_head.weight` under any prefix, or the embedding when the store has none: tied, the
    /// embedding is the output projection; llama.cpp keeps it at Q6_K then), and Q8_0 for a Q4_K matrix
    /// whose rows are not whole 256-element super-blocks (llama.cpp falls back to a 32-block type there
    /// too); nil when it cannot be quantized at all.
    static func target(for name: String, view: TensorView, requested: DType, outputIsEmbedding: Bool = false) -> DType? {
        var t = requested
        let output = name.hasSuffix("lm_head.weight") || (outputIsEmbedding && name.hasSuffix("embed_tokens.weight"))
        if output && (t == .q4_0 || t == .q4_K) { t = .q8_0 }
        if t == .q4_K && !Quantizer.canQuantize(view, to: t) { t = .q8_0 }
        return Quantizer.canQuantize(view, to: t) ? t : nil
    }

    /// The targets `apply` would quantize to, by tensor name.
    static func targets(_ dtype: DType, in store: WeightStore) throws -> [String: DType] {
        var targets: [String: DType] = [:]
        let tied = !store.names.contains { $0.hasSuffix("lm_head.weight") }
        for name in store.names where isLanguageMatrix(name) {
            if let target = target(for: name, view: try store.tensor(name), requested: dtype, outputIsEmbedding: tied) {
                targets[name] = target
            }
        }
        return targets
    }

    /// `store` with its language matrices marked to be quantized as the model is built (what loading with
    /// `--quant` does): the model quantizes one matrix at a time straight into its own weight memory
    /// (`DecoderModel`), packed for the fast kernels where they exist, and drops the source pages, so the
    /// peak is the quantized weights plus one matrix, never the source plus a full quantized copy.
    public static func plan(_ dtype: DType, for store: WeightStore) throws -> WeightStore {
        WeightStore(store, quantizeAtLoad: try targets(dtype, in: store))
    }

    /// `store` with its language matrices quantized now, each to a heap copy (for tests and tools that
    /// want the quantized tensors themselves; loading uses `plan`).
    public static func apply(_ dtype: DType, to store: WeightStore) throws -> WeightStore {
        let targets = try targets(dtype, in: store)
        var tensors: [TensorView] = []
        for name in store.names {
            let view = try store.tensor(name)
            tensors.append(targets[name].map { Quantizer.quantize(view, to: $0) } ?? view)
        }
        return WeightStore(tensors: tensors, directory: store.directory)
    }
}
