#if canImport(Glibc)
import Glibc
#elseif canImport(Darwin)
import Darwin
#endif

/// Errors of the TensorCore target.
public enum TensorCoreError: Error, CustomStringConvertible, Equatable {
    case cannotOpen(path: String, reason: String)
    case cannotMap(path: String, reason: String)

    public var description: String {
        switch self {
        case let .cannotOpen(path, reason): "cannot open \(path): \(reason)"
        case let .cannotMap(path, reason): "cannot map \(path) into memory: \(reason)"
        }
    }
}

/// A whole file mapped read-only. Weights are used in place: the page cache is the only copy, so a
/// model costs no heap and loads in the time it takes to read the headers.
public final class MappedFile: @unchecked Sendable {
    public let path: String
    public let size: Int
    public let base: UnsafeRawPointer?
    /// The mapped file's identity (device, inode), so that a later read by path can tell it is the same file.
    let identity: (device: UInt64, inode: UInt64)

    public init(path: String) throws {
        self.path = path
        let fd = open(path, O_RDONLY)
        guard fd >= 0 else { throw TensorCoreError.cannotOpen(path: path, reason: String(cString: strerror(errno))) }
        defer { close(fd) }
        var st = stat()
        guard fstat(fd, &st) == 0 else {
            throw TensorCoreError.cannotOpen(path: path, reason: String(cString: strerror(errno)))
        }
        guard (st.st_mode & S_IFMT) == S_IFREG else {
            throw TensorCoreError.cannotOpen(path: path, reason: "not a regular file")
        }
        size = Int(st.st_size)
        identity = (UInt64(st.st_dev), UInt64(st.st_ino))
        if size == 0 {
            base = nil
            return
        }
        let p = mmap(nil, size, PROT_READ, MAP_PRIVATE, fd, 0)
        guard let p, p != MAP_FAILED else {
            throw TensorCoreError.cannotMap(path: path, reason: String(cString: strerror(errno)))
        }
        base = UnsafeRawPointer(p)
    }

    /// Copies `count` bytes at `offset` (caller has bounds-checked).
    public func bytes(at offset: Int, count: Int) -> [UInt8] {
        guard let base, count > 0 else { return [] }
        return Array(UnsafeRawBufferPointer(start: base + offset, count: count))
    }

    deinit {
        if let base { munmap(UnsafeMutableRawPointer(mutating: base), size) }
    }
}
