/// How long tests wait for controllers, informers and processes to converge. Generous on
/// purpose: a wait that succeeds returns as soon as its condition holds, so this only bounds how
/// long a broken test takes, while the whole suite runs in parallel on two cores (CI builds
/// right before it, and the SELinux policy compiles keep a core busy for most of the run).
public let convergenceTimeout: Duration = .seconds(90)

/// Polls `condition` every 10 ms until it holds or `timeout` passes; returns whether it held.
/// Tests use it to wait for controllers, informers and processes to converge.
@discardableResult
public func eventually(timeout: Duration = convergenceTimeout, _ condition: () throws -> Bool) async rethrows -> Bool {
    let deadline = ContinuousClock.now + timeout
    while ContinuousClock.now < deadline {
        if try condition() { return true }
        try? await Task.sleep(for: .milliseconds(10))
    }
    return try condition()
}
