plugins {
    alias(libs.plugins.android.application)
}

android {
    // ci/build_apk.sh reads namespace, minSdk, targetSdk, versionCode and versionName from this file.
    namespace = "org.dynabert.edge.demo"
    compileSdk = 35

    defaultConfig {
        applicationId = "org.dynabert.edge.demo"
        // onnxruntime-android needs API 24; the app code itself stays within API 23 (checked offline).
        minSdk = 24
        targetSdk = 35
        versionCode = 1
        versionName = "0.1.0"
    }

    buildTypes {
        release {
            isMinifyEnabled = false
            proguardFiles(getDefaultProguardFile("proguard-android-optimize.txt"), "proguard-rules.pro")
        }
    }

    compileOptions {
        sourceCompatibility = JavaVersion.VERSION_1_8
        targetCompatibility = JavaVersion.VERSION_1_8
    }

    androidResources {
        // Models (.onnx, .ort) and a bundle's weights (.bin) are stored uncompressed in the APK (faster
        // copy-out; allows memory mapping), as ci/build_apk.sh does with aapt -0.
        noCompress += listOf("onnx", "ort", "bin")
    }
}

dependencies {
    implementation(project(":core"))
    implementation(libs.onnxruntime.android)
}
