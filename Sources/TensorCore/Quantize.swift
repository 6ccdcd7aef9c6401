import CKernels

/// Quantisation of f32/f16/bf16 weights into block formats at load time (`--quant`, `squint quantize`).
public enum Quantizer {
    /// The formats weights can be quantized into here.
    public static let targets: [DType] = [.q8_0, .q4_0, .q4_K]

    /// Whether `view` can be stored as `dtype`: a matrix whose rows are whole blocks.
    public static func canQuantize(_ view: TensorView, to dtype: DType) -> Bool {
        targets.contains(dtype) && view.shape.count == 2 && !view.dtype.isQuantized && view.cols % dtype.blockSize == 0
    }

    /// `view` re-encoded as `dtype` in new storage (rows quantized in parallel).
    public static func quantize(_ view: TensorView, to dtype: DType, pool: ThreadPool = .shared) -> TensorView {
        precondition(canQuantize(view, to: dtype), "\(view.name) cannot be quantized to \(dtype)")
        let rows = view.rows, cols = view.cols
        let rowBytes = dtype.byteCount(elements: cols)
        let buffer = OwnedBuffer(byteCount: rows * rowBytes)
        let out = buffer.raw
        pool.parallelRanges(rows) { range in
            withUnsafeTemporaryAllocation(of: Float.self, capacity: cols) { tmp in
                for r in range {
                    Kernels.convertRow(view, row: r, into: tmp.baseAddress!)
                    switch dtype {
                    case .q8_0: sq_quantize_row_q8_0(tmp.baseAddress!, out + r * rowBytes, Int64(cols))
                    case .q4_K: sq_quantize_row_q4_K(tmp.baseAddress!, out + r * rowBytes, Int64(cols))
                    default: sq_quantize_row_q4_0(tmp.baseAddress!, out + r * rowBytes, Int64(cols))
                    }
                }
            }
        }
        return TensorView(name: view.name, dtype: dtype, shape: view.shape, data: UnsafeRawPointer(out), owner: buffer)
    }
}
