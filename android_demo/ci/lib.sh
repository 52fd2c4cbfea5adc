# shellcheck shell=bash
# Shared helpers for the android_demo CI scripts (sourced, not run).
# The scripts install nothing: a missing tool stops them with the command that installs it.

ANDROID_JAR="${ANDROID_JAR:-/usr/lib/android-sdk/platforms/android-23/android.jar}"
JUNIT_JAR="${JUNIT_JAR:-/usr/share/java/junit4.jar}"
HAMCREST_JAR="${HAMCREST_JAR:-/usr/share/java/hamcrest-core.jar}"
# Where ci/install_toolchain.sh puts the real ONNX Runtime Android Java API (classes.jar of the AAR).
ORT_AAR_VERSION="1.29.0"
DYNABERT_CACHE_DIR="${DYNABERT_CACHE_DIR:-${XDG_CACHE_HOME:-$HOME/.cache}/dynabert-edge}"
ORT_CLASSES_JAR_DEFAULT="$DYNABERT_CACHE_DIR/ort-android-$ORT_AAR_VERSION/classes.jar"

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
