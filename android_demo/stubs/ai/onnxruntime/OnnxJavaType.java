package ai.onnxruntime;

/** Stub of {@code ai.onnxruntime.OnnxJavaType} (see stubs/README.md). */
public enum OnnxJavaType {
    FLOAT, DOUBLE, INT8, INT16, INT32, INT64, BOOL, STRING, UINT8, FLOAT16, BFLOAT16, UNKNOWN;
}
