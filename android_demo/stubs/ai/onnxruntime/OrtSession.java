package ai.onnxruntime;

import java.util.Iterator;
import java.util.Map;
import java.util.Set;

/** Stub of {@code ai.onnxruntime.OrtSession} (see stubs/README.md). */
public class OrtSession implements AutoCloseable {
    OrtSession() {
        throw Stub.fail();
    }

    public long getNumInputs() {
        throw Stub.fail();
    }

    public Set<String> getInputNames() {
        throw Stub.fail();
    }

    public Set<String> getOutputNames() {
        throw Stub.fail();
    }

    public Map<String, NodeInfo> getInputInfo() throws OrtException {
        throw Stub.fail();
    }

    public Map<String, NodeInfo> getOutputInfo() throws OrtException {
        throw Stub.fail();
    }

    public Result run(Map<String, ? extends OnnxTensorLike> inputs) throws OrtException {
        throw Stub.fail();
    }

    @Override
    public void close() throws OrtException {
        throw Stub.fail();
    }

    /** Stub of {@code OrtSession.SessionOptions}. */
    public static class SessionOptions implements AutoCloseable {
        /** Stub of {@code OrtSession.SessionOptions.OptLevel}. */
        public enum OptLevel {
            NO_OPT, BASIC_OPT, EXTENDED_OPT, LAYOUT_OPT, ALL_OPT;

            public int getID() {
                throw Stub.fail();
            }
        }

        public SessionOptions() {
            throw Stub.fail();
        }

        public void setOptimizationLevel(OptLevel level) throws OrtException {
            throw Stub.fail();
        }

        public void setIntraOpNumThreads(int numThreads) throws OrtException {
            throw Stub.fail();
        }

        public void setInterOpNumThreads(int numThreads) throws OrtException {
            throw Stub.fail();
        }

        public void addConfigEntry(String configKey, String configValue) throws OrtException {
            throw Stub.fail();
        }

        @Override
        public void close() {
            throw Stub.fail();
        }
    }

    /** Stub of {@code OrtSession.Result}. */
    public static class Result implements AutoCloseable, Iterable<Map.Entry<String, OnnxValue>> {
        Result() {
            throw Stub.fail();
        }

        @Override
        public void close() {
            throw Stub.fail();
        }

        @Override
        public Iterator<Map.Entry<String, OnnxValue>> iterator() {
            throw Stub.fail();
        }

        public OnnxValue get(int index) {
            throw Stub.fail();
        }

        public int size() {
            throw Stub.fail();
        }
    }
}
