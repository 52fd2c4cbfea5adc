package ai.onnxruntime;

/** Compile-time stub marker (not part of the ONNX Runtime API; package-private). */
final class Stub {
    static final String MESSAGE = "compile-time stub of the ONNX Runtime Java API: not a runtime";

    private Stub() {
    }

    static UnsupportedOperationException fail() {
        return new UnsupportedOperationException(MESSAGE);
    }
}
