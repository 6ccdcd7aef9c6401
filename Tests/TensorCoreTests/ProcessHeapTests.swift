import Foundation
import TestSupport
import XCTest
@testable import TensorCore

final class ProcessHeapTests: XCTestCase {
    /// Dropping a mapping's leading pages (a GGUF header once parsed) leaves every byte readable and
    /// unchanged: the pages come back from the file on the next access.
    func testReleasedPagesReadBackUnchanged() throws {
        let dir = try Fixtures.temporaryDirectory("squint-mapped")
        defer { try? FileManager.default.removeItem(at: dir) }
        let url = dir.appendingPathComponent("f.bin")
        let page = Int(sysconf(Int32(_SC_PAGESIZE)))
        let bytes = (0..<(3 * page + 123)).map { UInt8(truncatingIfNeeded: $0 &* 7 &+ $0 >> 8) }
        try Data(bytes).write(to: url)
        let m = try MappedFile(path: url.path)
        XCTAssertEqual(m.bytes(at: 0, count: m.size), bytes)
        m.releasePages(before: 2 * page + 100)   // rounded down: pages 0 and 1
        XCTAssertEqual(m.bytes(at: 0, count: m.size), bytes)
        m.releasePages(before: 10 * page)         // past the end: clamped to the file
        XCTAssertEqual(m.bytes(at: 0, count: m.size), bytes)
        m.releasePages(before: 0)
        ProcessHeap.releaseFreeHeap()             // callable any time; frees nothing in use
        XCTAssertEqual(m.bytes(at: page - 3, count: 6), Array(bytes[(page - 3)..<(page + 3)]))
    }

    /// Which pages of [p, p + pages * page) are mapped in this process (Linux /proc/self/pagemap, bit 63).
    private func present(_ p: UnsafeRawPointer, pages: Int) throws -> [Bool] {
        let page = Int(sysconf(Int32(_SC_PAGESIZE)))
        let fd = open("/proc/self/pagemap", O_RDONLY)
        guard fd >= 0 else { throw XCTSkip("no /proc/self/pagemap") }
        defer { close(fd) }
        var entries = [UInt64](repeating: 0, count: pages)
        let got = entries.withUnsafeMutableBytes { pread(fd, $0.baseAddress!, pages * 8, off_t(Int(bitPattern: p) / page * 8)) }
        XCTAssertEqual(got, pages * 8)
        return entries.map { $0 >> 63 == 1 }
    }

    /// `release(keeping:)` unmaps every page outside the kept ranges (whole pages only: one shared with a
    /// kept range stays), and `copy` reads bytes through the file without mapping any page.
    func testReleaseKeepingAndCopyWithoutMapping() throws {
        let dir = try Fixtures.temporaryDirectory("squint-mapped")
        defer { try? FileManager.default.removeItem(at: dir) }
        let url = dir.appendingPathComponent("g.bin")
        let page = Int(sysconf(Int32(_SC_PAGESIZE)))
        let bytes = (0..<(16 * page)).map { UInt8(truncatingIfNeeded: $0 &* 13 &+ $0 >> 9) }
        try Data(bytes).write(to: url)
        let m = try MappedFile(path: url.path)
        let base = m.base!
        XCTAssertEqual(m.bytes(at: 0, count: m.size), bytes)  // every page mapped now
        XCTAssertEqual(try present(base, pages: 16), Array(repeating: true, count: 16))
        // Keep [3 pages + 10, 5 pages) and [9 pages, 9 pages + 1): pages 3-4 and 9 stay.
        m.release(keeping: [(base + 9 * page, 1), (base + 3 * page + 10, 2 * page - 10)])
        let expected = (0..<16).map { [3, 4, 9].contains($0) }
        XCTAssertEqual(try present(base, pages: 16), expected)
        // copy: the right bytes, and the released pages stay unmapped.
        let out = UnsafeMutableRawPointer.allocate(byteCount: 2 * page + 5, alignment: 16)
        defer { out.deallocate() }
        m.copy(base + 6 * page + 7, count: 2 * page + 5, into: out)
        XCTAssertEqual(Array(UnsafeRawBufferPointer(start: out, count: 2 * page + 5)),
                       Array(bytes[(6 * page + 7)..<(8 * page + 12)]))
        XCTAssertEqual(try present(base, pages: 16), expected)
        XCTAssertEqual(m.bytes(at: 0, count: m.size), bytes)  // released pages read back from the file
        // The path replaced by another file: copy reads the mapped one (through the mapping), not the new.
        let other = dir.appendingPathComponent("other.bin")
        try Data(repeating: 0xEE, count: 16 * page).write(to: other)
        XCTAssertEqual(rename(other.path, url.path), 0)
        m.copy(base + 6 * page + 7, count: 2 * page + 5, into: out)
        XCTAssertEqual(Array(UnsafeRawBufferPointer(start: out, count: 2 * page + 5)),
                       Array(bytes[(6 * page + 7)..<(8 * page + 12)]))
    }
}
