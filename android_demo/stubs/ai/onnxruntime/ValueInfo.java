package ai.onnxruntime;

/** Stub of {@code ai.onnxruntime.ValueInfo} (see stubs/README.md). */
public interface ValueInfo {
}
