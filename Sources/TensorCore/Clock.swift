// A monotonic clock for throughput figures and progress ETAs.
import Foundation

/// Seconds since an arbitrary fixed point; only differences mean anything.
public func now() -> Double { Double(DispatchTime.now().uptimeNanoseconds) / 1e9 }
