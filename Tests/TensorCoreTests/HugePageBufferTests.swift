import Foundation
import XCTest
@testable import TensorCore

/// `OwnedBuffer(hugePages:)` and `PackArena`, the storage packed and copied weights live in.
final class HugePageBufferTests: XCTestCase {
    /// The smaps entries (start, end, VmFlags) of this process's mappings that overlap [lo, hi).
    private func mappings(overlapping lo: Int, _ hi: Int) throws -> [(start: Int, end: Int, flags: [Substring])] {
        // Read to the end (a /proc file reports size 0, which String(contentsOfFile:) takes at its word).
        let handle = try XCTUnwrap(FileHandle(forReadingAtPath: "/proc/self/smaps"))
        defer { try? handle.close() }
        let text = String(decoding: handle.readDataToEndOfFile(), as: UTF8.self)
        var out: [(start: Int, end: Int, flags: [Substring])] = []
        var current: (Int, Int)?
        for line in text.split(separator: "\n") {
            if let dash = line.firstIndex(of: "-"), let space = line.firstIndex(of: " "), dash < space,
               let a = Int(line[..<dash], radix: 16), let b = Int(line[line.index(after: dash)..<space], radix: 16) {
                current = (a, b)
            } else if line.hasPrefix("VmFlags:"), let (a, b) = current, a < hi, b > lo {
                out.append((a, b, line.dropFirst(8).split(separator: " ")))
            }
        }
        return out
    }

    /// A huge-page buffer is 2 MB aligned and zeroed; its whole 2 MB pages are advised MADV_HUGEPAGE
    /// (smaps flag "hg") and the tail past them is not (one huge page there would be up to 2 MB resident
    /// for nothing); a small request falls back to the allocator.
    func testHugePageBufferLayout() throws {
        let mb2 = 2 << 20
        let b = OwnedBuffer(byteCount: 2 * mb2 + 12345, zeroed: false, hugePages: true)
        XCTAssertEqual(Int(bitPattern: b.raw) % mb2, 0, "2 MB aligned")
        let bytes = UnsafeRawBufferPointer(start: b.raw, count: b.byteCount)
        XCTAssertTrue(bytes.allSatisfy { $0 == 0 }, "anonymous pages read as zeros")
        b.raw.storeBytes(of: 0xAB, toByteOffset: b.byteCount - 1, as: UInt8.self)  // the last byte is writable
        guard FileManager.default.fileExists(atPath: "/sys/kernel/mm/transparent_hugepage/enabled") else {
            throw XCTSkip("no transparent huge pages in this kernel")
        }
        let start = Int(bitPattern: b.raw)
        let maps = try mappings(overlapping: start, start + b.byteCount)
        let advised = maps.filter { $0.flags.contains("hg") }
        XCTAssertEqual(advised.count, 1, "one advised range: \(maps)")
        XCTAssertEqual(advised.first?.start, start)
        XCTAssertEqual(advised.first?.end, start + 2 * mb2, "exactly the whole 2 MB pages")
        XCTAssertTrue(maps.contains { $0.start <= start + 2 * mb2 && $0.end >= start + b.byteCount && !$0.flags.contains("hg") },
                      "the 12345-byte tail is mapped, not advised: \(maps)")

        let small = OwnedBuffer(byteCount: 100_000, zeroed: true, hugePages: true)
        XCTAssertTrue(UnsafeRawBufferPointer(start: small.raw, count: small.byteCount).allSatisfy { $0 == 0 })
    }

    /// Pieces follow one another 64-byte aligned in the order asked for, a piece that does not fit is nil,
    /// and pieces keep the arena's memory alive after the arena itself is gone.
    func testArenaPieces() {
        var arena: PackArena? = PackArena(byteCount: PackArena.footprint(100) + PackArena.footprint(64) + PackArena.footprint(3 << 20))
        let base = arena!.buffer.raw
        let a = arena!.take(100), b = arena!.take(64), c = arena!.take(3 << 20)
        XCTAssertEqual(a?.raw, base)
        XCTAssertEqual(b?.raw, base + 128)
        XCTAssertEqual(c?.raw, base + 192)
        XCTAssertEqual(c?.byteCount, 3 << 20)
        XCTAssertNil(arena!.take(1), "the arena is full")
        c!.raw.initializeMemory(as: UInt8.self, repeating: 7, count: c!.byteCount)
        arena = nil
        XCTAssertEqual(c!.raw.load(fromByteOffset: (3 << 20) - 1, as: UInt8.self), 7, "still mapped: the piece holds the arena")
    }
}
