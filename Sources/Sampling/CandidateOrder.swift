/// In-place ordering of candidates, best first. Hand-written (introsort and quickselect) because the
/// standard library's sort is a merge sort that allocates scratch space, and the sampler must not
/// allocate per token.
///
/// The order is total: higher logit first, equal logits by lower id. Ids are unique, so no two
/// candidates compare equal, which keeps ties deterministic ("ties go to the lowest id") and the
/// partitions simple.
enum CandidateOrder {
    typealias Ptr = UnsafeMutablePointer<TokenCandidate>

    @inline(__always)
    static func precedes(_ a: TokenCandidate, _ b: TokenCandidate) -> Bool {
        a.logit > b.logit || (a.logit == b.logit && a.id < b.id)
    }

    /// Sorts [0, n) best first.
    static func sort(_ p: Ptr, _ n: Int) {
        guard n > 1 else { return }
        introsort(p, 0, n, depthLimit: 2 * (Int.bitWidth - n.leadingZeroBitCount))
    }

    /// Rearranges [0, n) so that [0, k) holds the k best, sorted; the rest is in no particular order.
    /// Quickselect (expected O(n)) then a sort of the k; falls back to a full sort if the partitions
    /// degrade, so the worst case stays O(n log n).
    static func selectTop(_ p: Ptr, _ n: Int, _ k: Int) {
        guard k > 0, k < n else {
            sort(p, n)
            return
        }
        var lo = 0
        var hi = n
        var budget = 2 * (Int.bitWidth - n.leadingZeroBitCount)
        while hi - lo > 1 {
            if budget == 0 {
                introsort(p, lo, hi, depthLimit: 2 * (Int.bitWidth - (hi - lo).leadingZeroBitCount))
                break
            }
            budget -= 1
            let m = partition(p, lo, hi)
            // Everything in [0, m) precedes p[m], everything after follows it.
            if m == k || m == k - 1 { break }
            if m < k { lo = m + 1 } else { hi = m }
        }
        sort(p, k)
    }

    private static func introsort(_ p: Ptr, _ lo0: Int, _ hi0: Int, depthLimit: Int) {
        var lo = lo0
        var hi = hi0
        var depth = depthLimit
        while hi - lo > 16 {
            if depth == 0 {
                heapsort(p + lo, hi - lo)
                return
            }
            depth -= 1
            let m = partition(p, lo, hi)
            // Recurse into the smaller side, loop on the larger: stack depth O(log n).
            if m - lo < hi - m - 1 {
                introsort(p, lo, m, depthLimit: depth)
                lo = m + 1
            } else {
                introsort(p, m + 1, hi, depthLimit: depth)
                hi = m
            }
        }
        insertionSort(p, lo, hi)
    }

    /// Median-of-three pivot, Lomuto partition of [lo, hi) (hi - lo >= 2). Returns the pivot's final
    /// index m: [lo, m) precede it, (m, hi) follow it.
    private static func partition(_ p: Ptr, _ lo: Int, _ hi: Int) -> Int {
        let last = hi - 1
        let mid = lo + (hi - lo) / 2
        if precedes(p[mid], p[lo]) { swapAt(p, mid, lo) }
        if precedes(p[last], p[lo]) { swapAt(p, last, lo) }
        if precedes(p[last], p[mid]) { swapAt(p, last, mid) }
        // p[lo] <= p[mid] <= p[last]; use the median as pivot, parked at the end.
        swapAt(p, mid, last)
        let pivot = p[last]
        var store = lo
        for i in lo..<last where precedes(p[i], pivot) {
            swapAt(p, i, store)
            store += 1
        }
        swapAt(p, store, last)
        return store
    }

    private static func insertionSort(_ p: Ptr, _ lo: Int, _ hi: Int) {
        guard hi - lo > 1 else { return }
        for i in (lo + 1)..<hi {
            let x = p[i]
            var j = i
            while j > lo && precedes(x, p[j - 1]) {
                p[j] = p[j - 1]
                j -= 1
            }
            p[j] = x
        }
    }

    /// Heapsort of [0, n): a heap whose root is the element that goes last, repeatedly moved to the end.
    private static func heapsort(_ p: Ptr, _ n: Int) {
        func siftDown(_ start: Int, _ end: Int) {
            var root = start
            while true {
                var child = 2 * root + 1
                if child >= end { return }
                if child + 1 < end && precedes(p[child], p[child + 1]) { child += 1 }
                if precedes(p[root], p[child]) {
                    swapAt(p, root, child)
                    root = child
                } else {
                    return
                }
            }
        }
        var start = n / 2 - 1
        while start >= 0 {
            siftDown(start, n)
            start -= 1
        }
        var end = n - 1
        while end > 0 {
            swapAt(p, 0, end)
            siftDown(0, end)
            end -= 1
        }
    }

    @inline(__always)
    private static func swapAt(_ p: Ptr, _ i: Int, _ j: Int) {
        if i != j {
            let t = p[i]
            p[i] = p[j]
            p[j] = t
        }
    }
}
