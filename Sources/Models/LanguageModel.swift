/// A decoder that turns token ids (or embedding rows, for image features) into next-token logits,
/// keeping its keys and values in a `KVCache`.
public protocol LanguageModel: AnyObject, Sendable {
    var config: TextConfig { get }
    /// Length of the logits vector a step writes.
    var logitCount: Int { get }
    /// Bytes of weights read per decoded token (for the bandwidth bound in `squint bench`).
    var bytesPerToken: Int { get }
    func makeCache(capacity: Int) -> KVCache
    /// Embeds `tokens` into rows of `out` (`[n, hidden]`).
    func embed(_ tokens: ArraySlice<Int>, into out: UnsafeMutablePointer<Float>) throws
    /// Appends `tokens` to the cache at sequential positions and writes the last one's logits.
    func forward(tokens: [Int], cache: KVCache, logits: UnsafeMutablePointer<Float>) throws
    /// Appends `count` rows of embeddings at explicit positions; `entries` marks them in the cache.
    /// One decode step for several sequences: `tokens[j]` appended to `caches[j]`, logits `[n, logitCount]`.
    func forwardBatch(tokens: [Int], caches: [KVCache], logits: UnsafeMutablePointer<Float>) throws
    func forward(embeddings: UnsafePointer<Float>, count: Int, positions: PositionIDs, entries: [Int],
                 cache: KVCache, logits: UnsafeMutablePointer<Float>?) throws
}
