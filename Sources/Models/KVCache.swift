import TensorCore

/// Keys and values of every layer for one sequence, plus the scratch buffers its forward passes use, so
/// decoding a token allocates nothing. Layout per layer: `[kvHeads, capacity, headDim]` f32, the layout
/// the attention kernel streams over.
public final class KVCache: @unchecked Sendable {
    public let layerCount: Int
    public let kvHeadCount: Int
    public let headDim: Int
    public let capacity: Int
    /// Tokens held (positions 0..<count are filled).
    public private(set) var count: Int = 0
    /// What was fed at each cached position: a token id, or a negative marker for an embedding row
    /// (image features), used to find the prefix a new prompt shares with the cache.
    public private(set) var entries: [Int] = []
    /// M-RoPE models: the offset between the next text position and the cache index (`rope_deltas`).
    public var positionDelta: Int = 0

    let keys: UnsafeMutablePointer<Float>    // [layers, kvHeads, capacity, headDim]
    let values: UnsafeMutablePointer<Float>  // [layers, kvHeads, capacity, headDim]
    let layerStride: Int
    var workspace: Workspace?

    public init(layerCount: Int, kvHeadCount: Int, headDim: Int, capacity: Int) {
        self.layerCount = layerCount
        self.kvHeadCount = kvHeadCount
        self.headDim = headDim
        self.capacity = capacity
        layerStride = kvHeadCount * capacity * headDim
        let total = layerCount * layerStride
        keys = .allocate(capacity: max(total, 1))
        values = .allocate(capacity: max(total, 1))
        entries.reserveCapacity(capacity)
    }

    deinit {
        keys.deallocate()
        values.deallocate()
    }

    /// Bytes held by keys and values.
    public var byteCount: Int { 2 * layerCount * layerStride * MemoryLayout<Float>.size }

    public func keys(layer: Int) -> UnsafeMutablePointer<Float> { keys + layer * layerStride }
    public func values(layer: Int) -> UnsafeMutablePointer<Float> { values + layer * layerStride }

    /// Forgets everything from position `n` on (a new prompt that shares only the first `n` entries).
    public func truncate(to n: Int) {
        precondition(n >= 0 && n <= count)
        count = n
        entries.removeLast(entries.count - n)
    }

    public func reset() {
        truncate(to: 0)
        positionDelta = 0
    }

    /// Marks `newEntries` as appended; the model has written their keys and values.
    func commit(_ newEntries: ArraySlice<Int>) {
        entries.append(contentsOf: newEntries)
        count += newEntries.count
    }

    /// Copies the first `n` positions of `other` into this cache (same shape), e.g. to fork a prompt's
    /// cache into several candidates.
    public func copyPrefix(from other: KVCache, count n: Int) {
        precondition(other.layerCount == layerCount && other.kvHeadCount == kvHeadCount && other.headDim == headDim)
        precondition(n <= other.count && n <= capacity)
        for layer in 0..<layerCount {
            for h in 0..<kvHeadCount {
                let src = layer * other.layerStride + h * other.capacity * headDim
                let dst = layer * layerStride + h * capacity * headDim
                (keys + dst).update(from: other.keys + src, count: n * headDim)
                (values + dst).update(from: other.values + src, count: n * headDim)
            }
        }
        count = n
        entries = Array(other.entries.prefix(n))
        positionDelta = other.positionDelta
    }

    /// The number of leading entries shared with `prompt`.
    public func sharedPrefix(with prompt: [Int]) -> Int {
        var i = 0
        let limit = min(entries.count, prompt.count)
        while i < limit && entries[i] == prompt[i] { i += 1 }
        return i
    }
}

/// Scratch for one forward pass of up to `rows` tokens. Sized once per cache and grown only when a
/// longer chunk arrives, never per token. The MLP's `gate` and `up` hold only `mlpRows` rows: the MLP
/// runs in row blocks (`DecoderModel.mlpRowBlock`), so a 512-token prefill of Qwen2-0.5B needs 5 MB
/// for them instead of 20 MB.
final class Workspace {
    let rows: Int
    let mlpRows: Int
    let x, xn, q, k, v, attn, gate, up, cos, sin: UnsafeMutablePointer<Float>

    init(rows: Int, mlpRowBlock: Int, config: TextConfig) {
        self.rows = rows
        mlpRows = max(1, min(rows, mlpRowBlock))
        let h = config.hiddenSize, qd = config.headCount * config.headDim, kd = config.kvHeadCount * config.headDim
        let half = config.headDim / 2
        x = .allocate(capacity: rows * h)
        xn = .allocate(capacity: rows * h)
        q = .allocate(capacity: rows * qd)
        k = .allocate(capacity: rows * kd)
        v = .allocate(capacity: rows * kd)
        attn = .allocate(capacity: rows * qd)
        gate = .allocate(capacity: mlpRows * config.intermediateSize)
        up = .allocate(capacity: mlpRows * config.intermediateSize)
        cos = .allocate(capacity: rows * half)
        sin = .allocate(capacity: rows * half)
    }

    deinit {
        for p in [x, xn, q, k, v, attn, gate, up, cos, sin] { p.deallocate() }
    }
}
