import Foundation
import TensorCore

/// The stored type of one tensor in a converted GGUF and its bytes, following convert_hf_to_gguf.py's
/// `prepare_tensors`: 1-D tensors, `*_norm.weight` and anything not named `.weight` (biases) stay F32;
/// the other matrices take the requested type. A Q8_0 matrix whose rows are not whole blocks falls back
/// to F16 (gguf-py raises QuantError and the converter retries as F16). The converter has no 4-bit
/// outtypes; for those Squint follows llama-quantize's habit of keeping the output projection at higher
/// precision (Q8_0 here) and gives Q4_K rows that are not whole 256-blocks Q8_0.
enum GGUFTensorEncoder {
    /// `outputIsEmbedding`: the model has no `output.weight` (tied), so `token_embd.weight` is the output
    /// projection and is kept at Q8_0 under the 4-bit types like `output.weight` (llama.cpp's quantize
    /// treats it as the output too).
    static func storedType(name: String, view: TensorView, requested: DType, outputIsEmbedding: Bool = false) -> DType {
        if view.shape.count <= 1 || name.hasSuffix("_norm.weight") || !name.hasSuffix(".weight") { return .f32 }
        var t = requested
        let output = name == "output.weight" || (outputIsEmbedding && name == "token_embd.weight")
        if output && (t == .q4_0 || t == .q4_K) { t = .q8_0 }
        if t == .q4_K && view.cols % DType.q4_K.blockSize != 0 { t = .q8_0 }
        if t.isQuantized && view.cols % t.blockSize != 0 { t = .f16 }
        return t
    }

    /// `keepAsRequested`: store as `requested` without the name-based rules (the caller decided).
    static func encode(_ view: TensorView, as name: String, requested: DType, keepAsRequested: Bool = false) throws -> TensorView {
        let target = keepAsRequested ? requested : storedType(name: name, view: view, requested: requested)
        let renamed = TensorView(name: name, dtype: view.dtype, shape: view.shape, data: view.data, owner: view.owner)
        if renamed.dtype == target { return renamed }
        if target.isQuantized { return Quantizer.quantize(renamed, to: target) }
        let count = view.count
        let out = OwnedBuffer(byteCount: target.byteCount(elements: count))
        let cols = view.cols
        withUnsafeTemporaryAllocation(of: Float.self, capacity: max(cols, 1)) { tmp in
            guard let row = tmp.baseAddress else { return }
            for r in 0..<view.rows {
                Kernels.convertRow(renamed, row: r, into: row)
                switch target {
                case .f16:
                    // numpy's astype(float16): round to nearest even, as Float16(_:) does.
                    let dst = (out.raw + r * cols * 2).assumingMemoryBound(to: UInt16.self)
                    for i in 0..<cols { dst[i] = Float16(row[i]).bitPattern }
                case .bf16:
                    let dst = (out.raw + r * cols * 2).assumingMemoryBound(to: UInt16.self)
                    for i in 0..<cols { dst[i] = bf16Bits(row[i]) }
                default:
                    (out.raw + r * cols * 4).copyMemory(from: row, byteCount: cols * 4)
                }
            }
        }
        return TensorView(name: name, dtype: target, shape: view.shape, data: UnsafeRawPointer(out.raw), owner: out)
    }

    /// gguf-py `quants.__quantize_bf16_array`: NaNs become quiet NaNs, everything else rounds to nearest
    /// even on the upper 16 bits.
    static func bf16Bits(_ x: Float) -> UInt16 {
        var n = UInt64(x.bitPattern)
        if n & 0x7fff_ffff > 0x7f80_0000 { n = (n & 0xffff_0000) | (64 << 16) }
        n = (n + (0x7fff + ((n >> 16) & 1))) >> 16
        return UInt16(truncatingIfNeeded: n)
    }
}
