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
}
