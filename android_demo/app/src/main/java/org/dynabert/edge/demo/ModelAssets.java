package org.dynabert.edge.demo;

import android.content.Context;
import android.content.pm.PackageManager;
import android.content.res.AssetManager;

import java.io.ByteArrayOutputStream;
import java.io.File;
import java.io.FileOutputStream;
import java.io.IOException;
import java.io.InputStream;
import java.io.OutputStream;
import java.util.ArrayList;
import java.util.Arrays;
import java.util.Collections;
import java.util.List;

import org.dynabert.edge.core.BundleCopy;
import org.dynabert.edge.core.BundleIndex;

/**
 * The models bundled under {@code assets/models/<folder>/}, as {@code device_bench.pick --install-into}
 * lays them out: {@code model.onnx} or {@code model.ort}, {@code vocab.txt}, {@code labels.json},
 * {@code model_card.json}; or, instead of the one model file, a shared-weight bundle folder that the
 * card names ({@code "bundle": "bundle.int8/bundle.json"}: the index, {@code weights.bin} and one graph
 * per sub-network).
 *
 * <p>The model file is copied once per installed APK version into the app's private storage and
 * loaded from there by path: ONNX Runtime then reads (or memory-maps) the file itself instead of the
 * app holding a second copy of a large model on the Java heap.
 */
final class ModelAssets {
    static final String ROOT = "models";
    static final String CARD = "model_card.json";
    static final String LABELS = "labels.json";
    static final String VOCAB = "vocab.txt";

    private ModelAssets() {
    }

    /** Folders under {@code assets/models} that hold a {@code model_card.json}, sorted by name. */
    static List<String> list(AssetManager assets) throws IOException {
        String[] names = assets.list(ROOT);
        List<String> out = new ArrayList<String>();
        if (names == null) {
            return out;
        }
        for (String name : names) {
            String[] inside = assets.list(ROOT + "/" + name);
            if (inside != null && Arrays.asList(inside).contains(CARD)) {
                out.add(name);
            }
        }
        Collections.sort(out);
        return out;
    }

    static String readText(AssetManager assets, String folder, String file) throws IOException {
        InputStream in;
        try {
            in = assets.open(ROOT + "/" + folder + "/" + file);
        } catch (IOException e) {
            throw new IOException("assets/" + ROOT + "/" + folder + " has no " + file, e);
        }
        try {
            ByteArrayOutputStream buf = new ByteArrayOutputStream();
            byte[] chunk = new byte[16384];
            int n;
            while ((n = in.read(chunk)) > 0) {
                buf.write(chunk, 0, n);
            }
            return new String(buf.toByteArray(), "UTF-8");
        } finally {
            in.close();
        }
    }

    static InputStream open(AssetManager assets, String folder, String file) throws IOException {
        try {
            return assets.open(ROOT + "/" + folder + "/" + file);
        } catch (IOException e) {
            throw new IOException("assets/" + ROOT + "/" + folder + " has no " + file, e);
        }
    }

    /**
     * The model file of {@code folder} on disk, copying it out of the APK when this APK version has not
     * done so yet. Copies from older APK versions are deleted.
     */
    static File modelFile(Context ctx, String folder, String fileName) throws IOException {
        File dir = new File(cacheDir(ctx), folder);
        File target = new File(dir, fileName);
        if (target.isFile()) {
            return target;
        }
        if (!dir.isDirectory() && !dir.mkdirs()) {
            throw new IOException("cannot create " + dir);
        }
        File tmp = new File(dir, fileName + ".part");
        InputStream in = open(ctx.getAssets(), folder, fileName);
        try {
            OutputStream out = new FileOutputStream(tmp);
            try {
                byte[] chunk = new byte[1 << 16];
                int n;
                while ((n = in.read(chunk)) > 0) {
                    out.write(chunk, 0, n);
                }
            } finally {
                out.close();
            }
        } finally {
            in.close();
        }
        if (!tmp.renameTo(target)) {
            throw new IOException("cannot move " + tmp + " to " + target);
        }
        return target;
    }

    /**
     * The shared-weight bundle a card names ({@code "bundle": "bundle.int8/bundle.json"}), verified on
     * disk: copied out of the APK on the first start of this APK version (every file's SHA-256 checked
     * against the index), reused afterwards. ONNX Runtime resolves a graph's external data
     * ({@code weights.bin}) relative to the graph's path, so the sessions are created from these files.
     */
    static BundleCopy.Result bundle(Context ctx, String folder, String indexPath) throws IOException {
        List<String> parts = BundleIndex.relativePath(indexPath, "assets/" + ROOT + "/" + folder + "/"
                + CARD + ": 'bundle'");
        String indexName = parts.get(parts.size() - 1);
        StringBuilder rel = new StringBuilder();
        for (int i = 0; i < parts.size() - 1; i++) {
            rel.append(i > 0 ? "/" : "").append(parts.get(i));
        }
        String bundleDir = rel.toString();
        String assetDir = ROOT + "/" + folder + (bundleDir.isEmpty() ? "" : "/" + bundleDir);
        // The bundle's files go into their own folder, apart from a single model's copy.
        File target = new File(new File(cacheDir(ctx), folder), bundleDir.isEmpty() ? "bundle" : bundleDir);
        return BundleCopy.ensure(new AssetSource(ctx.getAssets(), assetDir), indexName, target);
    }

    /** Reads the files of one assets folder by plain name (the index has validated the names). */
    private static final class AssetSource implements BundleCopy.Source {
        private final AssetManager assets;
        private final String dir;

        AssetSource(AssetManager assets, String dir) {
            this.assets = assets;
            this.dir = dir;
        }

        @Override
        public InputStream open(String name) throws IOException {
            try {
                return assets.open(dir + "/" + name);
            } catch (IOException e) {
                throw new IOException("assets/" + dir + " has no " + name + " (the bundle is incomplete; install it"
                        + " again with python -m device_bench.pick)", e);
            }
        }

        @Override
        public String describe() {
            return "assets/" + dir;
        }
    }

    /**
     * The private folder model files are copied to for this installed APK version; copies made by
     * older versions are deleted (an update may ship different models under the same names).
     */
    private static File cacheDir(Context ctx) {
        long version;
        try {
            version = ctx.getPackageManager().getPackageInfo(ctx.getPackageName(), 0).lastUpdateTime;
        } catch (PackageManager.NameNotFoundException e) {
            version = 0L;
        }
        File root = new File(ctx.getNoBackupFilesDir(), "model-cache");
        File current = new File(root, Long.toString(version));
        File[] old = root.listFiles();
        if (old != null) {
            for (File f : old) {
                if (!f.getName().equals(current.getName())) {
                    BundleCopy.deleteRecursively(f);
                }
            }
        }
        return current;
    }

    /** The model file name a folder really has: the card's, else model.ort, else model.onnx. */
    static String resolveModelFileName(AssetManager assets, String folder, String fromCard) throws IOException {
        String[] inside = assets.list(ROOT + "/" + folder);
        List<String> files = inside == null ? new ArrayList<String>() : Arrays.asList(inside);
        if (files.contains(fromCard)) {
            return fromCard;
        }
        if (files.contains("model.ort")) {
            return "model.ort";
        }
        if (files.contains("model.onnx")) {
            return "model.onnx";
        }
        throw new IOException("assets/" + ROOT + "/" + folder + " has no " + fromCard + " (nor model.ort / model.onnx)");
    }
}
