import XCTest
final class ImageProcessingPlaceholder: XCTestCase { func testBuilds() { XCTAssertTrue(true) } }
