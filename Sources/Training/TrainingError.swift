// What can stop a training run before or while it trains; each case names the file, key or value
// and what to change.
import Adapters

public enum TrainingError: Error, Equatable, CustomStringConvertible {
    case unreadable(path: String)
    case badYAML(path: String, reason: String)
    case badOverride(String, reason: String)
    case unknownKeys([String])
    case badConfig(reason: String)
    case badValue(key: String, value: String, expected: String)
    case adapter(AdapterError)
    case notTrainable(model: String, architecture: String)
    case noExamples(path: String, maxLength: Int)
    case emptyData(path: String)
    case noCheckpoint(path: String)
    case outputExists(path: String)
    case checkpointMismatch(path: String, reason: String)
    case initAdapterMismatch(path: String, reason: String)
    case diverged(step: Int, loss: Double)
    case io(path: String, reason: String)

    public var description: String {
        switch self {
        case .unreadable(let p): return "cannot read \(p); check the path (configs/train-smollm2.yaml is an example)."
        case .badYAML(let p, let r): return "\(p): not a usable YAML config: \(r)."
        case .badOverride(let o, let r): return "--set '\(o)': \(r) (e.g. --set max_steps=50 --set lora.r=8)."
        case .unknownKeys(let k): return "unknown config keys: \(k.joined(separator: ", ")); see configs/train-smollm2.yaml for the accepted keys."
        case .badConfig(let r): return "bad training config: \(r)."
        case .badValue(let k, let v, let e): return "config \(k) = \(v): expected \(e)."
        case .adapter(let e): return e.description
        case .notTrainable(let m, let a): return "\(m): LoRA training is not implemented for the \(a) architecture."
        case .emptyData(let p): return "\(p) holds no examples; build a dataset with `strawberry data build` and point `data` at it."
        case .noExamples(let p, let n):
            return "\(p) has no example whose completion fits in max_length \(n); raise max_length or check chat_template."
        case .outputExists(let p):
            return "output_dir \(p) already holds files; continue that run with --resume \(p), or choose a new output_dir (nothing was changed)."
        case .noCheckpoint(let p): return "\(p) has no checkpoint-*/ to resume from; give the run directory of an interrupted `strawberry train`."
        case .checkpointMismatch(let p, let r): return "\(p): \(r); resume with the configuration the run was started with."
        case .initAdapterMismatch(let p, let r): return "init_adapter \(p): \(r)."
        case .diverged(let s, let l):
            return "training diverged at step \(s) (loss \(l)); nothing was saved from this step. Lower learning_rate or check adam_beta1/adam_beta2."
        case .io(let p, let r): return "\(p): \(r)"
        }
    }
}
