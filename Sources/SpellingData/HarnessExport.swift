// The benchmark in the harness researchers already run: the dataset's count, position and spelling
// questions (direct style) as lm-evaluation-harness tasks, so any Hugging Face model can be scored on
// them with `lm_eval` (docs/metrics.md, "The benchmark in lm-evaluation-harness"):
//   lm_eval/strawberry.yaml                 the group of the three tasks
//   lm_eval/strawberry_count.yaml           multiple-choice log-likelihood over the counts 0…20
//   lm_eval/strawberry_position.yaml        multiple-choice log-likelihood over the letters a…z
//   lm_eval/strawberry_spelling.yaml        generation, exact match on the letters
//   lm_eval/{count,position,spelling}_{validation,test}.jsonl
// The candidates, the prompt and the split of context and candidate are those of `eval --scoring
// likelihood` (target delimiter "", the candidates of `CandidateSet`), so `lm_eval --apply_chat_template`
// picks the same answers item by item. Data paths are relative to the dataset directory: run lm_eval there.
import Records

enum HarnessExport {
    /// One line of a task's JSONL.
    struct Doc: Encodable {
        var id: String
        var prompt: String
        var answer: String
        var word: String?
        var choices: [String]?
        var goldIndex: Int?
        enum CodingKeys: String, CodingKey { case id, prompt, answer, word, choices, goldIndex = "gold_index" }
    }

    /// File name → text, from the direct-style questions of each split.
    static func files(_ questions: [String: [EvalTask: [Question]]]) throws -> [String: String] {
        var out: [String: String] = [:]
        let splits = questions.keys.sorted()
        for task in EvalTask.allCases {
            // One candidate set across splits, as one evaluation of either split would use.
            let golds = splits.flatMap { questions[$0]?[task]?.map(\.answer) ?? [] }
            let choices = task == .spelling ? nil : AnswerType(task: task.rawValue).flatMap { CandidateSet.candidates($0, golds: golds) }
            for split in splits {
                let docs = (questions[split]?[task] ?? []).map { q in
                    Doc(id: q.id, prompt: q.prompt, answer: q.answer, word: q.facts.word, choices: choices,
                        goldIndex: choices.flatMap { $0.firstIndex(of: q.answer.lowercased()) })
                }
                out["lm_eval/\(task.rawValue)_\(split).jsonl"] = try RecordFile.lines(docs)
            }
            out["lm_eval/strawberry_\(task.rawValue).yaml"] = yaml(task, splits: splits)
        }
        out["lm_eval/strawberry.yaml"] = """
            # lm-evaluation-harness group of Strawberry's letter-level tasks (written by `strawberry data build`).
            # Run from the dataset directory:
            #   lm_eval --model hf --model_args pretrained=MODEL --include_path lm_eval --tasks strawberry --apply_chat_template
            group: strawberry
            task:
              - strawberry_count
              - strawberry_position
              - strawberry_spelling
            metadata:
              version: 1

            """
        return out
    }

    static func yaml(_ task: EvalTask, splits: [String]) -> String {
        var y = ["# lm-evaluation-harness task written by `strawberry data build`: the dataset's \(task.rawValue) questions (direct style).",
                 "# Data paths are relative to the dataset directory; run lm_eval there with --include_path lm_eval.",
                 "task: strawberry_\(task.rawValue)", "dataset_path: json", "dataset_kwargs:", "  data_files:"]
        for s in splits { y.append("    \(s): lm_eval/\(task.rawValue)_\(s).jsonl") }
        if splits.contains("validation") { y.append("validation_split: validation") }
        if splits.contains("test") { y.append("test_split: test") }
        y.append("doc_to_text: prompt")
        switch task {
        case .count, .position:
            // The candidate follows the assistant turn opener directly, as in `eval --scoring likelihood`.
            y += ["output_type: multiple_choice", "doc_to_choice: choices", "doc_to_target: gold_index", "target_delimiter: \"\"",
                  "metric_list:", "  - metric: acc", "    aggregation: mean", "    higher_is_better: true"]
        case .spelling:
            y += ["output_type: generate_until", "doc_to_target: answer", "target_delimiter: \"\"",
                  "generation_kwargs:", "  until: [\"<|im_end|>\", \"<|endoftext|>\"]", "  do_sample: false", "  max_gen_toks: 48",
                  "metric_list:", "  - metric: exact_match", "    aggregation: mean", "    higher_is_better: true",
                  "    ignore_case: true", "    regexes_to_ignore: [\"[^A-Za-z]\"]"]
        }
        y += ["metadata:", "  version: 1", ""]
        return y.joined(separator: "\n")
    }
}
