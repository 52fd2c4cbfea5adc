// Top-level build file. Modules: :app (the Android app) and :core (plain Java: tokenizer, model card,
// softmax, benchmark report; unit-tested without a device).
plugins {
    alias(libs.plugins.android.application) apply false
}
