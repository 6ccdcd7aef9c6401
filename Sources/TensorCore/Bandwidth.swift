import CKernels
import Foundation

/// Measured memory read bandwidth: the bound `squint bench` compares decode speed against (decode reads
/// every weight once per token, so tokens/s <= bandwidth / weight bytes).
public enum Bandwidth {
    /// Sums a `megabytes` buffer with every pool thread (one contiguous slice each) and returns the best
    /// of `repeats` passes in GB/s (10^9 bytes). The buffer is far larger than the caches, so this is
    /// DRAM bandwidth. Allocates and frees the buffer on each call. The buffer asks for huge pages as
    /// packed weights do (`OwnedBuffer(hugePages:)`), so the bound is not lowered by TLB misses the
    /// weights no longer pay.
    public static func measureReadGBps(megabytes: Int = 256, repeats: Int = 5, pool: ThreadPool = .shared) -> Double {
        let count = max(1, megabytes) * (1 << 20) / 4
        let storage = OwnedBuffer(byteCount: count * 4, zeroed: false, hugePages: true)
        defer { withExtendedLifetime(storage) {} }  // `buffer` points into it: kept to the end of the function
        let buffer = storage.raw.bindMemory(to: Float.self, capacity: count)
        // Touch every page first (in parallel, so each thread's slice is first touched by that thread).
        pool.parallelRanges(count, align: 4096) { r in
            (buffer + r.lowerBound).initialize(repeating: 1, count: r.count)
        }
        var best = Double.infinity
        var sink: Float = 0
        let partial = UnsafeMutablePointer<Float>.allocate(capacity: pool.threadCount)
        defer { partial.deallocate() }
        for _ in 0..<max(1, repeats) {
            let start = DispatchTime.now().uptimeNanoseconds
            pool.parallelFor(pool.threadCount) { p in
                let lo = count * p / pool.threadCount, hi = count * (p + 1) / pool.threadCount
                partial[p] = sq_sum_f32(buffer + lo, Int64(hi - lo))
            }
            let elapsed = Double(DispatchTime.now().uptimeNanoseconds - start) * 1e-9
            for p in 0..<pool.threadCount { sink += partial[p] }
            best = min(best, elapsed)
        }
        // The sums are used (compared) so the reads cannot be optimised away.
        if sink.isNaN { return 0 }
        return Double(count * 4) / best / 1e9
    }
}
