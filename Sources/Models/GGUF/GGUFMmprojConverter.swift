import Foundation
import ModelFormats
import TensorCore

/// The vision part of a Qwen2-VL / Qwen2.5-VL checkpoint as the `mmproj` file llama.cpp's
/// convert_hf_to_gguf.py writes with `--mmproj` (`Qwen2VLVisionModel`, architecture `clip`): the fused
/// QKV split into q/k/v, the Conv3D patch embedding split into its two temporal Conv2D halves
/// (`v.patch_embd.weight` and `.weight.1`), llama.cpp's `v.*` / `mm.*` names, and the `clip.*` keys
/// GGUFVision reads. 1-D tensors stay F32; the rest takes F32 or F16 (a quantized `--type` writes the
/// vision tower in F16, as Squint's `--quant` leaves it unquantized too).
public enum GGUFMmprojConverter {
    public static func convert(directory: URL, type requested: DType) throws -> GGUFWriter {
        let configURL = directory.appendingPathComponent("config.json")
        let top = try JSONConfig.load(configURL)
        let modelType = try top.optionalString("model_type") ?? "(none)"
        let projector: String
        switch modelType {
        case "qwen2_vl": projector = "qwen2vl_merger"
        case "qwen2_5_vl": projector = "qwen2.5vl_merger"
        default:
            throw ModelError.unsupportedModelType(path: configURL.path, modelType: modelType, supported: ["qwen2_vl", "qwen2_5_vl"])
        }
        let v = try top.requiredChild("vision_config")
        let text = top.child("text_config")
        let type: DType = requested == .f32 ? .f32 : (requested == .bf16 ? .bf16 : .f16)

        var w = GGUFWriter()
        w.set("general.architecture", .string("clip"))
        w.set("general.type", .string("mmproj"))
        try GGUFConverter.setSampling(directory: directory, into: &w)
        w.set("general.name", .string(directory.lastPathComponent))
        w.set("general.file_type", .uint32(GGUFConverter.fileType(type)))
        w.set("clip.has_vision_encoder", .bool(true))
        let textHidden = try text?.optionalInt("hidden_size") ?? top.positiveInt("hidden_size")
        w.set("clip.vision.projection_dim", .uint32(UInt32(textHidden)))
        w.set("clip.vision.image_size", .uint32(UInt32(try v.optionalInt("image_size") ?? 560)))
        w.set("clip.vision.patch_size", .uint32(UInt32(try v.positiveInt("patch_size"))))
        // Qwen2-VL's vision config calls the width embed_dim and (oddly) the merger width hidden_size; the
        // converter renames them so and writes that hidden_size as the feed-forward length.
        let width = try v.optionalInt("embed_dim") ?? v.positiveInt("hidden_size")
        let ffn = v.has("embed_dim") ? try v.positiveInt("hidden_size") : try v.positiveInt("intermediate_size")
        let heads = try v.positiveInt("num_heads")
        let depth = try v.positiveInt("depth")
        w.set("clip.vision.embedding_length", .uint32(UInt32(width)))
        w.set("clip.vision.feed_forward_length", .uint32(UInt32(ffn)))
        w.set("clip.vision.block_count", .uint32(UInt32(depth)))
        w.set("clip.vision.attention.head_count", .uint32(UInt32(heads)))
        let (mean, std) = try meanStd(directory)
        w.set("clip.vision.image_mean", .array(.float32, mean.map { .float32(Float($0)) }))
        w.set("clip.vision.image_std", .array(.float32, std.map { .float32(Float($0)) }))
        w.set("clip.projector_type", .string(projector))
        if modelType == "qwen2_5_vl" {
            w.set("clip.use_silu", .bool(true))
            let full = try v.intList("fullatt_block_indexes")
            guard let first = full.first else {
                throw ModelError.invalidConfigValue(path: configURL.path, key: "fullatt_block_indexes", reason: "empty")
            }
            for i in 1..<max(full.count, 1) where full[i] - full[i - 1] != first + 1 {
                throw ModelError.invalidConfigValue(path: configURL.path, key: "fullatt_block_indexes",
                                                    reason: "\(full) is not a regular window-attention pattern")
            }
            w.set("clip.vision.n_wa_pattern", .uint32(UInt32(first + 1)))
        }
        w.set("clip.vision.attention.layer_norm_epsilon", .float32(Float(try top.optionalDouble("rms_norm_eps") ?? 1e-6)))
        w.set("general.quantization_version", .uint32(2))

        let store = try WeightStore(directory: directory)
        for name in store.names.sorted(by: GGUFConverter.tensorOrder) {
            var hf = name
            if hf.hasPrefix("model.visual.") { hf = String(hf.dropFirst("model.".count)) }
            guard hf.hasPrefix("visual.") else { continue }
            for (ggufName, view) in try tensors(hf, try store.tensor(name), path: directory.path) {
                let target: DType = view.shape.count <= 1 ? .f32 : type
                try w.add(name: ggufName, shape: view.shape, dtype: target) {
                    try GGUFTensorEncoder.encode(view, as: ggufName, requested: target, keepAsRequested: true)
                }
            }
        }
        return w
    }

    @discardableResult
    public static func write(directory: URL, type: DType, to path: String) throws -> [String: Int] {
        let w = try convert(directory: directory, type: type)
        try w.write(to: path)
        return w.tensorTypeCounts
    }

    /// image_mean / image_std from preprocessor_config.json, overridden by processor_config.json's
    /// image_processor (the converter merges both).
    static func meanStd(_ directory: URL) throws -> ([Double], [Double]) {
        var cfg: [String: Any] = [:]
        if let p = try JSONConfig.loadIfPresent(directory.appendingPathComponent("preprocessor_config.json")) { cfg.merge(p.object) { _, b in b } }
        if let p = try JSONConfig.loadIfPresent(directory.appendingPathComponent("processor_config.json")) {
            cfg.merge(p.object) { _, b in b }
            if let ip = p.object["image_processor"] as? [String: Any] { cfg.merge(ip) { _, b in b } }
        }
        let c = JSONConfig(path: directory.appendingPathComponent("preprocessor_config.json").path, object: cfg)
        func list(_ key: String) throws -> [Double] {
            guard let a = cfg[key] as? [Any] else { throw ModelError.missingConfigKey(path: c.path, key: key) }
            return try a.map {
                guard let n = $0 as? NSNumber else { throw ModelError.invalidConfigValue(path: c.path, key: key, reason: "expected numbers") }
                return n.doubleValue
            }
        }
        return (try list("image_mean"), try list("image_std"))
    }

    static let blockNames: [String: String] = [
        "norm1": "ln1", "norm2": "ln2", "attn.proj": "attn_out",
        "mlp.fc1": "ffn_up", "mlp.fc2": "ffn_down",
        "mlp.gate_proj": "ffn_gate", "mlp.up_proj": "ffn_up", "mlp.down_proj": "ffn_down",
    ]

    /// One HF vision tensor -> its llama.cpp tensor(s).
    static func tensors(_ hf: String, _ view: TensorView, path: String) throws -> [(String, TensorView)] {
        let suffix = hf.hasSuffix(".bias") ? "bias" : "weight"
        let stem = String(hf.dropLast(suffix.count + 1))
        if stem == "visual.patch_embed.proj" { return try splitTemporal(view, path: path) }
        if stem == "visual.merger.ln_q" { return [("v.post_ln.\(suffix)", view)] }
        if stem == "visual.merger.mlp.0" { return [("mm.0.\(suffix)", view)] }
        if stem == "visual.merger.mlp.2" { return [("mm.2.\(suffix)", view)] }
        let parts = stem.split(separator: ".", maxSplits: 3).map(String.init)
        if parts.count == 4, parts[1] == "blocks", let n = Int(parts[2]) {
            if parts[3] == "attn.qkv" {
                return try splitRows(view, parts: 3, path: path).enumerated().map { i, t in
                    ("v.blk.\(n).attn_\(["q", "k", "v"][i]).\(suffix)", t)
                }
            }
            if let mapped = blockNames[parts[3]] { return [("v.blk.\(n).\(mapped).\(suffix)", view)] }
        }
        throw ModelFormatError.invalidTensorEntry(path: path, tensor: hf, reason: "no llama.cpp mmproj name for this tensor")
    }

    /// The fused QKV weight (rows) or bias split into `parts` equal consecutive pieces.
    static func splitRows(_ view: TensorView, parts: Int, path: String) throws -> [TensorView] {
        let outer = view.shape.first ?? 0
        guard outer % parts == 0, !view.dtype.isQuantized else {
            throw ModelFormatError.invalidTensorEntry(path: path, tensor: view.name, reason: "shape \(view.shape) does not split into \(parts)")
        }
        let piece = view.count / parts * view.dtype.size
        var shape = view.shape
        shape[0] = outer / parts
        return (0..<parts).map { i in
            TensorView(name: view.name, dtype: view.dtype, shape: shape, data: view.data + i * piece, owner: view.owner)
        }
    }

    /// Conv3D weight [out, in, 2, kh, kw] -> its two temporal slices [out, in, kh, kw].
    static func splitTemporal(_ view: TensorView, path: String) throws -> [(String, TensorView)] {
        let s = view.shape
        guard s.count == 5, s[2] == 2, !view.dtype.isQuantized else {
            throw ModelFormatError.invalidTensorEntry(path: path, tensor: view.name,
                                                      reason: "expected a Conv3D weight [out, in, 2, kh, kw], found \(s)")
        }
        let plane = s[3] * s[4] * view.dtype.size
        let outer = s[0] * s[1]
        return try (0..<2).map { t in
            let buffer = OwnedBuffer(byteCount: outer * plane)
            for o in 0..<outer {
                (buffer.raw + o * plane).copyMemory(from: view.data + (o * 2 + t) * plane, byteCount: plane)
            }
            let name = t == 0 ? "v.patch_embd.weight" : "v.patch_embd.weight.1"
            guard outer * plane == buffer.byteCount else {
                throw ModelFormatError.invalidTensorEntry(path: path, tensor: view.name, reason: "size mismatch")
            }
            return (name, TensorView(name: name, dtype: view.dtype, shape: [s[0], s[1], s[3], s[4]],
                                     data: UnsafeRawPointer(buffer.raw), owner: buffer))
        }
    }
}
