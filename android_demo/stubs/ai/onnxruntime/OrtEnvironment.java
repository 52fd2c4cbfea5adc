package ai.onnxruntime;

/** Stub of {@code ai.onnxruntime.OrtEnvironment} (see stubs/README.md). */
public final class OrtEnvironment implements AutoCloseable {
    private OrtEnvironment() {
    }

    public static synchronized OrtEnvironment getEnvironment() {
        throw Stub.fail();
    }

    public OrtSession createSession(String modelPath) throws OrtException {
        throw Stub.fail();
    }

    public OrtSession createSession(String modelPath, OrtSession.SessionOptions options) throws OrtException {
        throw Stub.fail();
    }

    public OrtSession createSession(byte[] modelArray, OrtSession.SessionOptions options) throws OrtException {
        throw Stub.fail();
    }

    public String getVersion() {
        throw Stub.fail();
    }

    @Override
    public void close() {
        throw Stub.fail();
    }
}
