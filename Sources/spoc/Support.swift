import ArgumentParser
import Foundation
import SPOAPI
import SeccompCompiler
import SeccompKit

#if canImport(Glibc)
import Glibc
#endif

/// Prints `spoc: message` on stderr.
func note(_ message: String) {
    FileHandle.standardError.write(Data("spoc: \(message)\n".utf8))
}

/// A one-line failure: printed by ``fail(_:status:)`` and turned into an exit code.
func fail(_ message: String, status: Int32 = 1) -> ExitCode {
    note(message)
    return ExitCode(status)
}

/// A profile file given on the command line, with its bases resolved.
struct LoadedProfile {
    var path: String
    var document: ProfileDocument
    /// The spec with `baseProfileName` resolved and merged in.
    var resolved: SeccompProfile.Spec
    /// A name for messages and for output objects: the object's name, else the file's.
    var name: String
}

enum ProfileInput {
    /// Reads `path`, picks the profile (`select` names it when the file has several) and
    /// resolves its bases.
    static func load(_ path: String, select: String? = nil) throws(ExitCode) -> LoadedProfile {
        let documents = try read(path)
        let document: ProfileDocument
        if let select {
            guard let chosen = documents.first(where: { $0.name == select }) else {
                throw fail("\(path): no SeccompProfile named \(select)")
            }
            document = chosen
        } else {
            guard documents.count == 1 else {
                throw fail("\(path): \(documents.count) profiles in one file; choose one with --select NAME")
            }
            document = documents[0]
        }
        let name = document.name ?? defaultName(for: path)
        do {
            let resolved = try BaseProfiles.resolve(document.spec, name: name) { base in lookup(base, besides: path, documents: documents) }
            return LoadedProfile(path: path, document: document, resolved: resolved, name: name)
        } catch {
            throw fail("\(path): \(error)")
        }
    }

    static func read(_ path: String, skippingOtherKinds: Bool = false) throws(ExitCode) -> [ProfileDocument] {
        guard let data = FileManager.default.contents(atPath: path) else {
            throw fail("\(path): cannot read: \(String(cString: strerror(errno)))")
        }
        do {
            return try ProfileDocument.read(data, skippingOtherKinds: skippingOtherKinds)
        } catch {
            throw fail("\(path): \(error)")
        }
    }

    /// A base profile: another profile of the same file, a SeccompProfile file in the same
    /// directory, or a built-in.
    static func lookup(_ base: String, besides path: String, documents: [ProfileDocument]) -> SeccompProfile.Spec? {
        if let sibling = documents.first(where: { $0.name == base }) { return sibling.spec }
        let directory = URL(fileURLWithPath: path).deletingLastPathComponent()
        let files = (try? FileManager.default.contentsOfDirectory(at: directory, includingPropertiesForKeys: nil)) ?? []
        for file in files.sorted(by: { $0.path < $1.path }).prefix(1000)
        where ["yaml", "yml", "json"].contains(file.pathExtension) && file.standardizedFileURL.path != URL(fileURLWithPath: path).standardizedFileURL.path {
            guard let data = try? Data(contentsOf: file), let found = try? ProfileDocument.read(data) else { continue }
            if let match = found.first(where: { $0.format == .crd && $0.name == base }) { return match.spec }
        }
        return BuiltInProfiles.all[base]
    }

    /// `ls` for `/bin/ls`, `my-app` for `my-app.yaml`: a DNS-label name.
    static func defaultName(for path: String) -> String {
        var base = URL(fileURLWithPath: path).deletingPathExtension().lastPathComponent.lowercased()
        base = String(base.map { $0.isLetter || $0.isNumber ? $0 : "-" }).trimmingCharacters(in: CharacterSet(charactersIn: "-"))
        return base.isEmpty ? "profile" : String(base.prefix(63))
    }
}

/// Checks that a (resolved) profile compiles with libseccomp for every architecture it names.
func compileCheck(_ spec: SeccompProfile.Spec, _ label: String) throws(ExitCode) {
    do {
        _ = try SeccompFilter.compile(spec)
    } catch {
        throw fail("\(label): \(error)")
    }
}

/// Writes `text` to `path` through a temporary file in the same directory and a rename, so
/// that a failure leaves no partial file; `-` or nil is stdout.
func writeOutput(_ text: String, to path: String?) throws(ExitCode) {
    guard let path, path != "-" else {
        FileHandle.standardOutput.write(Data(text.utf8))
        return
    }
    let url = URL(fileURLWithPath: path)
    let temporary = url.deletingLastPathComponent().appendingPathComponent(".\(url.lastPathComponent).\(getpid()).tmp")
    do {
        try Data(text.utf8).write(to: temporary)
        guard rename(temporary.path, url.path) == 0 else { throw CocoaError(.fileWriteUnknown) }
    } catch {
        unlink(temporary.path)
        throw fail("\(path): cannot write: \(String(cString: strerror(errno)))")
    }
}

extension ProfileDocument.Format: ExpressibleByArgument {}
