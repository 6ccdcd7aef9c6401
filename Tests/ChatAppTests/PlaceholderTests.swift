import XCTest
final class ChatAppTestsPlaceholder: XCTestCase { func testBuilds() { XCTAssertTrue(true) } }
