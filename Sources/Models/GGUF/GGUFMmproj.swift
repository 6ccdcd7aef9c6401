import Foundation
import ModelFormats
import TensorCore

/// An opened llama.cpp mmproj file and what every projector reads from it alike: its type, tensors by
/// name (a missing one is a one-line error naming it), the vision encoder's activation and norm epsilon,
/// and the image mean / std. Each family's loader (`GGUFVision`, `GGUFMiniCPMV`, `GGUFSmolVLM`) reads
/// its own keys on top.
struct GGUFMmproj {
    let url: URL
    let projector: String
    let meta: GGUFMetadata
    let store: WeightStore

    init(_ url: URL) throws {
        let file = try GGUFFile(path: url.path)
        self.url = url
        projector = try GGUFVision.projectorType(file)
        meta = GGUFMetadata(file)
        store = WeightStore(gguf: file)
        guard try meta.optionalBool("clip.has_vision_encoder") ?? true else {
            throw ModelError.invalidConfigValue(path: url.path, key: "clip.has_vision_encoder", reason: "the file has no vision encoder")
        }
    }

    func tensor(_ name: String) throws -> TensorView {
        guard store.contains(name) else {
            throw ModelError.invalidConfigValue(path: url.path, key: name,
                reason: "tensor missing from the mmproj file (\(projector) needs it)")
        }
        return try store.tensor(name)
    }

    /// clip.cpp: use_gelu -> ggml GELU (tanh form, f16 table), use_silu -> SiLU, neither -> GELU-quick.
    func activation() throws -> Activation {
        let useGelu = try meta.optionalBool("clip.use_gelu") ?? false
        let useSilu = try meta.optionalBool("clip.use_silu") ?? false
        return useGelu ? .geluTanh : useSilu ? .silu : .quickGelu
    }

    func normEps() throws -> Float {
        Float(try meta.optionalDouble("clip.vision.attention.layer_norm_epsilon") ?? 1e-6)
    }

    /// `clip.vision.image_mean` / `image_std`: three numbers each, no zero std.
    func normalization() throws -> (mean: [Float], std: [Float]) {
        func stats(_ key: String) throws -> [Float] {
            guard let v = meta.values[key]?.array?.compactMap({ $0.double }), v.count >= 3 else {
                throw ModelError.invalidConfigValue(path: url.path, key: key, reason: "expected 3 numbers")
            }
            return v.prefix(3).map { Float($0) }
        }
        let mean = try stats("clip.vision.image_mean"), std = try stats("clip.vision.image_std")
        guard std.allSatisfy({ $0 != 0 }) else {
            throw ModelError.invalidConfigValue(path: url.path, key: "clip.vision.image_std", reason: "must not be 0")
        }
        return (mean, std)
    }
}
