import XCTest
final class SquintCLITestsPlaceholder: XCTestCase { func testBuilds() { XCTAssertTrue(true) } }
