#!/usr/bin/env bash
# Builds, signs and verifies a debug APK of the Android demo with the Debian toolchain, no Gradle:
#   aapt (resources, R.java, packaging) -> javac against android.jar API 23 + the real ONNX Runtime
#   classes -> dx (dalvik-exchange) -> native libraries stored and 16 KB-aligned -> apksigner (debug key
#   made here with keytool) -> apksigner verify, 16 KB alignment check, aapt dump badging, dexdump.
#
# ONNX Runtime: the real onnxruntime-android 1.29.0 AAR, cached by ci/install_toolchain.sh (classes.jar +
# jni/<abi>/*.so). Its classes are Java 17 class files, which Gradle's D8 desugars but Debian's dx cannot
# read, so tools/OrtClassesToJava8.java rewrites them to Java 8 first (the three rewrites D8 would do;
# see that file) and they are dexed with the app. The native libraries of every ABI in --abis go into
# lib/<abi>/ stored uncompressed, 16 KB page-aligned (tools/apk_align.py; Android 15+ needs it), with
# android:extractNativeLibs="false" as AGP writes it. The result is the APK the Gradle build makes,
# less R8 shrinking.
# --without-ort builds the old lightweight APK instead: compiled against compile-time stubs of the ORT
# Java API (android_demo/stubs, never dexed); it installs, lists its models and says "ONNX Runtime is
# not in this APK" when asked to classify.
# When the real classes.jar is present, the stubs are also checked member by member against it.
#
# Usage: bash android_demo/ci/build_apk.sh [--out DIR] [--abis LIST] [--without-ort]
#                                          [--ort-classes-jar JAR] [--ort-jni-dir DIR] [--require-ort-api]
#   --out DIR           where the APK goes (default: a new temporary directory, printed at the end)
#   --abis LIST         comma-separated ABIs to pack (default: arm64-v8a,armeabi-v7a,x86,x86_64)
#   --without-ort       stub build without the ONNX Runtime (no classes, no native libraries)
#   --require-ort-api   with --without-ort: fail (instead of skipping the API check) when the jar is missing
# Models under app/src/main/assets/models are packaged (stored uncompressed) when present; a shared-weight
# bundle there (model_card.json "bundle") is verified first (tools/CheckBundles.java: the app's own
# index validation + every file's SHA-256) and its files are checked to be in the APK, stored.
set -euo pipefail

HERE="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
DEMO="$(dirname "$HERE")"
# shellcheck source=lib.sh
. "$HERE/lib.sh"

OUT=""
ORT_JAR="${ORT_ANDROID_CLASSES_JAR:-}"
ORT_JNI="${ORT_ANDROID_JNI_DIR:-}"
REQUIRE_ORT_API="${REQUIRE_ORT_API:-0}"
WITH_ORT=1
ABIS="${ORT_ABIS// /,}"
while [ $# -gt 0 ]; do
    case "$1" in
        --out) OUT="$2"; shift 2 ;;
        --abis) ABIS="$2"; shift 2 ;;
        --without-ort) WITH_ORT=0; shift ;;
        --ort-classes-jar) ORT_JAR="$2"; shift 2 ;;
        --ort-jni-dir) ORT_JNI="$2"; shift 2 ;;
        --require-ort-api) REQUIRE_ORT_API=1; shift ;;
        -h|--help) sed -n '2,27p' "$0"; exit 0 ;;
        *) die "unknown argument: $1 (see --help)" ;;
    esac
done
[ -n "$ORT_JAR" ] || ORT_JAR="$ORT_CLASSES_JAR_DEFAULT"
[ -n "$ORT_JNI" ] || ORT_JNI="$ORT_JNI_DIR_DEFAULT"
ABI_LIST=()
if [ "$WITH_ORT" = 1 ]; then
    IFS=',' read -r -a ABI_LIST <<< "$ABIS"
    [ "${#ABI_LIST[@]}" -gt 0 ] || die "--abis is empty (choose from: $ORT_ABIS)"
    for abi in "${ABI_LIST[@]}"; do
        case " $ORT_ABIS " in *" $abi "*) ;; *) die "--abis: unknown ABI '$abi' (choose from: $ORT_ABIS)" ;; esac
        for lib in libonnxruntime.so libonnxruntime4j_jni.so; do
            [ -f "$ORT_JNI/$abi/$lib" ] || die "$ORT_JNI/$abi/$lib not found: the ONNX Runtime Android $ORT_AAR_VERSION native libraries are cached by $INSTALL_HINT (or build without them: --without-ort)"
        done
    done
    [ -f "$ORT_JAR" ] || die "$ORT_JAR not found: the ONNX Runtime Android $ORT_AAR_VERSION classes are cached by $INSTALL_HINT (or build without them: --without-ort)"
    need_file "$ASM_JAR" "libasm-java"
    need python3 python3
fi

need javac openjdk-17-jdk-headless
need java default-jre-headless
need keytool default-jre-headless
need aapt aapt
need zipalign zipalign
need apksigner apksigner
need dexdump dexdump
need dalvik-exchange "dalvik-exchange (Debian 11 package cached in ../shared/debs)"
need_file "$ANDROID_JAR" "libandroid-23-java (Debian 11 package cached in ../shared/debs)"

APP="$DEMO/app"
GRADLE_FILE="$APP/build.gradle.kts"
# One source of truth: read the ids and SDK levels from the Gradle file.
gradle_value() {
    sed -nE "s/^[[:space:]]*$1[[:space:]]*=[[:space:]]*\"?([^\"]+)\"?[[:space:]]*$/\1/p" "$GRADLE_FILE" | head -n1
}
NAMESPACE="$(gradle_value namespace)"
MIN_SDK="$(gradle_value minSdk)"
TARGET_SDK="$(gradle_value targetSdk)"
VERSION_CODE="$(gradle_value versionCode)"
VERSION_NAME="$(gradle_value versionName)"
for v in NAMESPACE MIN_SDK TARGET_SDK VERSION_CODE VERSION_NAME; do
    [ -n "${!v}" ] || die "could not read $v from $GRADLE_FILE"
done
# The Gradle build and this one must ship the same ONNX Runtime.
VERSIONS_FILE="$DEMO/gradle/libs.versions.toml"
GRADLE_ORT="$(sed -nE 's/^onnxruntime[[:space:]]*=[[:space:]]*"([^"]+)".*/\1/p' "$VERSIONS_FILE" | head -n1)"
[ "$GRADLE_ORT" = "$ORT_AAR_VERSION" ] || die "$VERSIONS_FILE pins onnxruntime $GRADLE_ORT but the offline build packs $ORT_AAR_VERSION (ci/lib.sh): change both together"
# ... and store the same model files uncompressed (the assets contract: .onnx, .ort, a bundle's .bin).
STORED_EXTS=(onnx ort bin)
AAPT_STORED=()
for ext in "${STORED_EXTS[@]}"; do
    grep -qE "noCompress.*\"$ext\"" "$GRADLE_FILE" \
        || die "$GRADLE_FILE does not list \"$ext\" in androidResources.noCompress, but the offline build stores .$ext files: change both together"
    AAPT_STORED+=(-0 "$ext")
done

if [ -z "$OUT" ]; then
    OUT="$(mktemp -d "${TMPDIR:-/tmp}/dynabert-apk.XXXXXX")"
fi
mkdir -p "$OUT"
OUT="$(cd "$OUT" && pwd)"
B="$OUT/build"
rm -rf "$B"
mkdir -p "$B/gen" "$B/stub-classes" "$B/classes" "$B/dex" "$B/native"
APK="$OUT/dynabert-edge-demo-debug.apk"
rm -f "$APK"

step() { echo "build_apk: $*"; }

if [ "$WITH_ORT" = 1 ]; then ORT_DESC="ONNX Runtime Android $ORT_AAR_VERSION for ${ABI_LIST[*]}"; else ORT_DESC="no ONNX Runtime (--without-ort)"; fi
step "package $NAMESPACE, minSdk $MIN_SDK, targetSdk $TARGET_SDK, version $VERSION_NAME ($VERSION_CODE); android.jar API 23; $ORT_DESC"

# 1. Manifest: AGP takes the package from `namespace`; aapt needs it in the manifest.
MANIFEST="$B/AndroidManifest.xml"
sed -E "0,/<manifest /s#<manifest #<manifest package=\"$NAMESPACE\" #" "$APP/src/main/AndroidManifest.xml" > "$MANIFEST"
grep -q "package=\"$NAMESPACE\"" "$MANIFEST" || die "could not set the package in the manifest"
if [ "$WITH_ORT" = 1 ]; then
    # What AGP writes for useLegacyPackaging = false: the libraries are mapped from the APK, not extracted.
    sed -i -E "0,/<application/s#<application#<application android:extractNativeLibs=\"false\"#" "$MANIFEST"
    grep -q 'android:extractNativeLibs="false"' "$MANIFEST" || die "could not set extractNativeLibs in the manifest"
fi

AAPT_COMMON=(-M "$MANIFEST" -S "$APP/src/main/res" -I "$ANDROID_JAR"
    --min-sdk-version "$MIN_SDK" --target-sdk-version "$TARGET_SDK"
    --version-code "$VERSION_CODE" --version-name "$VERSION_NAME")

# 2. Resources -> R.java
step "aapt: resources -> R.java"
aapt package -f -m -J "$B/gen" "${AAPT_COMMON[@]}"

# 3. Compile: stubs separately (never dexed), then core + app against android.jar + stubs.
JAVAC_ANDROID=(javac -source 8 -target 8 -encoding UTF-8 -Xlint:all -Xlint:-options -bootclasspath "$ANDROID_JAR")
step "javac: ONNX Runtime API stubs (compile-time only)"
# shellcheck disable=SC2046
(cd "$B" && "${JAVAC_ANDROID[@]}" -d "$B/stub-classes" $(find "$DEMO/stubs" -name '*.java' | sort))
SOURCES=$(find "$DEMO/core/src/main/java" "$APP/src/main/java" "$B/gen" -name '*.java' | sort)
if [ "$WITH_ORT" = 1 ]; then COMPILE_CP="$ORT_JAR"; COMPILE_DESC="the real ONNX Runtime $ORT_AAR_VERSION classes"
else COMPILE_CP="$B/stub-classes"; COMPILE_DESC="stubs"; fi
step "javac: core + app ($(echo "$SOURCES" | wc -l) files) against android.jar API 23 + $COMPILE_DESC"
# Run from the build dir: a crashing javac drops a javac.*.args file into the current directory.
# shellcheck disable=SC2086
if ! (cd "$B" && "${JAVAC_ANDROID[@]}" -cp "$COMPILE_CP" -d "$B/classes" $SOURCES) > "$B/javac.log" 2>&1; then
    cat "$B/javac.log" >&2
    if grep -q 'MethodHandles\$Lookup\|LambdaMetafactory' "$B/javac.log"; then
        die "javac failed: a lambda or method reference is in the app/core code; API 23 (android.jar) has no invokedynamic support, use an anonymous class"
    fi
    die "javac failed against android.jar API 23 (an API newer than 23, e.g. java.util.function, streams, String.join, java.nio.file, is not available)"
fi
cat "$B/javac.log"

# 4. API-23 floor checks on the bytecode: no lambdas / method references (invokedynamic). Missing
#    classes (java.util.function, streams, String.join, java.nio.file, ...) already failed the compile.
if [ -d "$B/classes/ai" ]; then
    die "ai.onnxruntime classes ended up among the app classes"
fi
INDY=$(find "$B/classes" -name '*.class' -print0 | xargs -0 javap -c -p 2>/dev/null | grep -c invokedynamic || true)
[ "$INDY" = 0 ] || die "invokedynamic found in app/core bytecode (lambda or method reference): not allowed below API 26"

# 5. Dex the app and core classes, and the real ONNX Runtime classes (rewritten to Java 8 for dx).
DEX_INPUTS=("$B/classes")
if [ "$WITH_ORT" = 1 ]; then
    step "OrtClassesToJava8: ONNX Runtime $ORT_AAR_VERSION classes.jar (Java 17) -> Java 8 class files for dx"
    java -cp "$ASM_CP" "$DEMO/tools/OrtClassesToJava8.java" "$ORT_JAR" "$B/ort-java8.jar" "$ANDROID_JAR"
    DEX_INPUTS+=("$B/ort-java8.jar")
fi
step "dx: classes -> classes.dex (min-sdk $MIN_SDK)"
dalvik-exchange --dex --min-sdk-version="$MIN_SDK" --output="$B/dex/classes.dex" "${DEX_INPUTS[@]}"
DEX_CLASSES=$(dexdump "$B/dex/classes.dex" | sed -nE "s/^  Class descriptor  : 'L([^;]+);'/\1/p")
if grep -q "compile-time stub of the ONNX Runtime" "$B/dex/classes.dex"; then
    die "classes.dex contains the stub marker string: the compile-time stubs must never be packaged"
fi
for c in org/dynabert/edge/demo/MainActivity org/dynabert/edge/demo/BenchmarkActivity org/dynabert/edge/core/BertTokenizer; do
    echo "$DEX_CLASSES" | grep -qx "$c" || die "classes.dex lacks $c"
done
N_ORT=$(echo "$DEX_CLASSES" | grep -c '^ai/onnxruntime/' || true)
if [ "$WITH_ORT" = 1 ]; then
    for c in ai/onnxruntime/OrtEnvironment ai/onnxruntime/OrtSession ai/onnxruntime/OnnxTensor \
             'ai/onnxruntime/OrtSession$SessionOptions'; do
        echo "$DEX_CLASSES" | grep -qxF "$c" || die "classes.dex lacks $c"
    done
    step "classes.dex: $(echo "$DEX_CLASSES" | wc -l) classes, $N_ORT from ai.onnxruntime (dexdump)"
else
    [ "$N_ORT" = 0 ] || die "classes.dex defines ai/onnxruntime classes: the compile-time stubs must never be packaged"
    step "classes.dex: $(echo "$DEX_CLASSES" | wc -l) classes, none from ai.onnxruntime"
fi

# 6. Package resources (+ assets, models stored uncompressed), add the dex, align, sign.
ASSETS=()
if [ -d "$APP/src/main/assets" ]; then
    ASSETS=(-A "$APP/src/main/assets")
    step "assets: $(find "$APP/src/main/assets" -type f | wc -l) file(s) from app/src/main/assets"
fi
: > "$B/bundle-files.txt"
if [ -d "$APP/src/main/assets/models" ]; then
    # A shared-weight bundle is checked with the app's own code (the core classes just compiled): card,
    # bundle.json, every file present with its size and SHA-256. A broken bundle stops the build here.
    step "check-bundles: shared-weight bundles in the assets (tools/CheckBundles.java, the app's validation)"
    java -cp "$B/classes" "$DEMO/tools/CheckBundles.java" "$APP/src/main/assets/models" "$B/bundle-check" \
        "$B/bundle-files.txt"
fi
step "aapt: package"
# .onnx, .ort and a bundle's weights (.bin) are stored, not deflated: the app copies them out once at
# first start (no inflating), and a stored entry can later be memory-mapped from the APK. aapt would
# otherwise deflate a .bin whenever that makes it smaller (INT8 weights: to about 78 %).
aapt package -f "${AAPT_COMMON[@]}" "${ASSETS[@]}" "${AAPT_STORED[@]}" -F "$B/unsigned.apk"
(cd "$B/dex" && aapt add "$B/unsigned.apk" classes.dex >/dev/null)
if [ "$WITH_ORT" = 1 ]; then
    for abi in "${ABI_LIST[@]}"; do
        mkdir -p "$B/native/lib/$abi"
        cp "$ORT_JNI/$abi/libonnxruntime.so" "$ORT_JNI/$abi/libonnxruntime4j_jni.so" "$B/native/lib/$abi/"
    done
    step "native libraries: lib/{$(IFS=,; echo "${ABI_LIST[*]}")}/ stored uncompressed"
    (cd "$B/native" && zip -q -0 -r -D "$B/unsigned.apk" lib)
fi
step "align: .so at 16 KB pages, other stored entries at 4 bytes (tools/apk_align.py)"
python3 "$DEMO/tools/apk_align.py" align "$B/unsigned.apk" "$B/aligned.apk"
step "keytool: throw-away debug key (never committed)"
keytool -genkeypair -keystore "$B/debug.keystore" -storetype PKCS12 -storepass android -keypass android \
    -alias androiddebugkey -keyalg RSA -keysize 2048 -validity 10000 \
    -dname "CN=Android Debug,O=Android,C=US" -noprompt >/dev/null 2>&1
step "apksigner: sign"
apksigner sign --ks "$B/debug.keystore" --ks-pass pass:android --key-pass pass:android \
    --ks-key-alias androiddebugkey --min-sdk-version "$MIN_SDK" --out "$APK" "$B/aligned.apk"

# 7. Verify.
step "apksigner verify"
VERIFY="$(apksigner verify --verbose --min-sdk-version "$MIN_SDK" "$APK")"
echo "$VERIFY" | sed 's/^/    /'
echo "$VERIFY" | grep -q '^Verifies$' || die "apksigner verify failed"
echo "$VERIFY" | grep -q 'Verified using v2 scheme (APK Signature Scheme v2): true' || die "no v2 signature"
zipalign -c -p 4 "$APK" || die "APK is not aligned"
python3 "$DEMO/tools/apk_align.py" check "$APK" --page-kb 16 || die "APK is not 16 KB page-aligned"

step "aapt dump badging"
BADGING="$(aapt dump badging "$APK")"
echo "$BADGING" | grep -E "^(package|sdkVersion|targetSdkVersion|application-label|launchable-activity|application:)" | sed 's/^/    /'
echo "$BADGING" | grep -q "^package: name='$NAMESPACE' versionCode='$VERSION_CODE' versionName='$VERSION_NAME'" \
    || die "badging: wrong package line"
echo "$BADGING" | grep -q "^sdkVersion:'$MIN_SDK'" || die "badging: wrong minSdk"
echo "$BADGING" | grep -q "^targetSdkVersion:'$TARGET_SDK'" || die "badging: wrong targetSdk"
echo "$BADGING" | grep -q "^launchable-activity: name='$NAMESPACE.MainActivity'" || die "badging: no launchable MainActivity"
aapt list "$APK" | grep -qx classes.dex || die "APK has no classes.dex"
if [ -s "$B/bundle-files.txt" ]; then
    N_BUNDLE_FILES=0
    while read -r f; do
        METHOD=$(unzip -lv "$APK" "$f" | awk -v f="$f" '$NF == f {print $2}')
        [ -n "$METHOD" ] || die "the APK lacks the bundle file $f"
        case "$f" in
            *.bin|*.onnx) [ "$METHOD" = Stored ] || die "$f is compressed ($METHOD) in the APK; model files must be stored" ;;
        esac
        N_BUNDLE_FILES=$((N_BUNDLE_FILES + 1))
    done < "$B/bundle-files.txt"
    step "bundle files in the APK: $N_BUNDLE_FILES, weights and graphs stored uncompressed"
fi

# 8. Optional: the stubs and the app against the real ONNX Runtime Android Java API.
if [ -f "$ORT_JAR" ]; then
    step "api-check: stubs vs the real ONNX Runtime Android API ($ORT_JAR)"
    java "$DEMO/tools/ApiCheck.java" "$B/stub-classes" "$ORT_JAR" "$ANDROID_JAR"
    mkdir -p "$B/classes-real-ort"
    # shellcheck disable=SC2086
    (cd "$B" && "${JAVAC_ANDROID[@]}" -Xlint:none -cp "$ORT_JAR" -d "$B/classes-real-ort" $SOURCES) \
        || die "the app does not compile against the real ONNX Runtime Android API"
    echo "api-check: OK, the app compiles against the real ONNX Runtime Android $ORT_AAR_VERSION classes.jar"
elif [ "$REQUIRE_ORT_API" = 1 ]; then
    die "real ONNX Runtime Android classes.jar not found at $ORT_JAR (run ci/install_toolchain.sh)"
else
    echo "api-check: SKIPPED, no real ONNX Runtime Android classes.jar at $ORT_JAR (ci/install_toolchain.sh caches it)"
fi

SIZE=$(wc -c < "$APK")
if [ "$WITH_ORT" = 1 ]; then
    # What a per-ABI split (or Play's delivery) would weigh: the APK less the other ABIs' libraries.
    for abi in "${ABI_LIST[@]}"; do
        LIB_BYTES=$(unzip -lv "$APK" "lib/$abi/*" | awk '$1 ~ /^[0-9]+$/ && $NF ~ /^lib\// {s += $3} END {print s + 0}')
        ALL_LIBS=$(unzip -lv "$APK" "lib/*" | awk '$1 ~ /^[0-9]+$/ && $NF ~ /^lib\// {s += $3} END {print s + 0}')
        echo "build_apk: size for $abi alone: $((SIZE - ALL_LIBS + LIB_BYTES)) bytes (its libraries: $LIB_BYTES)"
    done
    echo "build_apk: OK $APK ($SIZE bytes; ONNX Runtime Android $ORT_AAR_VERSION for ${ABI_LIST[*]})"
else
    echo "build_apk: OK $APK ($SIZE bytes; ONNX Runtime not included: see android_demo/README.md)"
fi
