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
        let buffer = OwnedBuffer(byteCount: dtype.byteCount(elements: view.count))
        quantizeRows(view, to: dtype, rows: 0..<view.rows, into: buffer.raw, pool: pool)
        return TensorView(name: view.name, dtype: dtype, shape: view.shape, data: UnsafeRawPointer(buffer.raw), owner: buffer)
    }

    /// `view` quantized to `dtype` into `out`: `dtype.byteCount(elements: view.count)` bytes of rows, or with
    /// `packed` the 16-row packed layout `Kernels.packed` would make of them (`Kernels.packedBytes(dtype,
    /// rows:cols:)` bytes; this CPU must pack the type). The rows go in slices of about 8 MB of source, each
    /// handed to `release` once read (a mapped file drops those pages), and packed slices through one
    /// slice-sized scratch buffer: no whole quantized copy exists beside the output. `scratch` (used when it
    /// has `scratchBytes` bytes) lets a caller quantizing many matrices reuse one buffer for all of them.
    public static func quantize(_ view: TensorView, to dtype: DType, into out: UnsafeMutableRawPointer, packed: Bool,
                                scratch given: OwnedBuffer? = nil, pool: ThreadPool = .shared,
                                release: (UnsafeRawPointer, Int) -> Void = { _, _ in }) {
        precondition(canQuantize(view, to: dtype), "\(view.name) cannot be quantized to \(dtype)")
        let rows = view.rows, cols = view.cols, code = dtype.kernelCode
        let rowBytes = dtype.byteCount(elements: cols), sourceRowBytes = view.dtype.byteCount(elements: cols)
        precondition(!packed || (rows % 16 == 0 && Kernels.packedBytes(dtype, rows: rows, cols: cols) > 0),
                     "\(view.name): \(dtype) [\(rows), \(cols)] is not packed on this CPU")
        let groupBytes = packed ? Kernels.packedBytes(dtype, rows: rows, cols: cols) / (rows / 16) : 0
        let slice = sliceRows(sourceRowBytes: sourceRowBytes)
        let need = min(slice, rows) * rowBytes
        let scratch = packed ? (given.flatMap { $0.byteCount >= need ? $0 : nil } ?? OwnedBuffer(byteCount: need, zeroed: false)) : nil
        var r0 = 0
        while r0 < rows {
            let r1 = min(rows, r0 + slice)
            if let scratch {
                quantizeRows(view, to: dtype, rows: r0..<r1, into: scratch.raw, pool: pool)
                let dst = out + (r0 / 16) * groupBytes, src = UnsafeRawPointer(scratch.raw)
                pool.parallelRanges((r1 - r0) / 16) { g in
                    sq_pack16(code, src, dst, Int64(cols), Int64(g.lowerBound), Int64(g.upperBound))
                }
            } else {
                quantizeRows(view, to: dtype, rows: r0..<r1, into: out + r0 * rowBytes, pool: pool)
            }
            release(view.data + r0 * sourceRowBytes, (r1 - r0) * sourceRowBytes)
            r0 = r1
        }
    }

    /// Rows per slice of `quantize(_:to:into:packed:)`: about 8 MB of source, a multiple of 16.
    private static func sliceRows(sourceRowBytes: Int) -> Int { max(16, (8 << 20) / max(sourceRowBytes, 1) / 16 * 16) }

    /// Bytes of the scratch buffer `quantize(_:to:into:packed:)` needs to pack `view` as `dtype`.
    public static func scratchBytes(_ view: TensorView, to dtype: DType) -> Int {
        min(sliceRows(sourceRowBytes: view.dtype.byteCount(elements: view.cols)), view.rows) * dtype.byteCount(elements: view.cols)
    }

    /// Rows `rows` of `view` quantized to `dtype`, row r at `out + (r - rows.lowerBound) * rowBytes`.
    private static func quantizeRows(_ view: TensorView, to dtype: DType, rows: Range<Int>, into out: UnsafeMutableRawPointer,
                                     pool: ThreadPool) {
        let cols = view.cols, rowBytes = dtype.byteCount(elements: cols), first = rows.lowerBound
        pool.parallelRanges(rows.count) { range in
            withUnsafeTemporaryAllocation(of: Float.self, capacity: cols) { tmp in
                for i in range {
                    Kernels.convertRow(view, row: first + i, into: tmp.baseAddress!)
                    let dst = out + i * rowBytes
                    switch dtype {
                    case .q8_0: sq_quantize_row_q8_0(tmp.baseAddress!, dst, Int64(cols))
                    case .q4_K: sq_quantize_row_q4_K(tmp.baseAddress!, dst, Int64(cols))
                    default: sq_quantize_row_q4_0(tmp.baseAddress!, dst, Int64(cols))
                    }
                }
            }
        }
    }
}
