package org.dynabert.edge.core;

/**
 * The model half of classification: token ids in, one row of logits out. The Android app implements
 * it with ONNX Runtime ({@code OrtLogitsModel}); tests use fakes.
 */
public interface LogitsModel {
    /** Runs the model on one encoded input and returns the logits for it ({@code [num_labels]}). */
    float[] logits(Encoding encoding) throws Exception;
}
