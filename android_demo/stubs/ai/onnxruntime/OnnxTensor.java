package ai.onnxruntime;

import java.nio.FloatBuffer;
import java.nio.IntBuffer;
import java.nio.LongBuffer;

/** Stub of {@code ai.onnxruntime.OnnxTensor} (see stubs/README.md). */
public class OnnxTensor extends OnnxTensorLike {
    OnnxTensor() {
        throw Stub.fail();
    }

    @Override
    public OnnxValue.OnnxValueType getType() {
        throw Stub.fail();
    }

    @Override
    public Object getValue() throws OrtException {
        throw Stub.fail();
    }

    @Override
    public synchronized void close() {
        throw Stub.fail();
    }

    public LongBuffer getLongBuffer() {
        throw Stub.fail();
    }

    public FloatBuffer getFloatBuffer() {
        throw Stub.fail();
    }

    public static OnnxTensor createTensor(OrtEnvironment env, LongBuffer data, long[] shape) throws OrtException {
        throw Stub.fail();
    }

    public static OnnxTensor createTensor(OrtEnvironment env, IntBuffer data, long[] shape) throws OrtException {
        throw Stub.fail();
    }

    public static OnnxTensor createTensor(OrtEnvironment env, FloatBuffer data, long[] shape) throws OrtException {
        throw Stub.fail();
    }
}
