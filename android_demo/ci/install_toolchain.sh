#!/usr/bin/env bash
# Installs what android_demo/ci/run_junit.sh and build_apk.sh need, idempotently (tools already present
# are not reinstalled). Needs root (or sudo) for apt-get. For .ci/run:
#     bash android_demo/ci/install_toolchain.sh
#
# 1. Debian 12 packages: aapt zipalign apksigner junit4 proguard-cli default-jre-headless dexdump
#    (+ a JDK if javac is missing);
# 2. the two Debian 11 packages cached in ../shared/debs (android.jar API 23 and the dx dexer), after
#    checking them against ../shared/debs/SHA256SUMS;
# 3. optional (skip with DYNABERT_SKIP_ORT_AAR=1): the real ONNX Runtime Android runtime, which
#    build_apk.sh packs into the APK. Maven is not reachable here; the official onnxruntime-android AAR
#    (ORT 1.29.0, checked against its sha256) ships inside the npm package com.github.asus4.onnxruntime
#    (a Unity packaging of ONNX Runtime, MIT). Its classes.jar and jni/<abi>/*.so are kept in the user
#    cache ($DYNABERT_CACHE_DIR, default ~/.cache/dynabert-edge), with libasm-java for the class-file
#    rewrite build_apk.sh does (tools/OrtClassesToJava8.java). A failure in this step is a warning, not
#    an error (build_apk.sh then says what is missing).
set -euo pipefail

HERE="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
DEMO="$(dirname "$HERE")"
REPO="$(dirname "$DEMO")"
# shellcheck source=lib.sh
. "$HERE/lib.sh"
SHARED_DEBS="${SHARED_DEBS:-$REPO/../shared/debs}"

SUDO=""
if [ "$(id -u)" != 0 ]; then
    command -v sudo >/dev/null 2>&1 && SUDO="sudo" || true
fi

have_all() {
    for t in javac java aapt zipalign apksigner dalvik-exchange dexdump keytool; do
        command -v "$t" >/dev/null 2>&1 || return 1
    done
    [ -f "$ANDROID_JAR" ] && [ -f "$JUNIT_JAR" ] && [ -f "$HAMCREST_JAR" ] && [ -f "$ASM_JAR" ]
}

if have_all; then
    echo "install_toolchain: Android toolchain already installed"
else
    [ -n "$SUDO" ] || [ "$(id -u)" = 0 ] || die "install_toolchain: needs root (or sudo) for apt-get"
    export DEBIAN_FRONTEND=noninteractive
    echo "install_toolchain: apt-get update"
    $SUDO apt-get update -qq
    PKGS="aapt zipalign apksigner junit4 proguard-cli default-jre-headless dexdump libasm-java"
    command -v javac >/dev/null 2>&1 || PKGS="$PKGS default-jdk-headless"
    echo "install_toolchain: apt-get install $PKGS"
    $SUDO apt-get install -y -qq $PKGS >/dev/null
    if ! command -v dalvik-exchange >/dev/null 2>&1 || [ ! -f "$ANDROID_JAR" ]; then
        [ -d "$SHARED_DEBS" ] || die "install_toolchain: $SHARED_DEBS not found (the cached libandroid-23-java and dalvik-exchange .debs)"
        (cd "$SHARED_DEBS" && sha256sum --check --quiet SHA256SUMS) || die "install_toolchain: checksum mismatch in $SHARED_DEBS"
        echo "install_toolchain: installing $(cd "$SHARED_DEBS" && echo *.deb)"
        $SUDO apt-get install -y -qq "$SHARED_DEBS"/*.deb >/dev/null
    fi
    have_all || die "install_toolchain: some tools are still missing after the install"
    echo "install_toolchain: Android toolchain installed"
fi

# ---- optional: the real ONNX Runtime Android Java API (classes.jar) for the API check
ORT_NPM_PKG="com.github.asus4.onnxruntime@0.4.9"
ORT_AAR_SHA256="98cddbac92640b4a6af72a03c42e0491851f366d3da66bbaeb5dd66310946cf2"
if [ "${DYNABERT_SKIP_ORT_AAR:-0}" = 1 ]; then
    echo "install_toolchain: skipping the ONNX Runtime Android API jar (DYNABERT_SKIP_ORT_AAR=1)"
elif [ -f "$ORT_CLASSES_JAR_DEFAULT" ] && [ -f "$ORT_JNI_DIR_DEFAULT/x86_64/libonnxruntime.so" ]; then
    echo "install_toolchain: ONNX Runtime Android $ORT_AAR_VERSION already cached: $(dirname "$ORT_CLASSES_JAR_DEFAULT")"
elif ! command -v npm >/dev/null 2>&1; then
    echo "install_toolchain: WARNING: npm not found; build_apk.sh cannot pack the real ONNX Runtime"
else
    # Every step is checked explicitly: `set -e` does not apply inside a function called from `if`.
    fetch_ort_api() {
        local tmp dest aar
        tmp="$(mktemp -d "${TMPDIR:-/tmp}/ort-aar.XXXXXX")" || return 1
        echo "install_toolchain: fetching the ONNX Runtime Android AAR ($ORT_NPM_PKG, ~150 MB)"
        (cd "$tmp" && npm pack --silent "$ORT_NPM_PKG" >/dev/null 2>&1) || { rm -rf "$tmp"; return 1; }
        tar -xzf "$tmp"/*.tgz -C "$tmp" package/Plugins/Android/onnxruntime.aar package/LICENSE || { rm -rf "$tmp"; return 1; }
        aar="$tmp/package/Plugins/Android/onnxruntime.aar"
        if ! echo "$ORT_AAR_SHA256  $aar" | sha256sum --check --quiet; then
            echo "install_toolchain: checksum mismatch for the ONNX Runtime AAR" >&2
            rm -rf "$tmp"
            return 1
        fi
        dest="$(dirname "$ORT_CLASSES_JAR_DEFAULT")"
        mkdir -p "$dest" "$tmp/aar" || { rm -rf "$tmp"; return 1; }
        (cd "$tmp/aar" && unzip -q "$aar" classes.jar AndroidManifest.xml 'jni/*') || { rm -rf "$tmp"; return 1; }
        # The native libraries first, classes.jar last: its presence says the cache is complete.
        rm -rf "$dest/jni.part" \
            && cp -r "$tmp/aar/jni" "$dest/jni.part" \
            && rm -rf "$ORT_JNI_DIR_DEFAULT" && mv "$dest/jni.part" "$ORT_JNI_DIR_DEFAULT" \
            && cp "$tmp/package/LICENSE" "$dest/LICENSE" \
            && cp "$tmp/aar/AndroidManifest.xml" "$dest/AndroidManifest.xml" \
            && cp "$tmp/aar/classes.jar" "$dest/classes.jar.part" \
            && mv "$dest/classes.jar.part" "$ORT_CLASSES_JAR_DEFAULT" || { rm -rf "$tmp"; return 1; }
        rm -rf "$tmp"
        echo "install_toolchain: cached $ORT_CLASSES_JAR_DEFAULT and $ORT_JNI_DIR_DEFAULT/{$(echo $ORT_ABIS | tr ' ' ,)}"
    }
    if ! fetch_ort_api; then
        echo "install_toolchain: WARNING: could not fetch the ONNX Runtime Android AAR; build_apk.sh cannot pack the real runtime"
    fi
fi

# ---- optional: Python onnxruntime $ORT_AAR_VERSION, the app's runtime version, for the load check
if [ "${DYNABERT_SKIP_ORT_AAR:-0}" != 1 ] && [ ! -f "$ORT_PYTHON_DIR_DEFAULT/onnxruntime/__init__.py" ]; then
    PY="$(command -v python3 || true)"
    tmp="$(mktemp -d "${TMPDIR:-/tmp}/ort-py.XXXXXX")"
    if [ -n "$PY" ] && "$PY" -m pip download --quiet --no-deps --only-binary=:all: -d "$tmp" \
            "onnxruntime==$ORT_AAR_VERSION" >/dev/null 2>&1 \
        && rm -rf "$ORT_PYTHON_DIR_DEFAULT.part" && mkdir -p "$ORT_PYTHON_DIR_DEFAULT.part" \
        && (cd "$ORT_PYTHON_DIR_DEFAULT.part" && unzip -q "$tmp"/onnxruntime-*.whl) \
        && rm -rf "$ORT_PYTHON_DIR_DEFAULT" && mv "$ORT_PYTHON_DIR_DEFAULT.part" "$ORT_PYTHON_DIR_DEFAULT"; then
        echo "install_toolchain: cached Python onnxruntime $ORT_AAR_VERSION in $ORT_PYTHON_DIR_DEFAULT"
    else
        echo "install_toolchain: WARNING: could not fetch Python onnxruntime $ORT_AAR_VERSION; the app-runtime load check will be skipped"
    fi
    rm -rf "$tmp"
fi
