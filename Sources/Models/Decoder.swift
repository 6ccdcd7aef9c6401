import Foundation
import ModelFormats
import TensorCore

/// The weights of one decoder layer (Qwen2 / Llama shape).
struct DecoderLayer: @unchecked Sendable {
    var inputNorm: TensorView                         // [hidden]
    var q, k, v, o: TensorView                        // [H*hd, hidden], [kvH*hd, hidden] x2, [hidden, H*hd]
    var qBias, kBias, vBias, oBias: TensorView?
    var postNorm: TensorView                          // [hidden]
    var gate, up, down: TensorView                    // [inter, hidden] x2, [hidden, inter]
    var gateBias, upBias, downBias: TensorView?

    /// The seven projection matrices, in the order a step reads them.
    static var matrices: [WritableKeyPath<DecoderLayer, TensorView>] { [\.q, \.k, \.v, \.o, \.gate, \.up, \.down] }
}

/// One weight of the decoder, named by role; a family's loader maps roles to its checkpoint's tensor names.
public enum DecoderTensor: Sendable, Equatable {
    case embedding, finalNorm, lmHead
    case inputNorm(Int), postNorm(Int)
    case q(Int), k(Int), v(Int), o(Int)
    case qBias(Int), kBias(Int), vBias(Int), oBias(Int)
    case gate(Int), up(Int), down(Int)
    case gateBias(Int), upBias(Int), downBias(Int)
}

/// Where a family keeps its decoder weights (names differ between checkpoints and layouts).
public struct DecoderWeightNames: Sendable {
    /// Prefix of `embed_tokens`, `layers.N.` and `norm` (e.g. `model.` or `model.language_model.`).
    public var prefix: String
    public var lmHead: String

    public init(prefix: String = "model.", lmHead: String = "lm_head.weight") {
        self.prefix = prefix
        self.lmHead = lmHead
    }

    /// The Hugging Face (transformers) name of a decoder weight.
    public func name(_ t: DecoderTensor) -> String {
        let p = prefix
        func l(_ i: Int, _ s: String) -> String { "\(p)layers.\(i).\(s)" }
        switch t {
        case .embedding: return "\(p)embed_tokens.weight"
        case .finalNorm: return "\(p)norm.weight"
        case .lmHead: return lmHead
        case let .inputNorm(i): return l(i, "input_layernorm.weight")
        case let .postNorm(i): return l(i, "post_attention_layernorm.weight")
        case let .q(i): return l(i, "self_attn.q_proj.weight")
        case let .k(i): return l(i, "self_attn.k_proj.weight")
        case let .v(i): return l(i, "self_attn.v_proj.weight")
        case let .o(i): return l(i, "self_attn.o_proj.weight")
        case let .qBias(i): return l(i, "self_attn.q_proj.bias")
        case let .kBias(i): return l(i, "self_attn.k_proj.bias")
        case let .vBias(i): return l(i, "self_attn.v_proj.bias")
        case let .oBias(i): return l(i, "self_attn.o_proj.bias")
        case let .gate(i): return l(i, "mlp.gate_proj.weight")
        case let .up(i): return l(i, "mlp.up_proj.weight")
        case let .down(i): return l(i, "mlp.down_proj.weight")
        case let .gateBias(i): return l(i, "mlp.gate_proj.bias")
        case let .upBias(i): return l(i, "mlp.up_proj.bias")
        case let .downBias(i): return l(i, "mlp.down_proj.bias")
        }
    }
}

/// A pre-norm decoder-only transformer: RMSNorm, rotary attention with grouped KV heads, SwiGLU MLP.
/// Serves Qwen2 (q/k/v biases) and Llama (none), tied or untied embeddings. The matrices of a mapped file
/// are copied at load into one huge-page arena, block-quantized ones repacked for the AVX-512 kernel where
/// it runs (`packMatrices`); an untied embedding stays mapped.
public final class DecoderModel: LanguageModel, @unchecked Sendable {
    public let config: TextConfig
    private(set) var embedding: TensorView  // [vocab, hidden]
    private(set) var layers: [DecoderLayer]
    private(set) var finalNorm: TensorView      // [hidden]
    private(set) var lmHead: TensorView  // [vocab, hidden]
    let rotary: Rotary
    /// Largest number of tokens (or embedding rows) one forward pass processes; longer prompts are prefilled
    /// in chunks.
    public var maxChunk = 512
    /// Rows per block of the MLP within a pass: enough for the matmul kernels to reuse each weight block
    /// across many rows (a 512-token prefill is no slower than with whole-chunk MLPs; measured slightly
    /// faster), few enough that the gate/up scratch stays small. Set before the first forward pass.
    public var mlpRowBlock = 128

    public convenience init(config: TextConfig, weights: WeightStore, names: DecoderWeightNames = DecoderWeightNames()) throws {
        try self.init(config: config, weights: weights, name: names.name)
    }

    /// Weights looked up through `name`, which maps each role to a tensor name of `weights`.
    public init(config: TextConfig, weights: WeightStore, name: (DecoderTensor) -> String) throws {
        self.config = config
        let h = config.hiddenSize, hd = config.headDim
        let qd = config.headCount * hd, kd = config.kvHeadCount * hd, inter = config.intermediateSize
        embedding = try weights.tensor(name(.embedding))
        guard embedding.shape.count == 2, embedding.shape[1] == h, embedding.shape[0] >= 1 else {
            throw ModelFormatError.invalidTensorEntry(path: weights.directory.path, tensor: embedding.name,
                                                      reason: "shape \(embedding.shape) does not match hidden_size \(h)")
        }
        var layers: [DecoderLayer] = []
        for i in 0..<config.layerCount {
            func w(_ t: DecoderTensor, _ shape: [Int]) throws -> TensorView { try weights.tensor(name(t), shape: shape) }
            func b(_ t: DecoderTensor, _ n: Int, _ present: Bool) throws -> TensorView? {
                present ? try weights.tensor(name(t), shape: [n]) : try weights.optionalTensor(name(t), shape: [n])
            }
            layers.append(DecoderLayer(
                inputNorm: try w(.inputNorm(i), [h]),
                q: try w(.q(i), [qd, h]),
                k: try w(.k(i), [kd, h]),
                v: try w(.v(i), [kd, h]),
                o: try w(.o(i), [h, qd]),
                qBias: try b(.qBias(i), qd, config.qkvBias),
                kBias: try b(.kBias(i), kd, config.qkvBias),
                vBias: try b(.vBias(i), kd, config.qkvBias),
                oBias: try b(.oBias(i), h, config.outputBias),
                postNorm: try w(.postNorm(i), [h]),
                gate: try w(.gate(i), [inter, h]),
                up: try w(.up(i), [inter, h]),
                down: try w(.down(i), [h, inter]),
                gateBias: try b(.gateBias(i), inter, config.mlpBias),
                upBias: try b(.upBias(i), inter, config.mlpBias),
                downBias: try b(.downBias(i), h, config.mlpBias)))
        }
        self.layers = layers
        finalNorm = try weights.tensor(name(.finalNorm), shape: [h])
        if config.tieWordEmbeddings && !weights.contains(name(.lmHead)) {
            lmHead = embedding
        } else {
            lmHead = try weights.tensor(name(.lmHead))
            guard lmHead.shape.count == 2, lmHead.shape[1] == h else {
                throw ModelFormatError.invalidTensorEntry(path: weights.directory.path, tensor: lmHead.name,
                                                          reason: "shape \(lmHead.shape) does not match hidden_size \(h)")
            }
        }
        rotary = Rotary(config: config)
        // Matrices to quantize at load (`--quant`): each is quantized as it is copied into the model's
        // memory, so a full quantized copy never sits beside the source (or beside the packed copy).
        let targets = weights.quantizeAtLoad
        let tied = lmHead.data == embedding.data
        if Self.packWeights {
            packMatrices(quantizing: targets)
        } else if !targets.isEmpty {
            self.layers = self.layers.map { l in
                var l = l
                for m in DecoderLayer.matrices { l[keyPath: m] = Self.quantized(l[keyPath: m], targets) }
                return l
            }
            lmHead = Self.quantized(lmHead, targets)
        }
        // The embedding's rows are looked up: quantized on its own unless it is the (tied) output projection.
        embedding = tied ? lmHead : Self.quantized(embedding, targets)
    }

    /// w quantized to its `--quant` target as a heap copy, or w itself when it has none.
    private static func quantized(_ w: TensorView, _ targets: [String: DType]) -> TensorView {
        guard let t = targets[w.name], w.dtype != t else { return w }
        return quantize(w, to: t, into: OwnedBuffer(byteCount: t.byteCount(elements: w.count), zeroed: false), packed: false)
    }

    /// w quantized to t into `buffer`: t's rows, or with `packed` their 16-row packed layout, which is then
    /// the only copy (`data` points into it). 8 MB of source at a time, each slice's pages dropped when w is
    /// mapped from a file (`Quantizer.quantize(_:to:into:packed:)`).
    private static func quantize(_ w: TensorView, to t: DType, into buffer: OwnedBuffer, packed: Bool,
                                 scratch: OwnedBuffer? = nil) -> TensorView {
        let file = w.owner as? MappedFile
        Quantizer.quantize(w, to: t, into: buffer.raw, packed: packed, scratch: scratch) { p, n in file?.release(p, count: n) }
        let q = TensorView(name: w.name, dtype: t, shape: w.shape, data: UnsafeRawPointer(buffer.raw), owner: buffer)
        return packed ? q.withPacked16(buffer) : q
    }

    /// Whether new models copy their mapped matrices into one huge-page arena at load, repacking the
    /// block-quantized ones the AVX-512 decode kernel takes where the CPU has it (see `packMatrices`). Tests
    /// turn it off to compare both layouts.
    public nonisolated(unsafe) static var packWeights = true

    /// Replaces every projection (and the output projection) of a mapped file (GGUF, safetensors), and every
    /// matrix to be quantized at load (`targets`, from `--quant`), by a copy in one huge-page arena, in the
    /// order a step reads them (see PackArena): block-quantized ones repacked 16 rows at a time where the CPU
    /// has the kernel for them (`Kernels.packed`), the others (F16 / BF16 / F32, block types without a packed
    /// layout) as they are. The original pages are dropped once copied, so resident memory stays one copy; a
    /// tied embedding then reads its rows from the copy. A matrix with a target is quantized straight into
    /// the arena, a slice at a time (`Quantizer.quantize(_:to:into:packed:)`), packed where the CPU packs its
    /// type; a packed one keeps no row-major copy at all (`TensorView.isPackedOnly`).
    private func packMatrices(quantizing targets: [String: DType]) {
        // A matrix without a packed layout here (F16/BF16/F32, Q4_1, Q5_1, anything below AVX-512) is copied as is.
        func copiedAsIs(_ w: TensorView) -> Bool { Kernels.packedBytes(w) == 0 }
        func bytes(_ w: TensorView) -> Int {
            if let t = targets[w.name], w.dtype != t {
                let packed = Kernels.packedBytes(t, rows: w.rows, cols: w.cols)
                return PackArena.footprint(packed > 0 ? packed : t.byteCount(elements: w.count))
            }
            guard w.owner is MappedFile else { return 0 }
            return PackArena.footprint(copiedAsIs(w) ? w.byteCount : Kernels.packedBytes(w))
        }
        var total = bytes(lmHead)
        for l in layers { total += DecoderLayer.matrices.reduce(0) { $0 + bytes(l[keyPath: $1]) } }
        guard total > 0 else { return }
        let arena = PackArena(byteCount: total)
        var moved: [ObjectIdentifier: MappedFile] = [:]  // files some matrix was copied out of
        // One packing scratch for every matrix quantized here, sized at once for the largest: a fresh heap
        // buffer per matrix left a hole behind each (65 MB after Qwen2-0.5B's 169 matrices, in some runs), and
        // growing it matrix by matrix still left some (peak RSS 1-12 MB above this, measured).
        var scratch: OwnedBuffer?
        func quantizeAndPack(_ w: TensorView, to t: DType) -> TensorView {
            if let file = w.owner as? MappedFile { moved[ObjectIdentifier(file)] = file }
            let packedBytes = Kernels.packedBytes(t, rows: w.rows, cols: w.cols)
            let bytes = packedBytes > 0 ? packedBytes : t.byteCount(elements: w.count)
            let buffer = arena.take(bytes) ?? OwnedBuffer(byteCount: bytes, zeroed: false, hugePages: true)
            if packedBytes > 0, (scratch?.byteCount ?? 0) < Quantizer.scratchBytes(w, to: t) {
                var most = Quantizer.scratchBytes(w, to: t)
                for m in layers.flatMap({ l in DecoderLayer.matrices.map { l[keyPath: $0] } }) + [lmHead] {
                    most = max(most, Quantizer.scratchBytes(m, to: targets[m.name] ?? t))
                }
                scratch = OwnedBuffer(byteCount: most, zeroed: false, hugePages: true)
            }
            return Self.quantize(w, to: t, into: buffer, packed: packedBytes > 0, scratch: scratch)
        }
        func pack(_ w: TensorView) -> TensorView {
            if let t = targets[w.name], w.dtype != t { return quantizeAndPack(w, to: t) }
            guard let file = w.owner as? MappedFile else { return w }
            var out = w
            if copiedAsIs(w) {
                if let slice = arena.take(w.byteCount) {
                    file.copy(w.data, count: w.byteCount, into: slice.raw)  // pread: no page of the mapping touched
                    file.release(w.data, count: w.byteCount)
                    out = TensorView(name: w.name, dtype: w.dtype, shape: w.shape, data: UnsafeRawPointer(slice.raw), owner: slice)
                }
            } else {
                out = Kernels.packed(w, in: arena) { p, n in file.release(p, count: n) }
            }
            if !(out.owner is MappedFile) || out.packed16 != nil { moved[ObjectIdentifier(file)] = file }
            return out
        }
        layers = layers.map { l in
            var l = l
            for m in DecoderLayer.matrices { l[keyPath: m] = pack(l[keyPath: m]) }
            return l
        }
        let tied = lmHead.data == embedding.data
        lmHead = pack(lmHead)
        if tied { embedding = lmHead }  // rows are then read from the copy (Kernels.convertRow)
        keepOnlyWhatIsReadFromFiles(Array(moved.values))
    }

    /// After packing: the norms and biases (a few KB each, read every step) are copied to the heap, and
    /// every page of a weight file outside the tensors still read from it is dropped. Why: the page cache
    /// holds large files in 2 MB folios, which the kernel maps whole (one PMD) on a fault, so reading a
    /// 3.5 KB norm kept 2 MB of already-copied matrix bytes around it resident, ~55 MB for Qwen2-0.5B
    /// (measured in /proc/PID/smaps: FilePmdMapped), and later faults could map back pages of packed
    /// matrices released earlier. Files none of whose matrices were copied out are left as they are.
    private func keepOnlyWhatIsReadFromFiles(_ files: [MappedFile]) {
        var packedFiles: [ObjectIdentifier: MappedFile] = [:]
        for f in files { packedFiles[ObjectIdentifier(f)] = f }
        if packedFiles.isEmpty { return }
        func own(_ t: TensorView) -> TensorView {
            guard t.packed16 == nil, let f = t.owner as? MappedFile, packedFiles[ObjectIdentifier(f)] != nil else { return t }
            let copy = OwnedBuffer(byteCount: t.byteCount, zeroed: false)
            f.copy(t.data, count: t.byteCount, into: copy.raw)
            return TensorView(name: t.name, dtype: t.dtype, shape: t.shape, data: UnsafeRawPointer(copy.raw), owner: copy)
        }
        func own(_ t: TensorView?) -> TensorView? { t.map { own($0) } }
        layers = layers.map { l in
            var l = l
            l.inputNorm = own(l.inputNorm); l.postNorm = own(l.postNorm)
            l.qBias = own(l.qBias); l.kBias = own(l.kBias); l.vBias = own(l.vBias); l.oBias = own(l.oBias)
            l.gateBias = own(l.gateBias); l.upBias = own(l.upBias); l.downBias = own(l.downBias)
            return l
        }
        finalNorm = own(finalNorm)
        // What is still read through a mapping: an untied embedding, whose rows are looked up (and any
        // matrix the arena had no room for, which does not happen: it is sized for all of them).
        var kept: [ObjectIdentifier: [(UnsafeRawPointer, Int)]] = [:]
        var all = [embedding, lmHead]
        for l in layers { all += DecoderLayer.matrices.map { l[keyPath: $0] } }
        for t in all where t.packed16 == nil {
            if let f = t.owner as? MappedFile { kept[ObjectIdentifier(f), default: []].append((t.data, t.byteCount)) }
        }
        for (id, f) in packedFiles { f.release(keeping: kept[id] ?? []) }
    }

    /// Rows of the output projection: the logits a step produces (may exceed the tokenizer's size).
    public var logitCount: Int { lmHead.shape[0] }

    /// Bytes of weights one decode step reads: every layer, the final norm, the output projection and one
    /// embedding row.
    public var bytesPerToken: Int {
        var total = lmHead.byteCount + finalNorm.byteCount + embedding.dtype.byteCount(elements: embedding.cols)
        for l in layers {
            for t in [l.inputNorm, l.q, l.k, l.v, l.o, l.postNorm, l.gate, l.up, l.down] { total += t.byteCount }
            for t in [l.qBias, l.kBias, l.vBias, l.oBias, l.gateBias, l.upBias, l.downBias] { total += t?.byteCount ?? 0 }
        }
        return total
    }

    public func makeCache(capacity: Int) -> KVCache {
        KVCache(layerCount: config.layerCount, kvHeadCount: config.kvHeadCount, headDim: config.headDim, capacity: capacity)
    }

    public func embed(_ tokens: ArraySlice<Int>, into out: UnsafeMutablePointer<Float>) throws {
        let vocab = embedding.shape[0], h = config.hiddenSize
        for (j, t) in tokens.enumerated() {
            guard t >= 0 && t < vocab else { throw ModelError.tokenOutOfRange(token: t, vocabularySize: vocab) }
            Kernels.convertRow(embedding, row: t, into: out + j * h)
        }
    }

    public func forward(tokens: [Int], cache: KVCache, logits: UnsafeMutablePointer<Float>) throws {
        guard !tokens.isEmpty else { return }
        var start = 0
        while start < tokens.count {
            let end = min(tokens.count, start + maxChunk)
            let n = end - start
            let ws = workspace(for: cache, rows: n)
            try embed(tokens[start..<end], into: ws.x)
            try run(ws: ws, n: n, positions: .sequential(start: cache.count + cache.positionDelta), cache: cache,
                    entries: tokens[start..<end], logits: end == tokens.count ? logits : nil)
            start = end
        }
    }

    public func forward(embeddings: UnsafePointer<Float>, count n: Int, positions: PositionIDs, entries: [Int],
                        cache: KVCache, logits: UnsafeMutablePointer<Float>?) throws {
        precondition(entries.count == n)
        // In chunks of `maxChunk` rows like a token prompt: an image's thousands of embeddings would
        // otherwise size the workspace (several [n, hidden] buffers) to all of them at once.
        let h = config.hiddenSize
        var start = 0
        while start < n {
            let end = min(n, start + maxChunk), m = end - start
            let ws = workspace(for: cache, rows: m)
            ws.x.update(from: embeddings + start * h, count: m * h)
            try run(ws: ws, n: m, positions: positions.slice(start..<end), cache: cache, entries: entries[start..<end],
                    logits: end == n ? logits : nil)
            start = end
        }
    }

    private func workspace(for cache: KVCache, rows: Int) -> Workspace {
        if let ws = cache.workspace, ws.rows >= rows { return ws }
        let ws = Workspace(rows: max(rows, cache.workspace?.rows ?? 0), mlpRowBlock: mlpRowBlock, config: config)
        cache.workspace = ws
        return ws
    }

    /// One decode step for several independent sequences at once: token `tokens[j]` is appended to
    /// `caches[j]` and its logits written to row j of `logits` (`[n, logitCount]`). The weights are read
    /// once for all n rows, which is what makes sampling several candidates nearly free.
    public func forwardBatch(tokens: [Int], caches: [KVCache], logits: UnsafeMutablePointer<Float>) throws {
        let n = tokens.count
        precondition(n == caches.count && n > 0)
        for cache in caches where cache.count + 1 > cache.capacity {
            throw ModelError.contextFull(capacity: cache.capacity, needed: cache.count + 1)
        }
        let ws = workspace(for: caches[0], rows: n)
        try embed(tokens[...], into: ws.x)
        let pos = caches.map { Int32($0.count + $0.positionDelta) }
        try run(ws: ws, n: n, positions: .multimodal(t: pos, h: pos, w: pos), rows: .batch(caches),
                entries: tokens[...], logits: logits)
    }

    /// Where the rows of a pass go: consecutive positions of one sequence, or one row per sequence.
    private enum Rows {
        case sequence(KVCache)
        case batch([KVCache])
    }

    private func run(ws: Workspace, n: Int, positions: PositionIDs, cache: KVCache, entries: ArraySlice<Int>,
                     logits: UnsafeMutablePointer<Float>?) throws {
        guard cache.count + n <= cache.capacity else {
            throw ModelError.contextFull(capacity: cache.capacity, needed: cache.count + n)
        }
        try run(ws: ws, n: n, positions: positions, rows: .sequence(cache), entries: entries, logits: logits)
    }

    /// One pass over `n` rows already in `ws.x` ([n, hidden]); appends their keys/values to the cache(s).
    /// Logits: for a sequence, of its last row; for a batch, of every row (`[n, logitCount]`).
    private func run(ws: Workspace, n: Int, positions: PositionIDs, rows: Rows, entries: ArraySlice<Int>,
                     logits: UnsafeMutablePointer<Float>?) throws {
        let c = config
        let h = c.hiddenSize, hd = c.headDim, H = c.headCount, kvH = c.kvHeadCount
        let inter = c.intermediateSize
        rotary.fill(positions: positions, n: n, cos: ws.cos, sin: ws.sin)
        let scale = 1 / Float(hd).squareRoot()
        for (li, layer) in layers.enumerated() {
            // Attention block: xn = norm(x); q,k,v = proj(xn); rope; cache; attend; x += o(attn).
            Ops.rmsnorm(ws.x, weight: layer.inputNorm, out: ws.xn, rows: n, dim: h, eps: c.rmsNormEps)
            // q [n, H, hd], k and v [n, kvH, hd]: one fused job (one activation quantization, one wait).
            Ops.linear((layer.q, layer.qBias, ws.q), (layer.k, layer.kBias, ws.k), (layer.v, layer.vBias, ws.v), ws.xn, n: n)
            let interleaved = c.rope.interleaved
            Rotary.apply(ws.q, n: n, heads: H, headDim: hd, cos: ws.cos, sin: ws.sin, interleaved: interleaved)
            Rotary.apply(ws.k, n: n, heads: kvH, headDim: hd, cos: ws.cos, sin: ws.sin, interleaved: interleaved)
            switch rows {
            case let .sequence(cache):
                let p0 = cache.count
                let kc = cache.keys(layer: li), vc = cache.values(layer: li)   // [kvH, capacity, hd]
                for j in 0..<n { store(ws, row: j, in: cache, layer: li, at: p0 + j) }
                Ops.attention(q: ws.q, keys: kc, values: vc, out: ws.attn, queries: n, start: p0, heads: H,
                              kvHeads: kvH, headDim: hd, capacity: cache.capacity, scale: scale)  // [n, H, hd]
            case let .batch(caches):
                for (j, cache) in caches.enumerated() { store(ws, row: j, in: cache, layer: li, at: cache.count) }
                // Every (sequence, KV group) pair is independent: one pool job for all of them instead of
                // one per sequence (each too small to keep both cores busy).
                let group = H / kvH
                ThreadPool.shared.parallelFor(caches.count * kvH) { item in
                    let j = item / kvH, g = item % kvH, cache = caches[j]
                    Kernels.attention(q: ws.q + j * H * hd, k: cache.keys(layer: li), v: cache.values(layer: li),
                                      out: ws.attn + j * H * hd, nq: 1, p0: cache.count,
                                      layout: .kvCache(nHeads: H, kvHeads: kvH, headDim: hd, maxSeq: cache.capacity,
                                                       scale: scale),
                                      heads: (g * group)..<((g + 1) * group))
                }
            }
            Ops.linear(layer.o, layer.oBias, ws.attn, ws.xn, n: n)         // [n, hidden]
            Ops.add(ws.x, ws.xn, count: n * h)
            // MLP block: x += down(silu(gate(norm(x))) * up(norm(x))), in blocks of `ws.mlpRows` rows:
            // gate and up are the widest activations (intermediate_size per row) and would otherwise
            // hold a whole chunk's worth. Each row is independent here, so blocking changes no result.
            Ops.rmsnorm(ws.x, weight: layer.postNorm, out: ws.xn, rows: n, dim: h, eps: c.rmsNormEps)
            var r0 = 0
            while r0 < n {
                let m = min(ws.mlpRows, n - r0), xn = ws.xn + r0 * h
                Ops.linear((layer.gate, layer.gateBias, ws.gate), (layer.up, layer.upBias, ws.up), nil, xn, n: m)  // [m, inter] x2
                Ops.siluMul(ws.gate, ws.up, count: m * inter)
                Ops.linear(layer.down, layer.downBias, ws.gate, xn, n: m)  // [m, hidden], over rows already used
                r0 += m
            }
            Ops.add(ws.x, ws.xn, count: n * h)
        }
        switch rows {
        case let .sequence(cache):
            cache.commit(entries)
            if let logits {
                // Only the last position's logits are needed to continue.
                let last = ws.x + (n - 1) * h
                Ops.rmsnorm(last, weight: finalNorm, out: ws.xn, rows: 1, dim: h, eps: c.rmsNormEps)
                Ops.linear(lmHead, nil, ws.xn, logits, n: 1)
            }
        case let .batch(caches):
            for (j, cache) in caches.enumerated() { cache.commit(entries[(entries.startIndex + j)...(entries.startIndex + j)]) }
            if let logits {
                Ops.rmsnorm(ws.x, weight: finalNorm, out: ws.xn, rows: n, dim: h, eps: c.rmsNormEps)
                Ops.linear(lmHead, nil, ws.xn, logits, n: n)               // [n, vocab]
            }
        }
    }

    /// Copies row j's key and value vectors into the cache at position `p`.
    @inline(__always)
    private func store(_ ws: Workspace, row j: Int, in cache: KVCache, layer: Int, at p: Int) {
        let hd = config.headDim, kvH = config.kvHeadCount
        let kc = cache.keys(layer: layer), vc = cache.values(layer: layer)
        for g in 0..<kvH {
            let dst = (g * cache.capacity + p) * hd
            (kc + dst).update(from: ws.k + (j * kvH + g) * hd, count: hd)
            (vc + dst).update(from: ws.v + (j * kvH + g) * hd, count: hd)
        }
    }
}
