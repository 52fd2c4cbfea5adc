#!/usr/bin/env bash
# Builds, signs and verifies a debug APK of the Android demo with the Debian toolchain, no Gradle:
#   aapt (resources, R.java, packaging) -> javac against android.jar API 23 -> dx (dalvik-exchange)
#   -> zipalign -> apksigner (debug key made here with keytool) -> apksigner verify + aapt dump badging.
#
# ONNX Runtime: its Android AAR cannot be downloaded here (no Google Maven / Maven Central), so the app
# is compiled against compile-time stubs of the ai.onnxruntime Java API (android_demo/stubs). The stubs
# are NOT dexed: the APK holds only the app and core classes, and this script fails if any
# ai.onnxruntime class reached classes.dex. Such an APK installs and starts, lists its models, and says
# "ONNX Runtime is not in this APK" when asked to classify; the Gradle build is the real one.
# When the real classes.jar of the ONNX Runtime Android AAR is available (ci/install_toolchain.sh caches
# it; or --ort-classes-jar / $ORT_ANDROID_CLASSES_JAR), the script also checks that every stub member
# exists in the real API with the same signature and that the app compiles against the real jar.
#
# Usage: bash android_demo/ci/build_apk.sh [--out DIR] [--ort-classes-jar JAR] [--require-ort-api]
#   --out DIR           where the APK goes (default: a new temporary directory, printed at the end)
#   --require-ort-api   fail (instead of skipping that check) when the real API jar is missing
# Models under app/src/main/assets/models are packaged (stored uncompressed) when present.
set -euo pipefail

HERE="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
DEMO="$(dirname "$HERE")"
# shellcheck source=lib.sh
. "$HERE/lib.sh"

OUT=""
ORT_JAR="${ORT_ANDROID_CLASSES_JAR:-}"
REQUIRE_ORT_API="${REQUIRE_ORT_API:-0}"
while [ $# -gt 0 ]; do
    case "$1" in
        --out) OUT="$2"; shift 2 ;;
        --ort-classes-jar) ORT_JAR="$2"; shift 2 ;;
        --require-ort-api) REQUIRE_ORT_API=1; shift ;;
        -h|--help) sed -n '2,20p' "$0"; exit 0 ;;
        *) die "unknown argument: $1" ;;
    esac
done
[ -n "$ORT_JAR" ] || ORT_JAR="$ORT_CLASSES_JAR_DEFAULT"

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

if [ -z "$OUT" ]; then
    OUT="$(mktemp -d "${TMPDIR:-/tmp}/dynabert-apk.XXXXXX")"
fi
mkdir -p "$OUT"
OUT="$(cd "$OUT" && pwd)"
B="$OUT/build"
rm -rf "$B"
mkdir -p "$B/gen" "$B/stub-classes" "$B/classes" "$B/dex"
APK="$OUT/dynabert-edge-demo-debug.apk"
rm -f "$APK"

step() { echo "build_apk: $*"; }

step "package $NAMESPACE, minSdk $MIN_SDK, targetSdk $TARGET_SDK, version $VERSION_NAME ($VERSION_CODE); android.jar API 23"

# 1. Manifest: AGP takes the package from `namespace`; aapt needs it in the manifest.
MANIFEST="$B/AndroidManifest.xml"
sed -E "0,/<manifest /s#<manifest #<manifest package=\"$NAMESPACE\" #" "$APP/src/main/AndroidManifest.xml" > "$MANIFEST"
grep -q "package=\"$NAMESPACE\"" "$MANIFEST" || die "could not set the package in the manifest"

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
step "javac: core + app ($(echo "$SOURCES" | wc -l) files) against android.jar API 23 + stubs"
# Run from the build dir: a crashing javac drops a javac.*.args file into the current directory.
# shellcheck disable=SC2086
if ! (cd "$B" && "${JAVAC_ANDROID[@]}" -cp "$B/stub-classes" -d "$B/classes" $SOURCES) > "$B/javac.log" 2>&1; then
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

# 5. Dex the app and core classes only.
step "dx: classes -> classes.dex (min-sdk $MIN_SDK)"
dalvik-exchange --dex --min-sdk-version="$MIN_SDK" --output="$B/dex/classes.dex" "$B/classes"
DEX_CLASSES=$(dexdump "$B/dex/classes.dex" | sed -nE "s/^  Class descriptor  : 'L([^;]+);'/\1/p")
if echo "$DEX_CLASSES" | grep -q '^ai/onnxruntime/'; then
    die "classes.dex defines ai/onnxruntime classes: the compile-time stubs must never be packaged"
fi
if grep -q "compile-time stub of the ONNX Runtime" "$B/dex/classes.dex"; then
    die "classes.dex contains the stub marker string"
fi
for c in org/dynabert/edge/demo/MainActivity org/dynabert/edge/demo/BenchmarkActivity org/dynabert/edge/core/BertTokenizer; do
    echo "$DEX_CLASSES" | grep -qx "$c" || die "classes.dex lacks $c"
done
step "classes.dex: $(echo "$DEX_CLASSES" | wc -l) classes, none from ai.onnxruntime"

# 6. Package resources (+ assets, models stored uncompressed), add the dex, align, sign.
ASSETS=()
if [ -d "$APP/src/main/assets" ]; then
    ASSETS=(-A "$APP/src/main/assets")
    step "assets: $(find "$APP/src/main/assets" -type f | wc -l) file(s) from app/src/main/assets"
fi
step "aapt: package"
aapt package -f "${AAPT_COMMON[@]}" "${ASSETS[@]}" -0 onnx -0 ort -F "$B/unsigned.apk"
(cd "$B/dex" && aapt add "$B/unsigned.apk" classes.dex >/dev/null)
step "zipalign"
zipalign -f -p 4 "$B/unsigned.apk" "$B/aligned.apk"
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

step "aapt dump badging"
BADGING="$(aapt dump badging "$APK")"
echo "$BADGING" | grep -E "^(package|sdkVersion|targetSdkVersion|application-label|launchable-activity|application:)" | sed 's/^/    /'
echo "$BADGING" | grep -q "^package: name='$NAMESPACE' versionCode='$VERSION_CODE' versionName='$VERSION_NAME'" \
    || die "badging: wrong package line"
echo "$BADGING" | grep -q "^sdkVersion:'$MIN_SDK'" || die "badging: wrong minSdk"
echo "$BADGING" | grep -q "^targetSdkVersion:'$TARGET_SDK'" || die "badging: wrong targetSdk"
echo "$BADGING" | grep -q "^launchable-activity: name='$NAMESPACE.MainActivity'" || die "badging: no launchable MainActivity"
aapt list "$APK" | grep -qx classes.dex || die "APK has no classes.dex"

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
echo "build_apk: OK $APK ($SIZE bytes; ONNX Runtime not included: see android_demo/README.md)"
