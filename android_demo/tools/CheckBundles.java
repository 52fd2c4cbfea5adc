import java.io.File;
import java.io.FileInputStream;
import java.io.IOException;
import java.io.InputStream;
import java.io.PrintWriter;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.util.List;

import org.dynabert.edge.core.BundleCopy;
import org.dynabert.edge.core.BundleIndex;
import org.dynabert.edge.core.ModelCard;

/**
 * Build-time check of the shared-weight bundles under app/src/main/assets/models, with the app's own
 * code (core's ModelCard, BundleIndex and BundleCopy, compiled by ci/build_apk.sh): for every model
 * folder whose model_card.json names a bundle, the card and bundle.json must parse and validate, and
 * every file the index names must be there with the size and SHA-256 it states. A damaged or
 * incomplete bundle thus stops the build instead of failing on the phone.
 *
 * Usage: java -cp CORE_CLASSES tools/CheckBundles.java ASSETS_MODELS_DIR WORK_DIR LIST_OUT
 * Writes to LIST_OUT the asset paths (under assets/) of every bundle file, one per line, so that the
 * build can check each is stored uncompressed in the APK. Prints one line per bundle.
 */
public final class CheckBundles {
    public static void main(String[] args) throws Exception {
        if (args.length != 3) {
            System.err.println("usage: CheckBundles ASSETS_MODELS_DIR WORK_DIR LIST_OUT");
            System.exit(2);
        }
        File models = new File(args[0]);
        File work = new File(args[1]);
        File[] folders = models.listFiles();
        int bundles = 0;
        try (PrintWriter list = new PrintWriter(args[2], "UTF-8")) {
            if (folders != null) {
                java.util.Arrays.sort(folders);
                for (File folder : folders) {
                    File cardFile = new File(folder, "model_card.json");
                    if (!cardFile.isFile()) {
                        continue;
                    }
                    String text = new String(Files.readAllBytes(cardFile.toPath()), StandardCharsets.UTF_8);
                    if (!text.contains("\"bundle\"")) {
                        continue;  // a single model: the app checks its card when it loads it, as before
                    }
                    String where = "assets/models/" + folder.getName();
                    ModelCard card;
                    try {
                        card = ModelCard.parse(text);
                    } catch (IllegalArgumentException e) {
                        fail(where + "/model_card.json: " + e.getMessage());
                        return;
                    }
                    if (card.bundle == null) {
                        continue;
                    }
                    List<String> parts = BundleIndex.relativePath(card.bundle, where + "/model_card.json: 'bundle'");
                    File dir = folder;
                    String rel = "";
                    for (int i = 0; i < parts.size() - 1; i++) {
                        dir = new File(dir, parts.get(i));
                        rel += parts.get(i) + "/";
                    }
                    String indexName = parts.get(parts.size() - 1);
                    if (!new File(dir, indexName).isFile()) {
                        fail(where + "/model_card.json names the bundle index '" + card.bundle
                                + "', which is not in the folder");
                        return;
                    }
                    final File bundleDir = dir;
                    final String describe = rel.isEmpty() ? where : where + "/" + rel.substring(0, rel.length() - 1);
                    BundleCopy.Result r;
                    try {
                        r = BundleCopy.ensure(new BundleCopy.Source() {
                            @Override
                            public InputStream open(String name) throws IOException {
                                File f = new File(bundleDir, name);
                                if (!f.isFile()) {
                                    throw new IOException(describe + " has no " + name
                                            + " (the bundle is incomplete)");
                                }
                                return new FileInputStream(f);
                            }

                            @Override
                            public String describe() {
                                return describe;
                            }
                        }, indexName, new File(work, folder.getName()));
                    } catch (IOException | IllegalArgumentException e) {
                        fail(e.getMessage());
                        return;
                    }
                    String prefix = "assets/models/" + folder.getName() + "/" + rel;
                    list.println(prefix + indexName);
                    list.println(prefix + r.index.weightsFile);
                    for (BundleIndex.Entry e : r.index.entries) {
                        list.println(prefix + e.graph);
                    }
                    bundles++;
                    System.out.printf("check-bundles: %s: %d sub-networks, %s weights %s, every file's SHA-256 matches"
                            + " %s%n", where, r.index.size(), r.index.precision,
                            ModelCard.formatBytes(r.index.weightsBytes), card.bundle);
                    BundleCopy.deleteRecursively(new File(work, folder.getName()));
                }
            }
        }
        if (bundles == 0) {
            System.out.println("check-bundles: no bundle in the assets");
        }
    }

    private static void fail(String message) {
        System.err.println("ERROR: bundle check: " + message);
        System.exit(2);
    }
}
