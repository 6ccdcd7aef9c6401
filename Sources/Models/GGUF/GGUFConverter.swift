import Foundation
import ModelFormats
import TensorCore

/// A Hugging Face safetensors text model (Qwen2, Llama; the language model of Qwen2-VL / Qwen2.5-VL) as
/// the GGUF file llama.cpp's convert_hf_to_gguf.py writes: llama.cpp's tensor names and metadata keys,
/// Llama's Q/K rows permuted for llama.cpp's normal-mode rope, Llama 3 rope scaling as
/// `rope_freqs.weight`, 1-D tensors, norms and biases kept in F32, and the tokenizer in `tokenizer.*`.
public enum GGUFConverter {
    /// The types `squint quantize --type` takes.
    public static let typeNames = ["f32", "f16", "bf16", "q8_0", "q4_0", "q4_k"]

    public static func parseType(_ name: String) throws -> DType {
        switch name.lowercased() {
        case "f32": return .f32
        case "f16": return .f16
        case "bf16": return .bf16
        case "q8_0": return .q8_0
        case "q4_0": return .q4_0
        case "q4_k": return .q4_K
        default:
            throw ModelError.invalidConfigValue(path: "--type", key: name, reason: "supported: \(typeNames.joined(separator: ", "))")
        }
    }

    /// llama.cpp's `llama_ftype` for `general.file_type` (Q4_K: mostly Q4_K_S, as no Q6_K mix is made).
    static func fileType(_ t: DType) -> UInt32 {
        switch t {
        case .f16: 1
        case .q4_0: 2
        case .q8_0: 7
        case .q4_K: 14
        case .bf16: 32
        default: 0
        }
    }

    struct Architecture {
        var gguf: String
        var permuteQK: Bool
    }

    static func architecture(_ modelType: String, path: String) throws -> Architecture {
        switch modelType {
        case "qwen2": return Architecture(gguf: "qwen2", permuteQK: false)
        case "llama": return Architecture(gguf: "llama", permuteQK: true)
        case "qwen2_vl", "qwen2_5_vl": return Architecture(gguf: "qwen2vl", permuteQK: false)
        default:
            throw ModelError.unsupportedModelType(path: path, modelType: modelType, supported: ["qwen2", "llama", "qwen2_vl", "qwen2_5_vl"])
        }
    }

    /// The converted file, ready to write.
    public static func convert(directory: URL, type: DType) throws -> GGUFWriter {
        var isDir: ObjCBool = false
        guard FileManager.default.fileExists(atPath: directory.path, isDirectory: &isDir), isDir.boolValue else {
            throw ModelError.cannotRead(path: directory.path, reason: "not a model directory (only safetensors model directories can be converted)")
        }
        let configURL = directory.appendingPathComponent("config.json")
        let top = try JSONConfig.load(configURL)
        let modelType = try top.optionalString("model_type") ?? "(none)"
        let arch = try architecture(modelType, path: configURL.path)
        // Text hyper-parameters may sit in text_config (transformers 5.x VLMs); the converter merges them.
        var merged = top.object
        if let text = top.object["text_config"] as? [String: Any] { merged.merge(text) { _, t in t } }
        let c = JSONConfig(path: configURL.path, object: merged)

        let hidden = try c.positiveInt("hidden_size")
        let heads = try c.positiveInt("num_attention_heads")
        let kvHeads = try c.optionalInt("num_key_value_heads") ?? heads
        let headDim = try c.optionalInt("head_dim") ?? hidden / heads
        let layers = try c.positiveInt("num_hidden_layers")
        let rope = try RopeConfig.parse(c)

        var w = GGUFWriter()
        let a = arch.gguf
        w.set("general.architecture", .string(a))
        w.set("general.type", .string("model"))
        w.set("general.name", .string(directory.lastPathComponent))
        try setSampling(directory: directory, into: &w)
        w.set("\(a).block_count", .uint32(UInt32(layers)))
        if let n = try c.optionalInt("max_position_embeddings") { w.set("\(a).context_length", .uint32(UInt32(n))) }
        w.set("\(a).embedding_length", .uint32(UInt32(hidden)))
        w.set("\(a).feed_forward_length", .uint32(UInt32(try c.positiveInt("intermediate_size"))))
        w.set("\(a).attention.head_count", .uint32(UInt32(heads)))
        w.set("\(a).attention.head_count_kv", .uint32(UInt32(kvHeads)))
        if case let .linear(factor) = rope.scaling {
            w.set("\(a).rope.scaling.type", .string("linear"))
            w.set("\(a).rope.scaling.factor", .float32(Float(factor)))
        }
        if arch.gguf == "qwen2vl" {
            guard let s = rope.mropeSection else { throw ModelError.missingConfigKey(path: c.path, key: "rope_scaling.mrope_section") }
            let padded = (s + [0, 0, 0, 0]).prefix(4).map { GGUFValue.int32(Int32($0)) }
            w.set("\(a).rope.dimension_sections", .array(.int32, Array(padded)))
        }
        w.set("\(a).rope.freq_base", .float32(Float(rope.theta)))
        if let eps = try c.optionalDouble("rms_norm_eps") { w.set("\(a).attention.layer_norm_rms_epsilon", .float32(Float(eps))) }
        if c.has("head_dim") {
            w.set("\(a).attention.key_length", .uint32(UInt32(headDim)))
            w.set("\(a).attention.value_length", .uint32(UInt32(headDim)))
        }
        w.set("general.file_type", .uint32(fileType(type)))
        w.set("general.quantization_version", .uint32(2))
        let vocabSize = try c.positiveInt("vocab_size")
        if arch.gguf == "llama" {
            w.set("\(a).vocab_size", .uint32(UInt32(vocabSize)))
            w.set("\(a).rope.dimension_count", .uint32(UInt32(headDim)))
        }
        try GGUFVocabWriter.write(directory: directory, vocabSize: vocabSize, config: top.object, into: &w)

        if case let .llama3(factor, low, high, original) = rope.scaling {
            let factors = llama3Factors(theta: rope.theta, headDim: headDim, factor: factor, low: low, high: high, original: original)
            try w.add(OwnedBuffer.tensor(name: "rope_freqs.weight", shape: [factors.count], values: factors))
        }
        let store = try WeightStore(directory: directory)
        let tied = try !store.names.contains { try GGUFTensorNames.map($0, path: directory.path) == "output.weight" }
        for name in store.names.sorted(by: tensorOrder) {
            guard let ggufName = try GGUFTensorNames.map(name, path: directory.path) else { continue }
            let view = try store.tensor(name)
            let permuteHeads: Int? = !arch.permuteQK ? nil
                : name.hasSuffix("q_proj.weight") ? heads : name.hasSuffix("k_proj.weight") ? kvHeads : nil
            if let groups = permuteHeads {
                // Checked now, so a bad shape is reported before anything is written.
                _ = try permuteRows(view, heads: groups, path: directory.path, dryRun: true)
            }
            let target = GGUFTensorEncoder.storedType(name: ggufName, view: view, requested: type, outputIsEmbedding: tied)
            // Converted (and quantized) while the file is written, one tensor at a time.
            try w.add(name: ggufName, shape: view.shape, dtype: target) {
                var v = view
                if let groups = permuteHeads { v = try permuteRows(view, heads: groups, path: directory.path) }
                return try GGUFTensorEncoder.encode(v, as: ggufName, requested: target, keepAsRequested: true)
            }
        }
        return w
    }

    /// gguf-py `Metadata.load`: the checkpoint's recommended sampling from generation_config.json
    /// (`general.sampling.*`; llama.cpp's common params start from them).
    static func setSampling(directory: URL, into w: inout GGUFWriter) throws {
        guard let g = try JSONConfig.loadIfPresent(directory.appendingPathComponent("generation_config.json")) else { return }
        if let k = try? g.optionalInt("top_k") { w.set("general.sampling.top_k", .int32(Int32(clamping: k))) }
        if let p = try? g.optionalDouble("top_p") { w.set("general.sampling.top_p", .float32(Float(p))) }
        if let p = try? g.optionalDouble("min_p") { w.set("general.sampling.min_p", .float32(Float(p))) }
        if let t = try? g.optionalDouble("temperature") { w.set("general.sampling.temp", .float32(Float(t))) }
        if let n = try? g.optionalInt("penalty_last_n") { w.set("general.sampling.penalty_last_n", .int32(Int32(clamping: n))) }
        if let r = try? (g.optionalDouble("penalty_repeat") ?? g.optionalDouble("repetition_penalty")) {
            w.set("general.sampling.penalty_repeat", .float32(Float(r)))
        }
    }

    /// HF tensor order of the converter: by layer number, then name (safetensors files list tensors by name,
    /// so "layers.10" would sort before "layers.2"); llama.cpp does not depend on it.
    static func tensorOrder(_ a: String, _ b: String) -> Bool {
        func layer(_ s: String) -> Int { s.split(separator: ".").lazy.compactMap { Int($0) }.first ?? -1 }
        let (la, lb) = (layer(a), layer(b))
        return la != lb ? la < lb : a < b
    }

    /// convert_hf_to_gguf.py `LlamaModel.permute`: within each head, rows (i, i + d/2) of the rotate-half
    /// layout become adjacent rows (2i, 2i+1), so llama.cpp's normal-mode rope gives the same result. A
    /// row permutation, so quantized or not, the bytes of each row move as they are.
    static func permuteRows(_ view: TensorView, heads: Int, path: String, dryRun: Bool = false) throws -> TensorView {
        guard view.shape.count == 2, heads > 0, view.rows % (2 * heads) == 0 else {
            throw ModelFormatError.invalidTensorEntry(path: path, tensor: view.name,
                                                      reason: "shape \(view.shape) does not split into \(heads) heads of rotary pairs")
        }
        if dryRun { return view }
        let half = view.rows / heads / 2
        let rowBytes = view.dtype.byteCount(elements: view.cols)
        let out = OwnedBuffer(byteCount: view.rows * rowBytes)
        for h in 0..<heads {
            for i in 0..<half {
                for s in 0..<2 {
                    let from = h * 2 * half + s * half + i, to = h * 2 * half + i * 2 + s
                    (out.raw + to * rowBytes).copyMemory(from: view.data + from * rowBytes, byteCount: rowBytes)
                }
            }
        }
        return TensorView(name: view.name, dtype: view.dtype, shape: view.shape, data: UnsafeRawPointer(out.raw), owner: out)
    }

    /// `LlamaModel.generate_extra_tensors`: one divisor per rotary pair for Llama 3 scaling, computed in
    /// float32 as the converter's torch code does (each op on a float32 tensor rounds to float32).
    static func llama3Factors(theta: Double, headDim: Int, factor: Double, low: Double, high: Double, original: Int) -> [Float] {
        let lowWavelen = Double(original) / low, highWavelen = Double(original) / high
        return (0..<headDim / 2).map { i -> Float in
            let freq = 1 / powf(Float(theta), Float(2 * i) / Float(headDim))
            let wavelen = Float(2 * Double.pi) / freq
            if Double(wavelen) < highWavelen { return 1 }
            if Double(wavelen) > lowWavelen { return Float(factor) }
            let smooth = (Float(original) / wavelen - Float(low)) / Float(high - low)
            return 1 / ((1 - smooth) / Float(factor) + smooth)
        }
    }

    /// Converts `directory` and writes it to `path`; returns the tensors' types and counts.
    @discardableResult
    public static func write(directory: URL, type: DType, to path: String) throws -> [String: Int] {
        let w = try convert(directory: directory, type: type)
        try w.write(to: path)
        return w.tensorTypeCounts
    }
}

/// Hugging Face tensor names -> llama.cpp's (gguf-py tensor_mapping for these architectures).
enum GGUFTensorNames {
    static let perLayer: [String: String] = [
        "input_layernorm.weight": "attn_norm.weight",
        "self_attn.q_proj.weight": "attn_q.weight", "self_attn.q_proj.bias": "attn_q.bias",
        "self_attn.k_proj.weight": "attn_k.weight", "self_attn.k_proj.bias": "attn_k.bias",
        "self_attn.v_proj.weight": "attn_v.weight", "self_attn.v_proj.bias": "attn_v.bias",
        "self_attn.o_proj.weight": "attn_output.weight", "self_attn.o_proj.bias": "attn_output.bias",
        "post_attention_layernorm.weight": "ffn_norm.weight",
        "mlp.gate_proj.weight": "ffn_gate.weight", "mlp.up_proj.weight": "ffn_up.weight",
        "mlp.down_proj.weight": "ffn_down.weight",
    ]

    /// nil for tensors the text GGUF leaves out (the vision tower, rotary caches).
    static func map(_ hf: String, path: String) throws -> String? {
        var name = hf
        for prefix in ["model.language_model.", "language_model.model.", "language_model."] where name.hasPrefix(prefix) {
            name = "model." + name.dropFirst(prefix.count)
            break
        }
        if name.hasPrefix("visual.") || name.hasPrefix("model.visual.") || name.hasSuffix("rotary_emb.inv_freq") { return nil }
        switch name {
        case "model.embed_tokens.weight": return "token_embd.weight"
        case "model.norm.weight": return "output_norm.weight"
        case "lm_head.weight", "language_model.lm_head.weight": return "output.weight"
        default: break
        }
        let parts = name.split(separator: ".", maxSplits: 3).map(String.init)
        if parts.count == 4, parts[0] == "model", parts[1] == "layers", let layer = Int(parts[2]),
           let suffix = perLayer[parts[3]] {
            return "blk.\(layer).\(suffix)"
        }
        throw ModelFormatError.invalidTensorEntry(path: path, tensor: hf, reason: "no llama.cpp name for this tensor")
    }
}

extension GGUFWriter {
    /// How many tensors of each type the file holds ("F32": 9, "Q8_0": 14, ...).
    public var tensorTypeCounts: [String: Int] {
        var counts: [String: Int] = [:]
        for t in tensorTypes { counts[t, default: 0] += 1 }
        return counts
    }
}
