package org.dynabert.edge.demo;

/** Turns any failure into one line a user can act on. */
final class Errors {
    static final String NO_RUNTIME = "ONNX Runtime is not in this APK. The offline CI build (ci/build_apk.sh)"
            + " compiles against API stubs and ships no runtime; build the app with Gradle / Android Studio,"
            + " which adds com.microsoft.onnxruntime:onnxruntime-android.";

    private Errors() {
    }

    static String describe(Throwable t) {
        if (t instanceof NoClassDefFoundError && String.valueOf(t.getMessage()).contains("ai/onnxruntime")) {
            return NO_RUNTIME + " (" + t.getClass().getSimpleName() + ": " + t.getMessage() + ")";
        }
        if (t instanceof UnsatisfiedLinkError) {
            return "The ONNX Runtime native library could not be loaded on this device (ABI "
                    + android.os.Build.SUPPORTED_ABIS[0] + "): " + t.getMessage();
        }
        if (t instanceof OutOfMemoryError) {
            return "Out of memory: this model is too large for the memory the app has.";
        }
        String msg = t.getMessage();
        String name = t.getClass().getSimpleName();
        return msg == null || msg.isEmpty() ? name : name + ": " + msg;
    }
}
