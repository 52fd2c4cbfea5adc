# shellcheck shell=bash
# Shared helpers for the android_demo CI scripts (sourced, not run).
# The scripts install nothing: a missing tool stops them with the command that installs it.

ANDROID_JAR="${ANDROID_JAR:-/usr/lib/android-sdk/platforms/android-23/android.jar}"
JUNIT_JAR="${JUNIT_JAR:-/usr/share/java/junit4.jar}"
HAMCREST_JAR="${HAMCREST_JAR:-/usr/share/java/hamcrest-core.jar}"
# ASM (Debian libasm-java) for tools/OrtClassesToJava8.java.
ASM_JAR="${ASM_JAR:-/usr/share/java/asm.jar}"
ASM_CP="$ASM_JAR:/usr/share/java/asm-tree.jar:/usr/share/java/asm-analysis.jar:/usr/share/java/asm-util.jar"
# Where ci/install_toolchain.sh puts the real ONNX Runtime Android Java API (classes.jar of the AAR).
ORT_AAR_VERSION="1.29.0"
DYNABERT_CACHE_DIR="${DYNABERT_CACHE_DIR:-${XDG_CACHE_HOME:-$HOME/.cache}/dynabert-edge}"
ORT_CLASSES_JAR_DEFAULT="$DYNABERT_CACHE_DIR/ort-android-$ORT_AAR_VERSION/classes.jar"
# ... and its native libraries, jni/<abi>/libonnxruntime.so + libonnxruntime4j_jni.so.
ORT_JNI_DIR_DEFAULT="$DYNABERT_CACHE_DIR/ort-android-$ORT_AAR_VERSION/jni"
ORT_ABIS="arm64-v8a armeabi-v7a x86 x86_64"
# The Python onnxruntime of the same version (an unpacked wheel), to check that exported files load on
# the runtime the app ships: tests/test_export.py runs them with PYTHONPATH pointing here.
ORT_PYTHON_DIR_DEFAULT="$DYNABERT_CACHE_DIR/ort-python-$ORT_AAR_VERSION"

INSTALL_HINT="bash android_demo/ci/install_toolchain.sh  (as root; it runs apt-get for the Debian 12 packages and installs the two cached .debs from ../shared/debs)"

die() {
    echo "ERROR: $*" >&2
    exit 2
}

# need TOOL PACKAGE: fail clearly when TOOL is not on PATH.
need() {
    command -v "$1" >/dev/null 2>&1 || die "'$1' not found (Debian package: $2). Install the toolchain with:
    $INSTALL_HINT
or: apt-get update && apt-get install -y $2"
}

# need_file PATH PACKAGE
need_file() {
    [ -f "$1" ] || die "$1 not found (Debian package: $2). Install the toolchain with:
    $INSTALL_HINT"
}
