import XCTest
final class ModelFormatsTestsPlaceholder: XCTestCase { func testBuilds() { XCTAssertTrue(true) } }
