// Fuzz targets: each takes arbitrary bytes to one reader of untrusted input and requires that it
// either succeeds or throws — a crash, a trap, a hang or an address-sanitizer report is a finding.
// FUZZ_TARGET picks the reader: gguf, safetensors, tokenizer_json, chat_template, json,
// train_config, eval_jsonl, answers, tiktoken, release_records, params_yaml, store.
import Evaluation
import Foundation
import ModelFormats
import Models
import Records
import Release
import Tokenization
import Training

/// File-based readers get the bytes through a file in /dev/shm (memory), as they would from disk.
let scratch: String = {
    let dir = FileManager.default.fileExists(atPath: "/dev/shm") ? "/dev/shm" : NSTemporaryDirectory()
    return dir + "/strawberry-fuzz-\(getpid())"
}()

func withFile(_ bytes: UnsafeRawBufferPointer, suffix: String, _ body: (String) throws -> Void) {
    let path = scratch + suffix
    guard FileManager.default.createFile(atPath: path, contents: Data(bytes)) else { return }
    try? body(path)
}

let targets = ["gguf", "safetensors", "tokenizer_json", "chat_template", "json", "train_config", "eval_jsonl", "answers", "tiktoken",
               "release_records", "params_yaml", "store"]
let target: String = {
    let t = ProcessInfo.processInfo.environment["FUZZ_TARGET"] ?? "json"
    guard targets.contains(t) else {
        FileHandle.standardError.write(Data("FUZZ_TARGET must be one of \(targets.joined(separator: ", ")), not '\(t)'\n".utf8))
        exit(2)
    }
    return t
}()

@_cdecl("LLVMFuzzerTestOneInput")
public func fuzz(_ data: UnsafePointer<UInt8>, _ size: Int) -> CInt {
    let bytes = UnsafeRawBufferPointer(start: data, count: size)
    switch target {
    case "gguf":
        withFile(bytes, suffix: ".gguf") { path in
            let f = try GGUFFile(path: path)
            for t in f.tensors.prefix(4) {
                var n = 1, overflow = false
                for d in t.shape { (n, overflow) = n.multipliedReportingOverflow(by: max(d, 0)); if overflow { break } }
                if !overflow, n <= 1 << 16 { _ = try? f.float32(t.name) }
            }
            _ = try? ModelConfig.gguf(f)
            if let tok = try? Tokenizer.gguf(f) { _ = tok.encode("How many r's are in 'strawberry'?") }
        }
    case "safetensors":
        withFile(bytes, suffix: ".safetensors") { path in
            let f = try SafetensorsFile(path: path)
            for t in f.tensors.prefix(4) { _ = try? f.float32(t.name) }
        }
    case "tokenizer_json":
        withFile(bytes, suffix: ".json") { path in
            let tok = try Tokenizer.huggingFace(path: path)
            let ids = tok.encode("Spell 'strawberry', naïve 123 🍓")
            _ = tok.decode(ids)
        }
    case "chat_template":
        let source = String(decoding: bytes, as: UTF8.self)
        if let t = try? ChatTemplate(source) {
            _ = try? t.render([ChatMessage(role: "system", content: "s"), ChatMessage(role: "user", content: "How many r's?")],
                              addGenerationPrompt: true, enableThinking: size % 2 == 0)
        }
    case "json":
        _ = try? JSONParser.parse(bytes)
    case "train_config":
        withFile(bytes, suffix: ".yaml") { path in
            let c = try TrainConfig.resolve(yamlPath: path, overrides: [])
            try c.validate()
        }
    case "eval_jsonl":
        withFile(bytes, suffix: ".jsonl") { path in
            _ = try? RecordFile.readLines(EvaluatedItem.self, from: path)
            _ = try? RecordFile.readLines(Question.self, from: path)
            _ = try? RecordFile.read(EvaluationSummary.self, from: path)
            // Another engine's generations and their request (`strawberry score`).
            _ = try? RecordFile.readLines(GeneratedAnswer.self, from: path)
            _ = try? RecordFile.read(GenerationInfo.self, from: path)
            // The same bytes as a hand-written benchmark (--eval-file), sampled as --limit would.
            var r = EvalRequest(model: "unused", out: "unused")
            r.evalFile = path
            r.limit = 3
            _ = try? Evaluator.loadItems(r)
        }
    case "answers":
        // A model's output is untrusted text: every answer reader, with and without the question's facts.
        let text = String(decoding: bytes, as: UTF8.self)
        var facts = QuestionFacts(word: "strawberry", wordLength: 10)
        facts.letter = "r"
        facts.position = 3
        facts.ordinal = "3rd"
        for t in AnswerType.allCases {
            _ = AnswerExtraction.read(t, text)
            _ = AnswerExtraction.read(t, text, facts: facts)
            _ = AnswerExtraction.normalizedGold(t, text)
            _ = AnswerType(inferredFrom: text)
        }
    case "tiktoken":
        withFile(bytes, suffix: ".tiktoken") { path in
            let tok = try Tokenizer.tiktoken(path: path)
            _ = tok.decode(tok.encode("Spell 'strawberry', naïve 123 🍓 <think>"))
        }
    case "release_records":
        // What deploy, publish, aggregate and the server read from a comparison and a deployment; then
        // the gate's arithmetic on whatever was accepted (a count or score out of range must have been refused).
        withFile(bytes, suffix: ".json") { path in
            if let r = try? RecordFile.read(EvaluationResults.self, from: path) {
                _ = try? Gate.score(r.finetunedModel.metrics, weights: Gate.defaultWeights, source: path)
                for (_, p) in r.finetunedModel.metrics.accuracy { _ = p.correct + p.n }
            }
            _ = try? RecordFile.read(ModelComparison.self, from: path)
            _ = try? RecordFile.read(DeploymentInfo.self, from: path)
            _ = try? RecordFile.read(FinalReport.self, from: path)
            _ = try? RecordFile.read(RunRecord.self, from: path)
        }
    case "params_yaml":
        withFile(bytes, suffix: ".yaml") { path in
            var r = DeployRequest(evaluationResults: "unused", adapter: "unused", store: "unused")
            try DeploymentParams.load(path).apply(to: &r)
        }
    case "store":
        // A registry.sqlite as a careless hand or a damaged disk leaves it: opened, listed, read.
        let dir = scratch + "-store"
        try? FileManager.default.removeItem(atPath: dir)
        try? FileManager.default.createDirectory(atPath: dir, withIntermediateDirectories: true)
        guard FileManager.default.createFile(atPath: dir + "/registry.sqlite", contents: Data(bytes)) else { break }
        if let s = try? Store(directory: dir) {
            _ = try? s.runs()
            for name in (try? s.models()) ?? [] { _ = try? s.versions(of: name) }
        }
    default: break   // `target` is one of `targets`
    }
    return 0
}
