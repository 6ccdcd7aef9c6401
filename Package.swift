// swift-tools-version: 6.1
import PackageDescription

// Hot C kernels are always built optimised, also in debug builds: tests run tiny models through them
// and a -O0 matmul would make the suite crawl. Per-function target attributes pick AVX2/AVX-512 at run time.
let kernelFlags: [CSetting] = [.unsafeFlags(["-O3", "-fno-math-errno", "-ffp-contract=fast"])]

let package = Package(
    name: "Squint",
    platforms: [.macOS(.v14)],
    products: [
        .executable(name: "squint", targets: ["squint"]),
    ],
    dependencies: [
        .package(url: "https://github.com/apple/swift-argument-parser", from: "1.5.0"),
    ],
    targets: [
        .target(name: "CKernels", cSettings: kernelFlags),
        .target(name: "TensorCore", dependencies: ["CKernels"]),
        .target(name: "ModelFormats", dependencies: ["TensorCore"]),
        .target(name: "Tokenizers"),
        .target(name: "Sampling"),
        .target(name: "Models", dependencies: ["TensorCore", "ModelFormats", "Tokenizers", "ImageProcessing"]),
        .target(name: "Inference", dependencies: ["Models", "Tokenizers", "Sampling", "TensorCore", "ModelFormats", "ImageProcessing"]),
        .systemLibrary(name: "CNcurses", pkgConfig: "ncursesw", providers: [.apt(["libncursesw5-dev"])]),
        // libjpeg/libpng behind C shims: their error paths (exit(), longjmp) must never cross Swift frames.
        .target(name: "CImageCodecs", cSettings: [.unsafeFlags(["-O2"])],
                linkerSettings: [.linkedLibrary("jpeg"), .linkedLibrary("png16")]),
        .target(name: "ImageProcessing", dependencies: ["CImageCodecs"]),
        .target(name: "TerminalUI"),
        .target(name: "CursesDriver", dependencies: ["CNcurses", "TerminalUI"]),
        .target(name: "ChatApp", dependencies: ["TerminalUI", "Inference", "Sampling", "ImageProcessing"]),
        .executableTarget(name: "squint", dependencies: [
            "Inference", "Models", "Sampling", "TensorCore", "ChatApp", "CursesDriver", "TerminalUI",
            .product(name: "ArgumentParser", package: "swift-argument-parser"),
        ]),
        .target(name: "TestSupport", dependencies: ["TensorCore"], path: "Sources/TestSupport"),
        .testTarget(name: "TensorCoreTests", dependencies: ["TensorCore", "TestSupport"]),
        .testTarget(name: "ModelFormatsTests", dependencies: ["ModelFormats", "TestSupport"]),
        .testTarget(name: "TokenizersTests", dependencies: ["Tokenizers", "TestSupport"]),
        .testTarget(name: "SamplingTests", dependencies: ["Sampling"]),
        .testTarget(name: "ModelsTests", dependencies: ["Models", "TestSupport"]),
        .testTarget(name: "InferenceTests", dependencies: ["Inference", "TestSupport"]),
        .testTarget(name: "SquintCLITests", dependencies: ["TestSupport"]),
        .testTarget(name: "ImageProcessingTests", dependencies: ["ImageProcessing", "TestSupport"]),
        .testTarget(name: "TerminalUITests", dependencies: ["TerminalUI", "TestSupport"]),
        .testTarget(name: "ChatAppTests", dependencies: ["ChatApp", "TerminalUI", "TestSupport"]),
    ]
)
