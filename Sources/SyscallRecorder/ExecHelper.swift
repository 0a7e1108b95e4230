import Foundation
import CSyscallTrace
import SPOAPI
import SeccompCompiler

#if canImport(Glibc)
import Glibc
#endif

/// The helper process between a recorder or runner and the command: reads its gate (a pipe
/// on a known descriptor) to the end, loads the seccomp profile it was sent (if any), asks to
/// be traced (with `--traceme`), then `exec`s the command. Arguments:
/// `[--gate-fd N] [--traceme] -- COMMAND ARGS...`.
///
/// Everything that allocates happens before the gate opens, so that between the gate and
/// `execve` the command's recording sees no call of the helper's own.
public enum ExecHelper {
    public static func main(_ arguments: [String]) -> Never {
        var gate: Int32?
        var traceme = false
        var index = 0
        while index < arguments.count, arguments[index] != "--" {
            switch arguments[index] {
            case "--gate-fd":
                index += 1
                gate = index < arguments.count ? Int32(arguments[index]) : nil
                if gate == nil { fail("--gate-fd needs a descriptor number") }
            case "--traceme":
                traceme = true
            default:
                fail("unknown option \(arguments[index])")
            }
            index += 1
        }
        let command = Array(arguments.dropFirst(index + 1))
        guard let executable = command.first else { fail("missing the command after --") }
        let argv = command.map { strdup($0) } + [nil]

        var profile: [UInt8] = []
        if let gate {
            _ = fcntl(gate, F_SETFD, FD_CLOEXEC)
            var buffer = [UInt8](repeating: 0, count: 4096)
            while true {
                let count = buffer.withUnsafeMutableBytes { read(gate, $0.baseAddress, $0.count) }
                if count == 0 { break }
                if count < 0 {
                    if errno == EINTR { continue }
                    fail("reading the gate: \(String(cString: strerror(errno)))")
                }
                profile.append(contentsOf: buffer[..<count])
            }
        }
        var filter: SeccompFilter?
        if !profile.isEmpty {
            do {
                let spec = try APIDecoder.decode(SeccompProfile.Spec.self, from: Data(profile))
                filter = try SeccompFilter.compile(spec)
            } catch {
                fail("the profile: \(error)")
            }
        }
        if traceme, csyscalltrace_traceme() != 0 {
            fail("ptrace(PTRACE_TRACEME): \(String(cString: strerror(errno)))")
        }
        if let filter {
            // If the profile denies what the helper needs after loading it (execve, write,
            // exit_group), the process can only end by a fault: let faults kill it instead of
            // running the Swift runtime's crash handler under the filter.
            for signal in [SIGSEGV, SIGBUS, SIGILL, SIGFPE, SIGTRAP, SIGABRT, SIGSYS] {
                Glibc.signal(signal, SIG_DFL)
            }
            do { try filter.load() } catch { fail("\(error)") }
        }
        execv(executable, argv)
        // Only reached when exec failed; the filter may be what stopped it.
        fail("cannot run \(executable): \(String(cString: strerror(errno)))", status: 127)
    }

    private static func fail(_ message: String, status: Int32 = 126) -> Never {
        let line = "spoc: \(message)\n"
        _ = line.withCString { write(2, $0, strlen($0)) }
        _exit(status)
    }
}
