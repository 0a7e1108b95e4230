/// Polls `condition` every 10 ms until it holds or `timeout` passes; returns whether it held.
/// Tests use it to wait for controllers, informers and processes to converge.
@discardableResult
public func eventually(timeout: Duration = .seconds(15), _ condition: () throws -> Bool) async rethrows -> Bool {
    let deadline = ContinuousClock.now + timeout
    while ContinuousClock.now < deadline {
        if try condition() { return true }
        try? await Task.sleep(for: .milliseconds(10))
    }
    return try condition()
}
