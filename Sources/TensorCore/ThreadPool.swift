import CKernels
import Foundation
import Synchronization

/// A fixed pool of worker threads for the synchronous kernels: `parallelFor` cuts an index range into a
/// few contiguous chunks per thread, which the caller and the workers claim one at a time, and returns when
/// all are done.
///
/// Why persistent threads with a spin-then-sleep wait: decoding calls the pool ~200 times per token, a few
/// microseconds of work each, so a call must cost well under a microsecond when the workers are awake.
/// Workers spin (x86 `pause`) for a while after each job, then sleep on a condition variable; a call
/// allocates nothing.
///
/// Why chunks are claimed rather than assigned: on a busy machine (two cores, a UI, a compiler) a worker
/// may be descheduled for milliseconds. With one fixed chunk per thread every call would wait for it;
/// here the caller takes the chunks nobody has claimed and only waits for chunks in progress. A claim is a
/// compare-and-swap on (generation, next chunk), so a worker that wakes late can never run a chunk of a
/// job that has moved on.
///
/// `parallelFor` is not reentrant across threads: a call made while another is running (from a second
/// thread, or from inside a body) runs its whole range serially on the caller instead of deadlocking.
public final class ThreadPool: @unchecked Sendable {
    /// The process-wide pool: one thread per active core, or `SQUINT_THREADS` when set to a positive integer.
    public static let shared = ThreadPool(threadCount: ThreadPool.defaultThreadCount())

    /// Threads that run chunks, the caller included.
    public let threadCount: Int

    // The current job. Written by the dispatching thread before `generation` is bumped (release) and read
    // by workers only after they observe the bump (acquire), so plain storage suffices.
    //
    // The body is kept as a pointer to the caller's non-escaping closure value, and workers call it only
    // through `invoke`, a C function pointer: any retain/release of the closure context then happens
    // inside that call, strictly before the worker reports completion, so when the caller's
    // `withoutActuallyEscaping` ends no worker holds or touches the (stack-allocated) context.
    private typealias Body = (Int) -> Void
    private typealias Invoke = @convention(c) (UnsafeRawPointer, Int, Int) -> Void
    private var job: UnsafeRawPointer?
    private let invoke: Invoke = { context, lo, hi in
        let body = context.assumingMemoryBound(to: Body.self)
        for i in lo..<hi { body.pointee(i) }
    }
    private var jobCount = 0
    private var jobChunks = 0
    /// (generation << 32) | (chunks << 16) | next unclaimed chunk of the current job. The chunk count
    /// travels in the ticket itself: a claim checked against the shared `jobChunks` could pair the last,
    /// exhausted ticket of a finished job with the next job's larger count (already written, its ticket
    /// not yet), take a chunk that does not exist, and leave the next job's completion count one high, so
    /// its caller waited forever (seen as a rare hang; `testAlternatingChunkCountsNeverDoubleRunOrHang`).
    private let ticket = Atomic<Int>(0)
    /// Chunks of the current job finished.
    private let completed = Atomic<Int>(0)

    private let generation = Atomic<Int>(0)
    private let busy = Atomic<Bool>(false)
    /// Workers inside (or about to enter) the condition wait; the dispatcher takes the mutex only when > 0.
    private let sleepers = Atomic<Int>(0)
    private let mutex: UnsafeMutablePointer<pthread_mutex_t>
    private let wake: UnsafeMutablePointer<pthread_cond_t>

    /// `pause` iterations a worker spins before sleeping (~100+ microseconds on current x86).
    private let spinLimit = 20_000

    public static func defaultThreadCount() -> Int {
        if let text = ProcessInfo.processInfo.environment["SQUINT_THREADS"], let n = Int(text), n > 0 {
            return min(n, 256)
        }
        return max(1, ProcessInfo.processInfo.activeProcessorCount)
    }

    /// Starts `threadCount - 1` worker threads. They live as long as the process: make pools once.
    public init(threadCount: Int) {
        self.threadCount = max(1, threadCount)
        mutex = .allocate(capacity: 1)
        wake = .allocate(capacity: 1)
        pthread_mutex_init(mutex, nil)
        pthread_cond_init(wake, nil)
        for worker in 1..<self.threadCount {
            let thread = Thread { [self] in self.workerLoop(worker) }
            thread.name = "squint-pool-\(worker)"
            thread.stackSize = 1 << 20
            thread.start()
        }
    }

    /// Calls `body(i)` for every i in 0..<count, concurrently: the range is cut into one contiguous chunk
    /// per thread (fewer when count is smaller). `body` must be safe to call from several threads at once.
    public func parallelFor(_ count: Int, _ body: (Int) -> Void) {
        if count <= 0 { return }
        let parts = min(threadCount, count)
        if parts == 1 || !busy.compareExchange(expected: false, desired: true, ordering: .acquiring).exchanged {
            for i in 0..<count { body(i) }
            return
        }
        // Eight chunks per thread, so that the caller can take over a descheduled worker's share and the
        // last chunk to finish leaves the other threads little to wait for (measured on Emerald Rapids, 2
        // threads, Qwen2-0.5B Q4_0 decode: 57-68 tokens/s with 4 per thread, 63-75 with 8, 57-64 with 16).
        let chunks = min(count, threadCount * 8)  // <= 2048: fits the ticket's 16 bits
        withoutActuallyEscaping(body) { escapable in
            withUnsafePointer(to: escapable) { bodyPointer in
                job = UnsafeRawPointer(bodyPointer)
                jobCount = count
                jobChunks = chunks
                completed.store(0, ordering: .relaxed)
                let gen = (generation.load(ordering: .relaxed) + 1) & 0x7FFF_FFFF
                ticket.store(gen << 32 | chunks << 16, ordering: .releasing)
                // Sequentially consistent pair with the worker's (sleepers += 1; load generation): either
                // we see its sleeper count and signal, or it sees the new generation and does not sleep.
                generation.store(gen, ordering: .sequentiallyConsistent)
                if sleepers.load(ordering: .sequentiallyConsistent) > 0 {
                    pthread_mutex_lock(mutex)
                    pthread_cond_broadcast(wake)
                    pthread_mutex_unlock(mutex)
                }
                while let chunk = claim(generation: gen) {
                    Self.run(part: chunk, parts: chunks, count: count, escapable)
                    completed.add(1, ordering: .releasing)
                }
                // Wait only for chunks other threads are running; yield the core if that takes long
                // (an oversubscribed machine may have descheduled a worker mid-chunk).
                var spins = 0
                while completed.load(ordering: .acquiring) != chunks {
                    spins += 1
                    if spins < 4096 { sq_cpu_relax() } else { sched_yield() }
                }
                job = nil
            }
        }
        busy.store(false, ordering: .releasing)
    }

    /// Claims the next chunk of job `generation`, or nil when none is left (or the job has moved on).
    @inline(__always)
    private func claim(generation gen: Int) -> Int? {
        var current = ticket.load(ordering: .acquiring)
        while true {
            guard current >> 32 == gen else { return nil }
            let chunk = current & 0xFFFF
            guard chunk < (current >> 16) & 0xFFFF else { return nil }
            let (exchanged, original) = ticket.compareExchange(expected: current, desired: current + 1,
                                                                ordering: .acquiringAndReleasing)
            if exchanged { return chunk }
            current = original
        }
    }

    /// Splits 0..<count into a few ranges per thread whose bounds are multiples of `align` (except the
    /// end) and calls `body` on each concurrently. Ranges are never empty.
    public func parallelRanges(_ count: Int, align: Int = 1, _ body: (Range<Int>) -> Void) {
        if count <= 0 { return }
        let a = max(1, align)
        let blocks = (count + a - 1) / a
        let parts = threadCount == 1 ? 1 : min(threadCount * 8, blocks)
        parallelFor(parts) { p in
            let lo = min(count, (blocks * p / parts) * a)
            let hi = min(count, (blocks * (p + 1) / parts) * a)
            if lo < hi { body(lo..<hi) }
        }
    }

    @inline(__always)
    private static func run(part: Int, parts: Int, count: Int, _ body: (Int) -> Void) {
        let lo = count * part / parts
        let hi = count * (part + 1) / parts
        for i in lo..<hi { body(i) }
    }

    private func workerLoop(_ worker: Int) {
        var seen = 0
        while true {
            var spins = 0
            var current = generation.load(ordering: .acquiring)
            while current == seen {
                if spins < spinLimit {
                    sq_cpu_relax()
                    spins += 1
                } else {
                    pthread_mutex_lock(mutex)
                    sleepers.add(1, ordering: .sequentiallyConsistent)
                    while generation.load(ordering: .sequentiallyConsistent) == seen { pthread_cond_wait(wake, mutex) }
                    sleepers.subtract(1, ordering: .relaxed)
                    pthread_mutex_unlock(mutex)
                }
                current = generation.load(ordering: .acquiring)
            }
            seen = current
            // Claim chunks of this job until none is left; a failed claim means the job is done or
            // gone, and the fields read below are only used after a successful claim (see the type doc).
            while let chunk = claim(generation: current) {
                if let context = job {
                    let count = jobCount, chunks = jobChunks
                    invoke(context, count * chunk / chunks, count * (chunk + 1) / chunks)
                }
                completed.add(1, ordering: .releasing)
            }
        }
    }
}
