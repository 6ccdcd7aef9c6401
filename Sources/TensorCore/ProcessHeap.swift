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

    /// Copies `count` bytes of this mapping at `p` into `dst` with pread on the file, so no page of the
    /// mapping is touched (a fault would map the whole 2 MB page-cache folio around `p`); copies through
    /// the mapping instead if the path no longer names the mapped file or cannot be read.
    public func copy(_ p: UnsafeRawPointer, count: Int, into dst: UnsafeMutableRawPointer) {
        guard let base, p >= base, p + count <= base + size else { return }
        var done = 0
        let fd = open(path, O_RDONLY)
        var st = stat()
        if fd >= 0, fstat(fd, &st) == 0, UInt64(st.st_dev) == identity.device, UInt64(st.st_ino) == identity.inode {
            while done < count {
                let r = pread(fd, dst + done, count - done, off_t(p - base + done))
                if r <= 0 { break }
                done += r
            }
        }
        if fd >= 0 { close(fd) }
        if done < count { (dst + done).copyMemory(from: p + done, byteCount: count - done) }
    }

    /// Drops the resident pages of this mapping outside `kept` (pointer ranges into it, any order): what a
    /// model no longer reads once it has copied the rest (packed matrices, small tensors) to the heap.
    /// Pages shared with a kept range stay.
    public func release(keeping kept: [(UnsafeRawPointer, Int)]) {
        guard let base else { return }
        var from = base
        for (p, n) in kept.filter({ $0.0 >= base && $0.0 < base + size }).sorted(by: { $0.0 < $1.0 }) {
            if p > from { release(from, count: p - from) }
            from = max(from, p + n)
        }
        if from < base + size { release(from, count: base + size - from) }
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
