import CKernels

/// Instruction-set levels of the C kernels (see CKernels.h).
public enum KernelISA: Int32, Sendable, CaseIterable, Comparable {
    case scalar = 0
    case avx2 = 1
    case avx512 = 2

    public static func < (a: KernelISA, b: KernelISA) -> Bool { a.rawValue < b.rawValue }
}

/// In-place activations of `Kernels.activation` (codes of CKernels.h `SQ_ACT_*`).
public enum Activation: Int32, Sendable, CaseIterable {
    /// 0.5 x (1 + erf(x / sqrt 2)): nn.GELU(), config "gelu".
    case geluErf = 0
    /// 0.5 x (1 + tanh(sqrt(2/pi) (x + 0.044715 x^3))): "gelu_pytorch_tanh" / "gelu_new".
    case geluTanh = 1
    /// x sigmoid(1.702 x): "quick_gelu".
    case quickGelu = 2
    /// x sigmoid(x): "silu" / "swish".
    case silu = 3
}

/// Which attention kernel runs (`Kernels.attention`'s `kernel`): tests and benchmarks pin one.
public enum AttentionKernel: Sendable, CaseIterable {
    /// sq_attention's choice by size.
    case automatic
    /// One dot product per key for a few query rows at a time: decode and short prompts.
    case streamed
    /// Query tiles against a transposed copy of K, register-blocked QK^T and P.V: prefill, vision encoders.
    case blocked
}

/// Where attention finds each head's rows (strides in floats; see `sq_attention_params` in CKernels.h).
public struct AttentionLayout: Sendable, Equatable {
    public var nHeads: Int
    public var kvHeads: Int
    public var headDim: Int
    /// Floats between consecutive query positions in q and in out.
    public var qRowStride: Int
    public var outRowStride: Int
    /// K/V element (kv head g, key j, d) sits at g * kvHeadStride + j * kvRowStride + d.
    public var kvHeadStride: Int
    public var kvRowStride: Int
    public var scale: Float
    /// Causal: query i (absolute position p0 + i) sees keys 0...p0+i. Otherwise it sees keys 0..<nkv.
    public var causal: Bool

    public init(nHeads: Int, kvHeads: Int, headDim: Int, qRowStride: Int, outRowStride: Int,
                kvHeadStride: Int, kvRowStride: Int, scale: Float, causal: Bool) {
        self.nHeads = nHeads
        self.kvHeads = kvHeads
        self.headDim = headDim
        self.qRowStride = qRowStride
        self.outRowStride = outRowStride
        self.kvHeadStride = kvHeadStride
        self.kvRowStride = kvRowStride
        self.scale = scale
        self.causal = causal
    }

    /// Causal decoder attention over a KV cache laid out [kvHeads, maxSeq, headDim]; q and out [nq, nHeads, headDim].
    public static func kvCache(nHeads: Int, kvHeads: Int, headDim: Int, maxSeq: Int, scale: Float) -> AttentionLayout {
        AttentionLayout(nHeads: nHeads, kvHeads: kvHeads, headDim: headDim,
                        qRowStride: nHeads * headDim, outRowStride: nHeads * headDim,
                        kvHeadStride: maxSeq * headDim, kvRowStride: headDim, scale: scale, causal: true)
    }

    /// q [seq, nHeads, headDim], k and v [seq, kvHeads, headDim] straight out of projections (vision
    /// encoders: usually not causal).
    public static func packed(nHeads: Int, kvHeads: Int, headDim: Int, scale: Float, causal: Bool) -> AttentionLayout {
        AttentionLayout(nHeads: nHeads, kvHeads: kvHeads, headDim: headDim,
                        qRowStride: nHeads * headDim, outRowStride: nHeads * headDim,
                        kvHeadStride: headDim, kvRowStride: kvHeads * headDim, scale: scale, causal: causal)
    }
}

/// The hot kernels, threaded over `ThreadPool`. Pointer based and allocation free; every one has a naive
/// twin in `Reference`. Shapes are preconditions of the caller (the model code), not checked here.
public enum Kernels {
    /// Below this many multiply-adds a call runs on the caller's thread (waking workers costs more).
    static let serialWork = 1 << 15

    // MARK: Dispatch level

    /// The best level the CPU supports.
    public static var detectedISA: KernelISA { KernelISA(rawValue: sq_detect_isa()) ?? .scalar }
    /// The level in use (detected, lowered by `SQUINT_ISA=scalar|avx2|avx512` or `setISA`).
    public static var activeISA: KernelISA { KernelISA(rawValue: sq_get_isa()) ?? .scalar }
    /// Forces a level (clamped to what the CPU has); nil restores the default. Returns the level in use.
    /// For tests and benchmarks; call it between kernels, not while they run.
    @discardableResult
    public static func setISA(_ isa: KernelISA?) -> KernelISA {
        KernelISA(rawValue: sq_set_isa(isa?.rawValue ?? -1)) ?? .scalar
    }

    // MARK: Kernels

    /// y[t, r] = sum_c w[r, c] * x[t, c] for t < n, r < w.rows. x: [n, w.cols]; y: [n, ldy] (ldy defaults
    /// to w.rows). Any dtype, quantized included (w.cols a multiple of the block size). Block-quantized
    /// weights take `matmulInt8Activations` (llama.cpp's int8 activations) wherever it is the faster path
    /// (decode and compare batches always; prefill with the AVX-512 VNNI packed kernels), otherwise
    /// `matmulF32Activations`. Rows are split across the pool in chunks aligned to the kernel's row tile (16-row
    /// groups for packed copies, 32-row panels for the AVX-512 prefill GEMM).
    public static func matmul(_ w: TensorView, _ x: UnsafePointer<Float>, _ y: UnsafeMutablePointer<Float>, n: Int,
                              ldy: Int? = nil, pool: ThreadPool = .shared) {
        switch path(w, n: n) {
        case let .packed(p): matmulPacked16(w, p, x, y, n: n, ldy: ldy, pool: pool)
        case .int8: matmulInt8Activations(w, x, y, n: n, ldy: ldy, pool: pool)
        case .float: matmulF32Activations(w, x, y, n: n, ldy: ldy, pool: pool)
        }
    }

    /// The kernel `matmul` uses for w with n tokens: the 16-row packed copy, int8 activations, or f32.
    private enum MatmulPath { case packed(UnsafeRawPointer), int8, float }
    private static func path(_ w: TensorView, n: Int) -> MatmulPath {
        // A packed-only matrix (quantized at load) has no row-major bytes for the other paths to read.
        if let p = w.packed16, int8Activations || w.isPackedOnly { return .packed(UnsafeRawPointer(p.raw)) }
        if int8Activations, sq_matmul_uses_q8act(w.dtype.kernelCode, Int64(w.cols), Int64(n)) != 0 { return .int8 }
        return .float
    }

    /// `matmul` of up to three matrices with the same input (a layer's q/k/v, or gate/up) as one pool job:
    /// the activations are quantized once and the matrices' rows form one range split across the threads,
    /// so a decode step waits for one job's slowest chunk instead of three. Each matrix takes the path
    /// `matmul` would take for it and every row is computed as `matmul` computes it (the results are
    /// identical). Matrices whose column counts differ fall back to separate `matmul` calls.
    public static func matmul(_ a: (TensorView, UnsafeMutablePointer<Float>), _ b: (TensorView, UnsafeMutablePointer<Float>),
                              _ c: (TensorView, UnsafeMutablePointer<Float>)? = nil, x: UnsafePointer<Float>, n: Int,
                              pool: ThreadPool = .shared) {
        let cols = a.0.cols
        guard n > 0, b.0.cols == cols, c.map({ $0.0.cols == cols }) ?? true else {
            matmul(a.0, x, a.1, n: n, pool: pool)
            matmul(b.0, x, b.1, n: n, pool: pool)
            if let c { matmul(c.0, x, c.1, n: n, pool: pool) }
            return
        }
        let pa = FusedPart(a.0, a.1, n: n), pb = FusedPart(b.0, b.1, n: n)
        let pc = c.map { FusedPart($0.0, $0.1, n: n) }
        let total = pa.units + pb.units + (pc?.units ?? 0)
        // Closures passed straight to the pool (non-escaping): nothing is allocated per call.
        if pa.int8 || pb.int8 || (pc?.int8 ?? false) {
            withQuantizedActivations(x, n: n, cols: cols, pool: pool) { act in
                pool.parallelRanges(total) { r in FusedPart.run(pa, pb, pc, UnsafeRawPointer(act), x, n: n, units: r) }
            }
        } else {
            pool.parallelRanges(total) { r in FusedPart.run(pa, pb, pc, nil, x, n: n, units: r) }
        }
    }

    /// One matrix of a fused `matmul`: its path and its rows in units (16-row groups for the packed kernel,
    /// the path's row alignment otherwise).
    private struct FusedPart {
        let w: TensorView, y: UnsafeMutablePointer<Float>, path: MatmulPath, unit: Int, units: Int
        var int8: Bool { if case .float = path { false } else { true } }

        init(_ w: TensorView, _ y: UnsafeMutablePointer<Float>, n: Int) {
            self.w = w
            self.y = y
            path = Kernels.path(w, n: n)
            switch path {
            case .packed: unit = 16
            case .int8: unit = Int(sq_matmul_row_tile())
            case .float:
                precondition(w.cols % w.dtype.blockSize == 0, "\(w.name): \(w.dtype) rows of \(w.cols) are not whole blocks")
                unit = Int(sq_matmul_f32act_row_align(w.dtype.kernelCode, Int64(n)))
            }
            units = (w.rows + unit - 1) / unit
        }

        /// Units r of the concatenation a, b, c: the part inside each matrix.
        static func run(_ a: FusedPart, _ b: FusedPart, _ c: FusedPart?, _ act: UnsafeRawPointer?,
                        _ x: UnsafePointer<Float>, n: Int, units r: Range<Int>) {
            a.run(act, x, n: n, units: clip(r, 0, a.units))
            b.run(act, x, n: n, units: clip(r, a.units, b.units))
            if let c { c.run(act, x, n: n, units: clip(r, a.units + b.units, c.units)) }
        }

        /// r shifted to a matrix whose units start at `start`, cut to its `count` units (maybe empty).
        static func clip(_ r: Range<Int>, _ start: Int, _ count: Int) -> Range<Int> {
            let lo = max(r.lowerBound - start, 0), hi = min(r.upperBound - start, count)
            return lo < hi ? lo..<hi : 0..<0
        }

        func run(_ act: UnsafeRawPointer?, _ x: UnsafePointer<Float>, n: Int, units r: Range<Int>) {
            guard !r.isEmpty else { return }
            let code = w.dtype.kernelCode, rows = w.rows, cols = Int64(w.cols)
            let r0 = Int64(r.lowerBound * unit), r1 = Int64(min(rows, r.upperBound * unit))
            switch path {
            case let .packed(p):
                sq_matmul_pack16(code, p, act, y, Int64(n), cols, Int64(rows), Int64(r.lowerBound), Int64(r.upperBound))
            case .int8:
                sq_matmul_q8act(code, w.data, act, y, Int64(n), cols, Int64(rows), r0, r1)
            case .float:
                sq_matmul_f32act(code, w.data, x, y, Int64(n), cols, Int64(rows), r0, r1)
            }
        }
    }

    /// `matmul` for block-quantized weights with int8 activations: x is quantized once per call to blocks
    /// of 32 int8 with an f32 scale (quant_int8_template.h), then every thread runs integer block dot
    /// products on its rows. `matmulF32Activations` is its f32 reference twin.
    public static func matmulInt8Activations(_ w: TensorView, _ x: UnsafePointer<Float>, _ y: UnsafeMutablePointer<Float>,
                                             n: Int, ldy: Int? = nil, pool: ThreadPool = .shared) {
        let rows = w.rows, cols = w.cols, stride = ldy ?? rows
        if n <= 0 || rows <= 0 { return }
        precondition(!w.isPackedOnly, "\(w.name): only a packed copy exists (use matmul)")
        let code = w.dtype.kernelCode
        precondition(sq_matmul_q8act_supported(code, Int64(cols)) != 0,
                     "\(w.name): \(w.dtype) rows of \(cols) have no int8-activation kernel")
        let data = w.data
        withQuantizedActivations(x, n: n, cols: cols, pool: pool) { act in
            if rows * cols * n < serialWork {
                sq_matmul_q8act(code, data, act, y, Int64(n), Int64(cols), Int64(stride), 0, Int64(rows))
                return
            }
            pool.parallelRanges(rows, align: Int(sq_matmul_row_tile())) { range in
                sq_matmul_q8act(code, data, act, y, Int64(n), Int64(cols), Int64(stride),
                                Int64(range.lowerBound), Int64(range.upperBound))
            }
        }
    }

    /// x [n, cols] quantized to int8 blocks (sq_quantize_act, rows split across the pool when large) in a
    /// temporary buffer, handed to `body`.
    private static func withQuantizedActivations(_ x: UnsafePointer<Float>, n: Int, cols: Int, pool: ThreadPool,
                                                 _ body: (UnsafeMutableRawPointer) -> Void) {
        withUnsafeTemporaryAllocation(byteCount: Int(sq_q8act_bytes(Int64(n), Int64(cols))), alignment: 64) { buf in
            let act = buf.baseAddress!
            if n * cols < serialWork {
                sq_quantize_act(x, Int64(n), Int64(cols), act, 0, Int64(n))
            } else {
                pool.parallelRanges(n) { r in
                    sq_quantize_act(x, Int64(n), Int64(cols), act, Int64(r.lowerBound), Int64(r.upperBound))
                }
            }
            body(act)
        }
    }

    /// `matmul` over a Q8_0 / Q4_0 / Q5_0 / Q4_K / Q5_K / Q6_K matrix's 16-row packed copy (pack16.c): the activations quantized as
    /// for `matmulInt8Activations`, the rows split across threads in groups of 16.
    static func matmulPacked16(_ w: TensorView, _ p: UnsafeRawPointer, _ x: UnsafePointer<Float>, _ y: UnsafeMutablePointer<Float>,
                               n: Int, ldy: Int?, pool: ThreadPool) {
        let rows = w.rows, cols = w.cols, stride = ldy ?? rows
        if n <= 0 || rows <= 0 { return }
        let code = w.dtype.kernelCode
        withQuantizedActivations(x, n: n, cols: cols, pool: pool) { act in
            let groups = rows / 16
            if rows * cols * n < serialWork {
                sq_matmul_pack16(code, p, act, y, Int64(n), Int64(cols), Int64(stride), 0, Int64(groups))
                return
            }
            pool.parallelRanges(groups) { g in
                sq_matmul_pack16(code, p, act, y, Int64(n), Int64(cols), Int64(stride),
                                 Int64(g.lowerBound), Int64(g.upperBound))
            }
        }
    }

    /// `w` with a 16-row packed copy attached when this CPU has the AVX-512 kernel for it (Q8_0 / Q4_0 /
    /// Q5_0 / Q4_K / Q5_K / Q6_K, rows a multiple of 16, K-quant rows of whole super-blocks), else `w` itself. The copy has the original's size; `release` is called with
    /// the original bytes once they are copied (a mapped file drops its pages: matmuls no longer read them).
    /// With an arena, the copy is its next `packedBytes(w)` bytes (see `PackArena`).
    public static func packed(_ w: TensorView, in arena: PackArena? = nil, pool: ThreadPool = .shared,
                              release: (UnsafeRawPointer, Int) -> Void = { _, _ in }) -> TensorView {
        guard packedBytes(w) > 0 else { return w }
        return packedCopy(w, in: arena, pool: pool, release: release)
    }

    /// Bytes of the packed copy `packed` would make of w on this CPU, 0 where it keeps w as it is.
    public static func packedBytes(_ w: TensorView) -> Int {
        w.packed16 == nil ? packedBytes(w.dtype, rows: w.rows, cols: w.cols) : 0
    }

    /// Bytes of the packed copy of a [rows, cols] matrix of `dtype` on this CPU, 0 where it is not packed.
    public static func packedBytes(_ dtype: DType, rows: Int, cols: Int) -> Int {
        let code = dtype.kernelCode
        guard sq_pack16_preferred(code, Int64(rows), Int64(cols)) != 0 else { return 0 }
        return Int(sq_pack16_bytes(code, Int64(rows), Int64(cols)))
    }

    /// `packed` without the CPU check (tests run the packed kernels on every ISA).
    public static func packedCopy(_ w: TensorView, in arena: PackArena? = nil, pool: ThreadPool = .shared,
                                  release: (UnsafeRawPointer, Int) -> Void = { _, _ in }) -> TensorView {
        let code = w.dtype.kernelCode, rows = w.rows, cols = w.cols
        precondition(sq_pack16_supported(code, Int64(rows), Int64(cols)) != 0, "\(w.name): \(w.dtype) [\(rows), \(cols)] cannot be packed")
        let bytes = Int(sq_pack16_bytes(code, Int64(rows), Int64(cols)))
        let buffer = arena?.take(bytes) ?? OwnedBuffer(byteCount: bytes, zeroed: false, hugePages: true)
        let src = w.data, dst = buffer.raw
        // In slices of about 8 MB, each released once copied: the peak is the packed copy plus one slice,
        // not plus the whole original (a 150 MB output projection would otherwise raise it by that much).
        let groups = rows / 16, groupBytes = w.byteCount / groups
        let slice = max(1, (8 << 20) / max(groupBytes, 1))
        var g0 = 0
        while g0 < groups {
            let g1 = min(groups, g0 + slice)
            pool.parallelRanges(g1 - g0) { g in
                sq_pack16(code, src, dst, Int64(cols), Int64(g0 + g.lowerBound), Int64(g0 + g.upperBound))
            }
            release(src + g0 * groupBytes, (g1 - g0) * groupBytes)
            g0 = g1
        }
        return w.withPacked16(buffer)
    }

    /// Whether `matmul` may take the int8-activation path for block-quantized weights (default true; false
    /// makes every matmul use `matmulF32Activations`, for A/B comparisons). Set it between kernels only.
    public nonisolated(unsafe) static var int8Activations = true

    /// `matmul` with f32 activations for every dtype: quantized weights are dequantized in registers
    /// (decode) or in panels (prefill) and accumulated in f32, with no rounding of x. The only path for
    /// F32/F16/BF16; for block-quantized weights, the reference twin of the int8 path.
    public static func matmulF32Activations(_ w: TensorView, _ x: UnsafePointer<Float>, _ y: UnsafeMutablePointer<Float>,
                                            n: Int, ldy: Int? = nil, pool: ThreadPool = .shared) {
        let rows = w.rows, cols = w.cols, stride = ldy ?? rows
        if n <= 0 || rows <= 0 { return }
        precondition(!w.isPackedOnly, "\(w.name): only a packed copy exists (use matmul)")
        precondition(cols % w.dtype.blockSize == 0, "\(w.name): \(w.dtype) rows of \(cols) are not whole blocks")
        let code = w.dtype.kernelCode
        let data = w.data
        if rows * cols * n < serialWork {
            sq_matmul_f32act(code, data, x, y, Int64(n), Int64(cols), Int64(stride), 0, Int64(rows))
            return
        }
        pool.parallelRanges(rows, align: Int(sq_matmul_f32act_row_align(code, Int64(n)))) { range in
            sq_matmul_f32act(code, data, x, y, Int64(n), Int64(cols), Int64(stride),
                             Int64(range.lowerBound), Int64(range.upperBound))
        }
    }

    /// x [n, cols] (cols a multiple of 32) as the int8 blocks `matmul` feeds its integer dot products
    /// (sq_quantize_act with the active ISA): for tests against `Reference.quantizeActivations`.
    public static func quantizeActivations(_ x: UnsafePointer<Float>, n: Int, cols: Int) -> QuantizedActivations {
        precondition(cols % 32 == 0, "activation rows of \(cols) are not whole blocks of 32")
        let blocks = n * cols / 32
        var buf = [UInt8](repeating: 0, count: Int(sq_q8act_bytes(Int64(n), Int64(cols))))
        buf.withUnsafeMutableBytes { sq_quantize_act(x, Int64(n), Int64(cols), $0.baseAddress!, 0, Int64(n)) }
        return buf.withUnsafeBytes { raw in
            let q = Array(raw.bindMemory(to: Int8.self).prefix(n * cols))
            var d = [Float](repeating: 0, count: blocks), s = d
            d.withUnsafeMutableBytes { $0.copyMemory(from: UnsafeRawBufferPointer(rebasing: raw[(n * cols)..<(n * cols + 4 * blocks)])) }
            s.withUnsafeMutableBytes { $0.copyMemory(from: UnsafeRawBufferPointer(rebasing: raw[(n * cols + 4 * blocks)..<(n * cols + 8 * blocks)])) }
            return QuantizedActivations(q: q, d: d, s: s)
        }
    }

    /// For each of `rows` rows of length n: out = x / sqrt(mean(x^2) + eps) * (weight + weightOffset).
    /// weightOffset is 1 for Gemma-style norms that scale by (1 + weight). out may equal x.
    public static func rmsnorm(x: UnsafePointer<Float>, weight: TensorView?, out: UnsafeMutablePointer<Float>,
                               n: Int, rows: Int = 1, eps: Float, weightOffset: Float = 0,
                               pool: ThreadPool = .shared) {
        if n <= 0 || rows <= 0 { return }
        precondition(weight.map { !$0.dtype.isQuantized } ?? true, "norm weights must be F32, F16 or BF16")
        let code = weight?.dtype.kernelCode ?? 0
        let w = weight?.data
        let one = { (r: Int) in
            sq_rmsnorm(x + r * n, code, w, weightOffset, out + r * n, Int64(n), eps)
        }
        if rows * n < serialWork {
            for r in 0..<rows { one(r) }
        } else {
            pool.parallelFor(rows, one)
        }
    }

    /// torch.nn.LayerNorm over each of `rows` rows of n: (x - mean) / sqrt(var + eps) * weight + bias
    /// (biased variance, f32 statistics). weight and bias may be nil. out may equal x.
    public static func layerNorm(x: UnsafePointer<Float>, weight: TensorView?, bias: TensorView?,
                                 out: UnsafeMutablePointer<Float>, n: Int, rows: Int = 1, eps: Float,
                                 pool: ThreadPool = .shared) {
        if n <= 0 || rows <= 0 { return }
        precondition(![weight, bias].contains { $0?.dtype.isQuantized ?? false }, "norm weights must be F32, F16 or BF16")
        if let weight, let bias, weight.dtype != bias.dtype {
            // The kernel takes one dtype for both: widen both rows to f32 first (rare; stack scratch).
            withUnsafeTemporaryAllocation(of: Float.self, capacity: 2 * n) { scratch in
                let w = scratch.baseAddress!, b = w + n
                convertRow(weight, row: 0, into: w)
                convertRow(bias, row: 0, into: b)
                layerNormRows(x: x, code: DType.f32.kernelCode, w: UnsafeRawPointer(w), b: UnsafeRawPointer(b),
                              out: out, n: n, rows: rows, eps: eps, pool: pool)
            }
            return
        }
        layerNormRows(x: x, code: (weight ?? bias)?.dtype.kernelCode ?? 0, w: weight?.data, b: bias?.data,
                      out: out, n: n, rows: rows, eps: eps, pool: pool)
    }

    private static func layerNormRows(x: UnsafePointer<Float>, code: Int32, w: UnsafeRawPointer?, b: UnsafeRawPointer?,
                                      out: UnsafeMutablePointer<Float>, n: Int, rows: Int, eps: Float, pool: ThreadPool) {
        let one = { (r: Int) in sq_layernorm(x + r * n, code, w, b, out + r * n, Int64(n), eps) }
        if rows * n < serialWork {
            for r in 0..<rows { one(r) }
        } else {
            pool.parallelFor(rows, one)
        }
    }

    /// x[i] = act(x[i]) for i < n, in place.
    public static func activation(_ kind: Activation, _ x: UnsafeMutablePointer<Float>, n: Int,
                                  pool: ThreadPool = .shared) {
        if n < serialWork {
            sq_activation(kind.rawValue, x, Int64(n))
            return
        }
        pool.parallelRanges(n, align: 16) { r in
            sq_activation(kind.rawValue, x + r.lowerBound, Int64(r.count))
        }
    }

    /// gate[i] = silu(gate[i]) * up[i] for i < n.
    public static func siluMul(gate: UnsafeMutablePointer<Float>, up: UnsafePointer<Float>, n: Int,
                               pool: ThreadPool = .shared) {
        if n < serialWork {
            sq_silu_mul(gate, up, Int64(n))
            return
        }
        pool.parallelRanges(n, align: 16) { r in
            sq_silu_mul(gate + r.lowerBound, up + r.lowerBound, Int64(r.count))
        }
    }

    /// y[i] = a[i] + b[i] for i < n; y may equal a or b (a residual add in place).
    public static func add(_ a: UnsafePointer<Float>, _ b: UnsafePointer<Float>, into y: UnsafeMutablePointer<Float>,
                           n: Int, pool: ThreadPool = .shared) {
        if n < serialWork * 4 {
            sq_add(y, a, b, Int64(n))
            return
        }
        pool.parallelRanges(n, align: 16) { r in
            sq_add(y + r.lowerBound, a + r.lowerBound, b + r.lowerBound, Int64(r.count))
        }
    }

    /// x[i] = table[f16 bits of x[i]] (round to nearest even) where lo < x[i] < hi, 0 where x[i] <= lo,
    /// unchanged otherwise (x >= hi, NaN; a NaN lo never zeroes): ggml's FP16 activation tables.
    /// `table` holds 65536 floats.
    public static func f16Table(_ table: UnsafePointer<Float>, _ x: UnsafeMutablePointer<Float>, n: Int,
                                lo: Float, hi: Float) {
        sq_f16_table(table, x, Int64(n), lo, hi)
    }

    /// Row `row` of a [rows, cols] tensor widened (or dequantized, bit-identical to gguf-py) to f32 into
    /// `out` (an embedding lookup). Quantized rows are whole blocks (GGUFFile checks cols).
    /// Reads the packed copy where there is one (an embedding tied to a packed output projection: its
    /// mapped pages were dropped, and reading them again would fault in whole neighbourhoods of the file).
    public static func convertRow(_ t: TensorView, row: Int, into out: UnsafeMutablePointer<Float>) {
        let cols = t.cols
        if let p = t.packed16 {
            sq_pack16_row(t.dtype.kernelCode, p.raw, Int64(cols), Int64(row), out)
            return
        }
        sq_convert_row(t.dtype.kernelCode, t.data + row * t.dtype.byteCount(elements: cols), out, Int64(cols))
    }

    /// `attention` for query heads [heads) only, on the calling thread (sq_attention's choice of kernel):
    /// for callers that spread several independent attentions over the pool themselves.
    public static func attention(q: UnsafePointer<Float>, k: UnsafePointer<Float>, v: UnsafePointer<Float>,
                                 out: UnsafeMutablePointer<Float>, nq: Int, p0: Int, layout l: AttentionLayout,
                                 heads: Range<Int>) {
        if nq <= 0 || heads.isEmpty { return }
        var params = attentionParams(q: q, k: k, v: v, out: out, nq: nq, p0: p0, nkv: p0 + nq, layout: l)
        sq_attention(&params, Int64(heads.lowerBound), Int64(heads.upperBound))
    }

    private static func attentionParams(q: UnsafePointer<Float>, k: UnsafePointer<Float>, v: UnsafePointer<Float>,
                                        out: UnsafeMutablePointer<Float>, nq: Int, p0: Int, nkv: Int,
                                        layout l: AttentionLayout) -> sq_attention_params {
        sq_attention_params(
            q: q, k: k, v: v, out: out, nq: Int64(nq), p0: Int64(p0), nkv: Int64(nkv),
            n_heads: Int64(l.nHeads), kv_heads: Int64(l.kvHeads), head_dim: Int64(l.headDim),
            q_row_stride: Int64(l.qRowStride), out_row_stride: Int64(l.outRowStride),
            kv_head_stride: Int64(l.kvHeadStride), kv_row_stride: Int64(l.kvRowStride),
            scale: l.scale, causal: l.causal ? 1 : 0)
    }

    /// Attention for nq queries at absolute positions p0 ..< p0+nq (see `AttentionLayout`); heads are
    /// split across the pool. nkv is the key count for non-causal layouts (default p0 + nq).
    /// `kernel` picks one of the two C kernels for tests and benchmarks; `.automatic` (the default) lets
    /// sq_attention choose (query-blocked with >= 8 query rows per KV head, streamed below).
    public static func attention(q: UnsafePointer<Float>, k: UnsafePointer<Float>, v: UnsafePointer<Float>,
                                 out: UnsafeMutablePointer<Float>, nq: Int, p0: Int, nkv: Int? = nil,
                                 layout l: AttentionLayout, kernel: AttentionKernel = .automatic,
                                 pool: ThreadPool = .shared) {
        if nq <= 0 || l.nHeads <= 0 { return }
        var params = attentionParams(q: q, k: k, v: v, out: out, nq: nq, p0: p0, nkv: nkv ?? (p0 + nq), layout: l)
        withUnsafePointer(to: &params) { p in
            let keys = l.causal ? p0 + nq : (nkv ?? (p0 + nq))
            let run: @Sendable (UnsafePointer<sq_attention_params>, Int64, Int64) -> Void
            switch kernel {
            case .automatic: run = { sq_attention($0, $1, $2) }
            case .streamed: run = { sq_attention_stream($0, $1, $2) }
            // A failed scratch allocation falls back to the streamed twin, as sq_attention does.
            case .blocked: run = { if sq_attention_blocked($0, $1, $2) == 0 { sq_attention_stream($0, $1, $2) } }
            }
            if l.nHeads * nq * keys * l.headDim < serialWork {
                run(p, 0, Int64(l.nHeads))
                return
            }
            // Decode and short prompts (the streamed kernel): a chunk takes whole GQA groups where there are
            // enough for every thread, else runs of 4 heads (the kernel's tile), so that the query heads
            // sharing a KV head share its K/V loads in one tile instead of padding tiles of 1-2 heads each
            // (measured: decode at 512-640 tokens of context spent 30% of its time in attention).
            let group = l.kvHeads > 0 ? max(1, l.nHeads / l.kvHeads) : 1
            let align = nq >= 8 ? 1 : (l.kvHeads >= pool.threadCount ? group : min(group, 4))
            pool.parallelRanges(l.nHeads, align: align) { r in
                run(p, Int64(r.lowerBound), Int64(r.upperBound))
            }
        }
    }
}
