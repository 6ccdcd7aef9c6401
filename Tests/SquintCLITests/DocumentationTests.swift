import Foundation
import XCTest
import TestSupport

/// The help and the man page tell the truth: every flag a subcommand accepts is documented in
/// man/squint.1 and mentioned in the README, and the help itself is snapshotted.
final class DocumentationTests: XCTestCase {
    static let subcommands = ["generate", "bench", "chat", "models", "quantize"]

    private func flags(of subcommand: String) throws -> Set<String> {
        let r = try BinaryRunner.run([subcommand, "--help"])
        XCTAssertEqual(r.status, 0, r.stderr)
        let pattern = try NSRegularExpression(pattern: "--[a-z][a-z0-9-]*")
        let text = r.stdout
        let found = pattern.matches(in: text, range: NSRange(text.startIndex..., in: text)).compactMap {
            Range($0.range, in: text).map { String(text[$0]) }
        }
        return Set(found).subtracting(["--help", "--version"])
    }

    func testEveryFlagIsInTheManPageAndREADME() throws {
        let man = try String(contentsOf: Fixtures.repoRoot.appendingPathComponent("man/squint.1"), encoding: .utf8)
            .replacingOccurrences(of: "\\-", with: "-")
        let readme = try String(contentsOf: Fixtures.repoRoot.appendingPathComponent("README.md"), encoding: .utf8)
        for sub in Self.subcommands {
            let documented = try flags(of: sub)
            XCTAssertFalse(documented.isEmpty, sub)
            for flag in documented.sorted() {
                XCTAssertTrue(man.contains(flag), "man/squint.1 does not document \(sub) \(flag)")
            }
        }
        for sub in ["generate", "quantize"] {
            for flag in try flags(of: sub).sorted() {
                XCTAssertTrue(readme.contains(flag), "README does not list \(sub) \(flag)")
            }
        }
    }

    /// `squint --help` as a snapshot (SQUINT_RECORD_SNAPSHOTS=1 re-records).
    func testTopLevelHelpSnapshot() throws {
        let r = try BinaryRunner.run(["--help"], environment: ["COLUMNS": "100"])
        XCTAssertEqual(r.status, 0)
        let url = Fixtures.repoRoot.appendingPathComponent("Tests/Snapshots/squint-help.txt")
        if ProcessInfo.processInfo.environment["SQUINT_RECORD_SNAPSHOTS"] == "1" {
            try FileManager.default.createDirectory(at: url.deletingLastPathComponent(), withIntermediateDirectories: true)
            try r.stdout.write(to: url, atomically: true, encoding: .utf8)
        }
        let expected = try String(contentsOf: url, encoding: .utf8)
        XCTAssertEqual(r.stdout, expected, "squint --help changed; re-record with SQUINT_RECORD_SNAPSHOTS=1 if intended")
    }
}
