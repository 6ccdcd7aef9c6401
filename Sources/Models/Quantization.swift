import Foundation
import ModelFormats
import TensorCore

/// Quantisation of a checkpoint's language-model matrices at load (`--quant q8_0|q4_0`), as llama.cpp's
/// quantize does for a GGUF: the attention and MLP projections and the embeddings; norms and biases stay as
/// they are, and so does the vision tower (its matrices run at prefill, where f16/bf16 are already fast).
/// The output projection is kept at Q8_0 when Q4_0 is asked for (llama.cpp keeps it at higher precision
/// too), and matrices whose rows are not whole blocks keep their original type.
public enum Quantization {
    public static func parse(_ name: String) throws -> DType {
        switch name.lowercased() {
        case "q8_0": return .q8_0
        case "q4_0": return .q4_0
        default:
            throw ModelError.invalidConfigValue(path: "--quant", key: name, reason: "supported: q8_0, q4_0")
        }
    }

    static func isLanguageMatrix(_ name: String) -> Bool {
        let lower = name.lowercased()
        if lower.contains("vision") || lower.contains("visual") || lower.contains("mm_projector")
            || lower.contains("multi_modal") || lower.contains("connector") { return false }
        if name.hasSuffix("embed_tokens.weight") || name == "lm_head.weight" { return true }
        return name.contains("layers.") && (name.contains("self_attn.") || name.contains("mlp."))
            && name.hasSuffix("_proj.weight")
    }

    public static func apply(_ dtype: DType, to store: WeightStore) throws -> WeightStore {
        var tensors: [TensorView] = []
        for name in store.names {
            let view = try store.tensor(name)
            let target: DType = (name == "lm_head.weight" && dtype == .q4_0) ? .q8_0 : dtype
            if isLanguageMatrix(name) && Quantizer.canQuantize(view, to: target) {
                tensors.append(Quantizer.quantize(view, to: target))
            } else {
                tensors.append(view)
            }
        }
        return WeightStore(tensors: tensors, directory: store.directory)
    }
}
