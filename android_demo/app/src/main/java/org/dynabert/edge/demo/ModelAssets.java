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

/**
 * The models bundled under {@code assets/models/<folder>/}, as {@code device_bench.pick --install-into}
 * lays them out: {@code model.onnx} or {@code model.ort}, {@code vocab.txt}, {@code labels.json},
 * {@code model_card.json}.
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
                    deleteRecursively(f);
                }
            }
        }
        File dir = new File(current, folder);
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

    private static void deleteRecursively(File f) {
        File[] children = f.listFiles();
        if (children != null) {
            for (File c : children) {
                deleteRecursively(c);
            }
        }
        f.delete();
    }
}
