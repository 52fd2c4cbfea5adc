package ai.onnxruntime;

/** Stub of {@code ai.onnxruntime.NodeInfo} (see stubs/README.md). */
public class NodeInfo {
    public NodeInfo(String name, ValueInfo info) {
        throw Stub.fail();
    }

    public String getName() {
        throw Stub.fail();
    }

    public ValueInfo getInfo() {
        throw Stub.fail();
    }
}
