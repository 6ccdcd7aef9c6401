import Foundation
import TensorCore
import XCTest

final class ThreadPoolTests: XCTestCase {
    private static let pool3 = ThreadPool(threadCount: 3)

    /// Every index is visited exactly once, for counts below, at and above the thread count.
    func testEveryIndexOnce() {
        for pool in [Self.pool3, ThreadPool.shared] {
            for count in [0, 1, 2, 3, 4, 7, 1000] {
                let hits = UnsafeMutablePointer<Int>.allocate(capacity: max(count, 1))
                hits.initialize(repeating: 0, count: max(count, 1))
                defer { hits.deallocate() }
                for _ in 0..<50 { pool.parallelFor(count) { hits[$0] += 1 } }  // distinct slots: no race
                for i in 0..<count { XCTAssertEqual(hits[i], 50, "pool \(pool.threadCount) count \(count) index \(i)") }
            }
        }
    }

    func testRangesAreAlignedAndCover() {
        let pool = Self.pool3
        for (count, align) in [(1, 4), (13, 4), (100, 4), (1000, 16), (5, 1)] {
            let owner = UnsafeMutablePointer<Int>.allocate(capacity: count)
            owner.initialize(repeating: -1, count: count)
            let starts = UnsafeMutablePointer<Int>.allocate(capacity: pool.threadCount)
            starts.initialize(repeating: -1, count: pool.threadCount)
            defer { owner.deallocate(); starts.deallocate() }
            pool.parallelRanges(count, align: align) { r in
                for i in r { owner[i] = r.lowerBound }
            }
            for i in 0..<count {
                XCTAssertGreaterThanOrEqual(owner[i], 0, "count \(count): index \(i) not covered")
                XCTAssertEqual(owner[i] % align, 0, "count \(count): range start \(owner[i]) not aligned to \(align)")
            }
        }
    }

    /// A body that calls parallelFor again runs the inner loop serially instead of deadlocking.
    func testNestedCallsComplete() {
        let pool = Self.pool3
        let hits = UnsafeMutablePointer<Int>.allocate(capacity: 3 * 5)
        hits.initialize(repeating: 0, count: 15)
        defer { hits.deallocate() }
        pool.parallelFor(3) { i in pool.parallelFor(5) { j in hits[i * 5 + j] += 1 } }
        for i in 0..<15 { XCTAssertEqual(hits[i], 1) }
    }

    /// Calls from several threads at once all complete with full coverage (the losers run serially).
    func testConcurrentCallersComplete() {
        let pool = Self.pool3
        let hits = UnsafeMutablePointer<Int>.allocate(capacity: 4 * 100)
        hits.initialize(repeating: 0, count: 400)
        defer { hits.deallocate() }
        nonisolated(unsafe) let shared = hits
        DispatchQueue.concurrentPerform(iterations: 4) { caller in
            for _ in 0..<20 { pool.parallelFor(100) { shared[caller * 100 + $0] += 1 } }
        }
        for i in 0..<400 { XCTAssertEqual(hits[i], 20, "slot \(i)") }
    }

    /// Back-to-back jobs whose chunk counts differ (2, then 8): a worker that read the last ticket of a
    /// finished 2-chunk job could once take it for a chunk of the next, 8-chunk job (the bound came from a
    /// shared field the next job had already rewritten), run part of that job twice and leave its
    /// completion count one too high, so the caller waited forever. Every index must run exactly once per
    /// job, and the whole loop must finish (run on its own thread with a deadline, so a hang fails
    /// instead of stalling the suite).
    func testAlternatingChunkCountsNeverDoubleRunOrHang() {
        // Three threads on a two-core machine: workers get preempted at every point of the protocol.
        let pool = ThreadPool(threadCount: 3)
        let rounds = 200_000
        let hits = UnsafeMutablePointer<Int>.allocate(capacity: 10)
        hits.initialize(repeating: 0, count: 10)
        defer { hits.deallocate() }
        nonisolated(unsafe) let shared = hits
        let done = DispatchSemaphore(value: 0)
        let thread = Thread {
            for _ in 0..<rounds {
                pool.parallelFor(2) { shared[$0] += 1 }
                pool.parallelFor(8) { shared[2 + $0] += 1 }  // 8 chunks of 12 at most: 3 threads x 4
            }
            done.signal()
        }
        thread.start()
        guard done.wait(timeout: .now() + 120) == .success else {
            return XCTFail("parallelFor did not return within 120 s (a lost or extra completion)")
        }
        for i in 0..<10 { XCTAssertEqual(hits[i], rounds, "index \(i)") }
    }

    func testSharedPoolSize() {
        XCTAssertGreaterThanOrEqual(ThreadPool.shared.threadCount, 1)
    }
}
