package org.dynabert.edge.demo;

import java.io.Closeable;
import java.nio.IntBuffer;
import java.nio.LongBuffer;
import java.util.ArrayList;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;

import ai.onnxruntime.NodeInfo;
import ai.onnxruntime.OnnxJavaType;
import ai.onnxruntime.OnnxTensor;
import ai.onnxruntime.OnnxValue;
import ai.onnxruntime.OrtEnvironment;
import ai.onnxruntime.OrtException;
import ai.onnxruntime.OrtSession;
import ai.onnxruntime.TensorInfo;
import ai.onnxruntime.ValueInfo;

import org.dynabert.edge.core.Encoding;
import org.dynabert.edge.core.LogitsModel;
import org.dynabert.edge.core.ModelCard;

/**
 * The model half of the pipeline on ONNX Runtime (Java API of {@code onnxruntime-android}).
 *
 * <p>The session's own input list decides what is fed: only the inputs it declares among
 * {@code input_ids}, {@code attention_mask} and {@code token_type_ids} (some exports have no token
 * types); their element type (int64 or int32) comes from the session, the card's {@code input_dtype}
 * is the fallback. A fixed sequence dimension in the graph is reported so the caller pads to it.
 */
final class OrtLogitsModel implements LogitsModel, Closeable {
    static final String INPUT_IDS = "input_ids";
    static final String ATTENTION_MASK = "attention_mask";
    static final String TOKEN_TYPE_IDS = "token_type_ids";

    private final OrtEnvironment env;
    private final OrtSession.SessionOptions options;
    private final OrtSession session;
    private final List<String> feeds;
    private final boolean int32;
    private final String outputName;
    private final int fixedSequenceLength;

    static OrtSession.SessionOptions.OptLevel optLevel(String level) {
        if ("ORT_DISABLE_ALL".equals(level)) {
            return OrtSession.SessionOptions.OptLevel.NO_OPT;
        } else if ("ORT_ENABLE_BASIC".equals(level)) {
            return OrtSession.SessionOptions.OptLevel.BASIC_OPT;
        } else if ("ORT_ENABLE_EXTENDED".equals(level)) {
            return OrtSession.SessionOptions.OptLevel.EXTENDED_OPT;
        }
        return OrtSession.SessionOptions.OptLevel.ALL_OPT;
    }

    OrtLogitsModel(String modelPath, ModelCard card, int intraOpThreads) throws OrtException {
        env = OrtEnvironment.getEnvironment();
        options = new OrtSession.SessionOptions();
        OrtSession created = null;
        try {
            // The settings the export measured for this file (e.g. SkipLayerNormFusion disabled: see
            // export/session_settings.py); ALL_OPT and no entries when the card has none.
            options.setOptimizationLevel(optLevel(card.ortOptimizationLevel));
            for (Map.Entry<String, String> entry : card.ortConfigEntries.entrySet()) {
                options.addConfigEntry(entry.getKey(), entry.getValue());
            }
            if (intraOpThreads > 0) {
                options.setIntraOpNumThreads(intraOpThreads);
            }
            created = env.createSession(modelPath, options);

            Map<String, NodeInfo> inputs = created.getInputInfo();
            if (!inputs.containsKey(INPUT_IDS)) {
                throw new IllegalStateException("the model has no '" + INPUT_IDS + "' input; it has " + inputs.keySet());
            }
            feeds = new ArrayList<String>();
            Boolean sessionSaysInt32 = null;
            int fixed = -1;
            for (Map.Entry<String, NodeInfo> e : inputs.entrySet()) {
                String name = e.getKey();
                if (!name.equals(INPUT_IDS) && !name.equals(ATTENTION_MASK) && !name.equals(TOKEN_TYPE_IDS)) {
                    throw new IllegalStateException("the model wants an input the app cannot provide: '" + name + "'");
                }
                feeds.add(name);
                ValueInfo vi = e.getValue().getInfo();
                if (vi instanceof TensorInfo) {
                    TensorInfo ti = (TensorInfo) vi;
                    if (ti.type == OnnxJavaType.INT32) {
                        sessionSaysInt32 = Boolean.TRUE;
                    } else if (ti.type == OnnxJavaType.INT64) {
                        sessionSaysInt32 = Boolean.FALSE;
                    } else {
                        throw new IllegalStateException("input '" + name + "' has element type " + ti.type
                                + "; only int64 and int32 ids are supported");
                    }
                    long[] shape = ti.getShape();
                    if (shape.length == 2 && shape[1] > 0) {
                        fixed = (int) shape[1];
                    }
                }
            }
            int32 = sessionSaysInt32 != null ? sessionSaysInt32.booleanValue() : "int32".equals(card.inputDtype);
            fixedSequenceLength = fixed;

            String out = null;
            for (String name : created.getOutputNames()) {
                if (name.equals(card.output)) {
                    out = name;
                }
            }
            if (out == null) {
                out = created.getOutputNames().iterator().next();
            }
            outputName = out;
            session = created;
            created = null;
        } finally {
            if (created != null) {
                created.close();
                options.close();
            }
        }
    }

    /** The graph's fixed sequence length, or -1 when the sequence dimension is dynamic. */
    int fixedSequenceLength() {
        return fixedSequenceLength;
    }

    List<String> feeds() {
        return feeds;
    }

    boolean int32Inputs() {
        return int32;
    }

    String runtimeVersion() {
        return env.getVersion();
    }

    @Override
    public float[] logits(Encoding enc) throws OrtException {
        long[] shape = {1, enc.length()};
        Map<String, OnnxTensor> inputs = new LinkedHashMap<String, OnnxTensor>();
        try {
            for (String name : feeds) {
                int[] values;
                if (name.equals(INPUT_IDS)) {
                    values = enc.inputIds();
                } else if (name.equals(ATTENTION_MASK)) {
                    values = enc.attentionMask();
                } else {
                    values = enc.tokenTypeIds();
                }
                OnnxTensor t;
                if (int32) {
                    t = OnnxTensor.createTensor(env, IntBuffer.wrap(values), shape);
                } else {
                    long[] wide = new long[values.length];
                    for (int i = 0; i < values.length; i++) {
                        wide[i] = values[i];
                    }
                    t = OnnxTensor.createTensor(env, LongBuffer.wrap(wide), shape);
                }
                inputs.put(name, t);
            }
            OrtSession.Result result = session.run(inputs);
            try {
                for (Map.Entry<String, OnnxValue> e : result) {
                    if (e.getKey().equals(outputName)) {
                        return toRow(e.getValue().getValue());
                    }
                }
                throw new IllegalStateException("output '" + outputName + "' missing from the run result");
            } finally {
                result.close();
            }
        } finally {
            for (OnnxTensor t : inputs.values()) {
                t.close();
            }
        }
    }

    private static float[] toRow(Object value) {
        if (value instanceof float[][]) {
            float[][] rows = (float[][]) value;
            if (rows.length != 1) {
                throw new IllegalStateException("expected logits of shape [1, num_labels], got " + rows.length + " rows");
            }
            return rows[0];
        }
        if (value instanceof float[]) {
            return (float[]) value;
        }
        throw new IllegalStateException("expected float logits, got " + (value == null ? "null" : value.getClass().getSimpleName()));
    }

    @Override
    public void close() {
        try {
            session.close();
        } catch (OrtException e) {
            // Closing a session only fails if the native side is already gone; nothing to do.
        } finally {
            options.close();
        }
    }
}
