import CKernels
#if canImport(Glibc)
import Glibc
#elseif canImport(Darwin)
import Darwin
#endif

/// The heap of this process: what model loading leaves resident besides the weights.
public enum ProcessHeap {
    /// Returns the allocator's free pages to the system. Loading builds large temporary tables (GGUF
    /// metadata, the tokenizer's intermediate forms) whose freed chunks the allocator would otherwise
    /// keep resident for the life of the process.
    public static func releaseFreeHeap() { sq_release_free_heap() }
}

extension MappedFile {
    /// Drops the resident pages of `[0, end)` rounded down to whole pages (e.g. a GGUF header, read
    /// once while parsing). The mapping stays valid: read-only file pages are read again on access.
    public func releasePages(before end: Int) {
        guard let base, end > 0 else { return }
        release(base, count: min(end, size))
    }

    /// Drops the resident pages wholly inside [p, p + count) of this mapping (they are read again from the
    /// file if touched later): for weights that were copied elsewhere, so they stop counting as resident.
    public func release(_ p: UnsafeRawPointer, count: Int) {
        guard let base, p >= base, p + count <= base + size else { return }
        let page = Int(sysconf(Int32(_SC_PAGESIZE)))
        let start = (Int(bitPattern: p) + page - 1) / page * page
        let end = (Int(bitPattern: p) + count) / page * page
        if end > start { _ = madvise(UnsafeMutableRawPointer(bitPattern: start), end - start, MADV_DONTNEED) }
    }
}
