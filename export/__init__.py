"""export stage of dynabert-edge: the 12 sub-models of a rewired DynaBERT in every deployment format.

``python -m export.all --ckpt CKPT`` (see :mod:`export.all`). One module per job:

- :mod:`export.huggingface`  ``hf/``: the physically sliced stock transformers checkpoint
- :mod:`export.wrapper`      the traced module (eager attention, precomputed additive mask)
- :mod:`export.onnx_export`  ONNX fp32 with dynamic batch/sequence axes
- :mod:`export.optimize`     onnxruntime's transformer fusions, kept where measured faster
- :mod:`export.session_settings` the ONNX Runtime session settings each ONNX file ships with (measured on x86)
- :mod:`export.quantize`     INT8 ONNX: dynamic per-channel, and static QDQ
- :mod:`export.ort_format`   ``.ort`` for ONNX Runtime Mobile and the required-operators config
- :mod:`export.coreml`       Core ML ``.mlpackage`` (fp16, int8 weights) and its spec validation
- :mod:`export.pte`          ExecuTorch ``.pte`` with XNNPACK (the ``executorch`` extra)
- :mod:`export.verify`       the parity gate and the weight-count check
- :mod:`export.pipeline`     one sub-model's artifacts: build, verify, skip what is up to date
- :mod:`export.workers`      the worker processes (spawned; they die with the main process)
- :mod:`export.manifest`     export's side of ``manifest.json`` (schema, reader, writer: :mod:`dynabert.files.manifest`)
- :mod:`export.formats`      the table of formats, their tools and extras
- :mod:`export.inputs`       real dev/train inputs for verification and calibration
- :mod:`export.vocab`        ``--vocab task``: the task vocabulary and its tokenizer
- :mod:`export.embeddings`   cutting the word rows and the position table of the model
- :mod:`export.report`       the summary table
- :mod:`export.bundle`       ``python -m export.bundle``: one weights file for every sub-network (fp32, INT8)
- :mod:`export.bundle_plan`  the prefix check and each bundle entry's graph; :mod:`export.bundle_int8` its
  quantized variant; :mod:`export.bundle_weights` ``weights.bin`` and its external-data ranges;
  :mod:`export.bundle_index` ``bundle.json``, its typed reader and writer
- :mod:`export.quiet`        keeping the converters' log chatter off the progress bar
"""
