package ai.onnxruntime;

/** Stub of {@code ai.onnxruntime.TensorInfo} (see stubs/README.md). */
public class TensorInfo implements ValueInfo {
    public final OnnxJavaType type;

    TensorInfo() {
        this.type = null;
        throw Stub.fail();
    }

    public long[] getShape() {
        throw Stub.fail();
    }
}
