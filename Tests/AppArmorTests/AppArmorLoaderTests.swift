import AppArmorKit
import AppArmorNode
import Foundation
import KubeTestServer
import SPOAPI
import Testing

/// The node's AppArmor loader: real compilation with apparmor_parser, the real libapparmor
/// error paths of this kernel (no AppArmor), and the order of kernel calls with a fake kernel.
struct AppArmorLoaderTests {
    static let features = "/usr/share/apparmor-features/features"

    /// Records what reached the kernel.
    final class FakeKernel: AppArmorKernel, @unchecked Sendable {
        let calls = Locked<[String]>([])
        var reason: String?
        var refuse = false

        func unsupportedReason() -> String? { reason }

        func replace(_ name: String, compiled: [UInt8]) throws(AppArmorError) {
            calls.withLock { $0.append("replace \(name) \(compiled.count > 0 ? "policy" : "empty")") }
            if refuse { throw AppArmorError(.kernel, "the kernel refused profile \(name): Permission denied") }
        }

        func remove(_ name: String) throws(AppArmorError) {
            calls.withLock { $0.append("remove \(name)") }
        }
    }

    func loader(_ kernel: FakeKernel) -> AppArmorLoader {
        AppArmorLoader(kernel: kernel, featuresFile: Self.features)
    }

    let policy = AppArmorProfileText.render(.init(filesystem: .init(readOnlyPaths: ["/etc/**"])), name: "web")

    @Test func thisKernelHasNoAppArmorAndSaysSo() {
        #expect(LibAppArmorKernel().unsupportedReason() == "AppArmor not supported on node")
        #expect(throws: AppArmorError(.kernel, "cannot open the kernel's AppArmor interface: No such file or directory")) {
            try LibAppArmorKernel().replace("web", compiled: [1, 2, 3])
        }
        #expect(throws: AppArmorError(.kernel, "cannot open the kernel's AppArmor interface: No such file or directory")) {
            try LibAppArmorKernel().remove("web")
        }
    }

    @Test func theRealLoaderReportsNotSupportedBeforeCompiling() async {
        let loader = AppArmorLoader(featuresFile: Self.features)
        await #expect(throws: AppArmorError(.notSupported, "AppArmor not supported on node")) {
            try await loader.load(name: "web", text: "not even a profile")
        }
    }

    @Test func aCompiledProfileReachesTheKernelAndIsRemovedByName() async throws {
        try #require(FileManager.default.fileExists(atPath: Self.features), "make test installs apparmor")
        let kernel = FakeKernel()
        let compiled = try await loader(kernel).compile(name: "web", text: policy)
        #expect(compiled.count > 100)
        #expect(Array(compiled.prefix(4)) == [0x04, 0x08, 0x00, 0x76], "binary policy header")
        try await loader(kernel).load(name: "web", text: policy)
        try loader(kernel).unload(name: "web")
        #expect(kernel.calls.withLock { $0 } == ["replace web policy", "remove web"])
    }

    @Test func nothingReachesTheKernelUnlessTheTextCompilesAndNamesTheProfile() async throws {
        try #require(FileManager.default.fileExists(atPath: Self.features), "make test installs apparmor")
        let kernel = FakeKernel()
        await #expect {
            try await loader(kernel).load(name: "web", text: "profile web {\n  /etc/passwd x,\n}\n")
        } throws: { error in
            let error = error as? AppArmorError
            return error?.kind == .invalidPolicy && error?.message.contains("AppArmor parser error") == true
        }
        await #expect {
            try await loader(kernel).load(name: "web", text: "profile other {\n}\n")
        } throws: { error in
            (error as? AppArmorError)?.message == "policy \"web\" is not loaded: AppArmorProfile name must match defined policy (the text defines other)"
        }
        kernel.reason = "AppArmor not supported on node"
        await #expect(throws: AppArmorError(.notSupported, "AppArmor not supported on node")) {
            try await loader(kernel).load(name: "web", text: policy)
        }
        #expect(throws: AppArmorError(.notSupported, "AppArmor not supported on node")) { try loader(kernel).unload(name: "web") }
        #expect(kernel.calls.withLock { $0 } == [])
        kernel.reason = nil
        kernel.refuse = true
        await #expect(throws: AppArmorError(.kernel, "the kernel refused profile web: Permission denied")) {
            try await loader(kernel).load(name: "web", text: policy)
        }
    }
}
