package ai.onnxruntime;

/** Stub of {@code ai.onnxruntime.OnnxTensorLike} (see stubs/README.md). */
public abstract class OnnxTensorLike implements OnnxValue {
    OnnxTensorLike() {
    }

    @Override
    public TensorInfo getInfo() {
        throw Stub.fail();
    }

    @Override
    public synchronized boolean isClosed() {
        throw Stub.fail();
    }
}
