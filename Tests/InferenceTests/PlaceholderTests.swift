import XCTest
final class InferenceTestsPlaceholder: XCTestCase { func testBuilds() { XCTAssertTrue(true) } }
