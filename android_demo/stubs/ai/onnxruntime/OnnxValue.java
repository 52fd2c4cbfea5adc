package ai.onnxruntime;

/** Stub of {@code ai.onnxruntime.OnnxValue} (see stubs/README.md). */
public interface OnnxValue extends AutoCloseable {
    /** Stub of {@code OnnxValue.OnnxValueType}. */
    enum OnnxValueType {
        ONNX_TYPE_UNKNOWN, ONNX_TYPE_TENSOR, ONNX_TYPE_SEQUENCE, ONNX_TYPE_MAP, ONNX_TYPE_OPAQUE,
        ONNX_TYPE_SPARSETENSOR, ONNX_TYPE_OPTIONAL;
    }

    OnnxValueType getType();

    Object getValue() throws OrtException;

    ValueInfo getInfo();

    boolean isClosed();

    @Override
    void close();
}
