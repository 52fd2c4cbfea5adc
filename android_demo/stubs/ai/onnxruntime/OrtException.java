package ai.onnxruntime;

/** Stub of {@code ai.onnxruntime.OrtException} (see stubs/README.md). */
public class OrtException extends Exception {
    private static final long serialVersionUID = 1L;

    public OrtException(String message) {
        super(message);
    }
}
