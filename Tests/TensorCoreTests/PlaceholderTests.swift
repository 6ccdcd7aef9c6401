import XCTest
final class TensorCoreTestsPlaceholder: XCTestCase { func testBuilds() { XCTAssertTrue(true) } }
