import Foundation

/// One candidate token: id, (processed) logit, and probability once a softmax has run.
/// llama.cpp's `llama_token_data`.
struct TokenCandidate {
    var id: Int32
    var logit: Float
    var p: Float
}

/// The working set the processors narrow down: `count` candidates at the front of a buffer the sampler
/// owns (capacity = vocabulary size, allocated once). llama.cpp's `llama_token_data_array`.
struct CandidateBuffer {
    let base: UnsafeMutablePointer<TokenCandidate>
    let capacity: Int
    /// How many candidates are live; processors only ever shrink it.
    var count: Int = 0
    /// Sorted best-first (logit descending, ties by lower id) over [0, count).
    var sorted = false
    /// base[i].id == i for every live i: true right after loading, until something reorders or drops.
    /// Lets the penalties touch only the seen tokens instead of scanning the whole vocabulary.
    var identityOrder = false

    init(capacity: Int) {
        self.capacity = capacity
        base = .allocate(capacity: capacity)
        base.initialize(repeating: TokenCandidate(id: 0, logit: 0, p: 0), count: capacity)
    }

    func deallocate() {
        base.deallocate()
    }

    /// Copies `logits` in as candidates 0..<n with n = min(logits.count, capacity). NaN logits become
    /// -inf: a broken model output must not poison every probability, and -inf means "never".
    mutating func load(_ logits: UnsafeBufferPointer<Float>) {
        let n = min(logits.count, capacity)
        for i in 0..<n {
            let l = logits[i]
            base[i] = TokenCandidate(id: Int32(truncatingIfNeeded: i), logit: l.isNaN ? -.infinity : l, p: 0)
        }
        count = n
        sorted = false
        identityOrder = true
    }

    subscript(i: Int) -> TokenCandidate {
        get { base[i] }
        nonmutating set { base[i] = newValue }
    }

    /// Index of the best candidate: highest logit, ties to the lowest id.
    func bestIndex() -> Int {
        if sorted { return 0 }
        var best = 0
        for i in 1..<max(count, 1) where CandidateOrder.precedes(base[i], base[best]) {
            best = i
        }
        return best
    }

    /// Keeps only the best candidate (greedy), moved to the front.
    mutating func keepBestOnly() {
        guard count > 0 else { return }
        let b = bestIndex()
        base[0] = base[b]
        count = 1
        sorted = true
        identityOrder = base[0].id == 0
    }

    /// Shrinks to the first `n` candidates.
    mutating func truncate(to n: Int) {
        guard n < count else { return }
        count = max(n, 0)  // a prefix keeps both `sorted` and `identityOrder`
    }

    mutating func sortBestFirst() {
        guard !sorted else { return }
        CandidateOrder.sort(base, count)
        sorted = true
        identityOrder = false
    }

    /// Moves the k best to the front, sorted, and drops the rest (k < count).
    mutating func keepTop(_ k: Int) {
        guard k < count else { return }
        if !sorted {
            CandidateOrder.selectTop(base, count, k)
            sorted = true
        }
        count = k
        identityOrder = false
    }

    /// Softmax of the live logits into `p` (llama.cpp's `llama_sampler_softmax_impl`, without its sort:
    /// nothing that reads `p` here needs the order except top-p, which sorts first itself). Max-subtracted
    /// for range; the sum is accumulated in Double so a 150k vocabulary doesn't lose the tail.
    /// All -inf (everything masked): uniform, rather than 0/0.
    func softmax() {
        guard count > 0 else { return }
        var maxLogit = -Float.infinity
        for i in 0..<count where base[i].logit > maxLogit { maxLogit = base[i].logit }
        if maxLogit == -.infinity {
            let u = 1 / Float(count)
            for i in 0..<count { base[i].p = u }
            return
        }
        var sum = 0.0
        for i in 0..<count {
            let e = expf(base[i].logit - maxLogit)
            base[i].p = e
            sum += Double(e)
        }
        let inv = Float(1 / sum)
        for i in 0..<count { base[i].p *= inv }
    }
}
