// Plain Java, no Android imports: the WordPiece tokenizer, model card / labels, softmax and the
// benchmark report. Java 8 bytecode and no API newer than Android API 23 (the app's floor).
plugins {
    `java-library`
}

java {
    sourceCompatibility = JavaVersion.VERSION_1_8
    targetCompatibility = JavaVersion.VERSION_1_8
}

tasks.withType<JavaCompile>().configureEach {
    options.encoding = "UTF-8"
    options.release.set(8)
}

dependencies {
    testImplementation(libs.junit)
}

tasks.test {
    // Golden vectors from the real Hugging Face tokenizer:
    //   python tools/make_golden.py --out core/build/golden && ./gradlew :core:test -PgoldenDir=core/build/golden
    // Without -PgoldenDir the golden tests are skipped (ci/run_junit.sh always generates and requires them).
    val golden = project.findProperty("goldenDir") as String?
    if (golden != null) {
        systemProperty("golden.dir", rootProject.file(golden).absolutePath)
        systemProperty("golden.required", "true")
    }
}
