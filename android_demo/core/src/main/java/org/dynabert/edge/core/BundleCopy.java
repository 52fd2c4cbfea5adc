package org.dynabert.edge.core;

import java.io.ByteArrayOutputStream;
import java.io.File;
import java.io.FileInputStream;
import java.io.FileOutputStream;
import java.io.IOException;
import java.io.InputStream;
import java.io.OutputStream;
import java.security.MessageDigest;
import java.security.NoSuchAlgorithmException;
import java.util.ArrayList;
import java.util.List;
import java.util.Locale;

/**
 * Puts a bundle folder on disk, verified, once: ONNX Runtime finds a graph's external data
 * ({@code weights.bin}) relative to the graph's own path, so the sessions must be created from files,
 * not from bytes read out of the APK.
 *
 * <p>The index is read and validated first ({@link BundleIndex}); then the weights file and every graph
 * are streamed into a sibling {@code <target>.part} folder while their SHA-256 is computed, each checked
 * against the index (and the weights' size), and only a fully verified folder is renamed to
 * {@code <target>}. A killed copy therefore never leaves a half-written bundle that a later start would
 * use: the {@code .part} folder is discarded on the next try. A {@code .complete} file written last
 * records the index's checksum and each file's size; the next start trusts a folder whose record
 * matches the index it ships (sizes are re-checked, checksums are not recomputed: the folder is the
 * app's private storage).
 */
public final class BundleCopy {
    /** Where the bundle's files come from (the APK's assets, a test folder), by name inside the bundle folder. */
    public interface Source {
        InputStream open(String name) throws IOException;

        /** "assets/models/x/bundle.int8" for messages. */
        String describe();
    }

    /** What {@link #ensure} found or did. */
    public static final class Result {
        public final BundleIndex index;
        public final File dir;
        /** False when a verified copy was already there. */
        public final boolean copied;
        /** Bytes copied (0 when nothing was). */
        public final long bytes;
        public final double millis;

        Result(BundleIndex index, File dir, boolean copied, long bytes, double millis) {
            this.index = index;
            this.dir = dir;
            this.copied = copied;
            this.bytes = bytes;
            this.millis = millis;
        }
    }

    static final String COMPLETE = ".complete";
    /** bundle.json is a few KB; anything this large is not an index. */
    static final int MAX_INDEX_BYTES = 1 << 20;

    private BundleCopy() {
    }

    /**
     * The bundle whose index is {@code indexName} in {@code source}, verified on disk in {@code target}
     * (copied there if it is not yet).
     */
    public static Result ensure(Source source, String indexName, File target) throws IOException {
        long t0 = System.nanoTime();
        byte[] indexBytes = readAll(source, indexName, MAX_INDEX_BYTES);
        String where = source.describe() + "/" + indexName;
        BundleIndex index = BundleIndex.parse(new String(indexBytes, "UTF-8"), where);
        String indexSha = hex(sha256().digest(indexBytes));
        if (index.weightsFile.equals(indexName) || graphNamed(index, indexName)) {
            throw new IllegalArgumentException(where + ": the index's own name is also one of the bundle's files");
        }

        if (isComplete(target, index, indexName, indexSha)) {
            return new Result(index, target, false, 0, (System.nanoTime() - t0) / 1e6);
        }
        File parent = target.getAbsoluteFile().getParentFile();
        if (parent == null || (!parent.isDirectory() && !parent.mkdirs())) {
            throw new IOException("cannot create " + parent);
        }
        long need = index.weightsBytes + indexBytes.length;
        long free = parent.getUsableSpace();
        if (free > 0 && free < need) {
            throw new IOException("not enough free storage to unpack the bundle: it needs "
                    + ModelCard.formatBytes(need) + " at least, " + ModelCard.formatBytes(free) + " are free in " + parent);
        }
        File part = new File(parent, target.getName() + ".part");
        deleteRecursively(part);
        if (!part.mkdirs()) {
            throw new IOException("cannot create " + part);
        }
        List<String> sizes = new ArrayList<String>();
        long copied = 0;
        try {
            long n = copyVerified(source, index.weightsFile, index.weightsSha256, new File(part, index.weightsFile));
            if (n != index.weightsBytes) {
                throw new IOException(source.describe() + "/" + index.weightsFile + " has " + n + " bytes but "
                        + indexName + " says " + index.weightsBytes + ": the bundle is damaged; install it again");
            }
            sizes.add(index.weightsFile + " " + n);
            copied += n;
            for (BundleIndex.Entry e : index.entries) {
                long g = copyVerified(source, e.graph, e.sha256, new File(part, e.graph));
                sizes.add(e.graph + " " + g);
                copied += g;
            }
            write(new File(part, indexName), indexBytes);
            copied += indexBytes.length;
            StringBuilder record = new StringBuilder(indexSha).append('\n');
            for (String s : sizes) {
                record.append(s).append('\n');
            }
            // Written last: its presence means every file above was verified.
            write(new File(part, COMPLETE), record.toString().getBytes("UTF-8"));
            deleteRecursively(target);
            if (!part.renameTo(target)) {
                throw new IOException("cannot move " + part + " to " + target);
            }
        } catch (IOException e) {
            deleteRecursively(part);
            throw e;
        } catch (RuntimeException e) {
            deleteRecursively(part);
            throw e;
        }
        return new Result(index, target, true, copied, (System.nanoTime() - t0) / 1e6);
    }

    private static boolean graphNamed(BundleIndex index, String file) {
        for (BundleIndex.Entry e : index.entries) {
            if (e.graph.equals(file)) {
                return true;
            }
        }
        return false;
    }

    /** A verified copy of this very index is in {@code dir}, every file at its recorded size. */
    static boolean isComplete(File dir, BundleIndex index, String indexName, String indexSha) throws IOException {
        File marker = new File(dir, COMPLETE);
        if (!marker.isFile() || !new File(dir, indexName).isFile()) {
            return false;
        }
        String[] lines = new String(readFile(marker, 1 << 16), "UTF-8").split("\n");
        if (lines.length != index.size() + 2 || !lines[0].equals(indexSha)) {
            return false;
        }
        for (int i = 1; i < lines.length; i++) {
            int sp = lines[i].lastIndexOf(' ');
            if (sp <= 0) {
                return false;
            }
            File f = new File(dir, lines[i].substring(0, sp));
            long size;
            try {
                size = Long.parseLong(lines[i].substring(sp + 1));
            } catch (NumberFormatException e) {
                return false;
            }
            if (!f.isFile() || f.length() != size) {
                return false;
            }
        }
        return true;
    }

    private static long copyVerified(Source source, String name, String sha256, File to) throws IOException {
        MessageDigest md = sha256();
        long n = 0;
        InputStream in = source.open(name);
        try {
            OutputStream out = new FileOutputStream(to);
            try {
                byte[] buf = new byte[1 << 16];
                int r;
                while ((r = in.read(buf)) > 0) {
                    md.update(buf, 0, r);
                    out.write(buf, 0, r);
                    n += r;
                }
            } finally {
                out.close();
            }
        } finally {
            in.close();
        }
        String got = hex(md.digest());
        if (!got.equals(sha256)) {
            throw new IOException(source.describe() + "/" + name + ": SHA-256 " + got + " does not match the index ("
                    + sha256 + "): the bundle is damaged or its files are from different exports; install it again");
        }
        return n;
    }

    private static byte[] readAll(Source source, String name, int limit) throws IOException {
        InputStream in = source.open(name);
        try {
            return readLimited(in, limit, source.describe() + "/" + name);
        } finally {
            in.close();
        }
    }

    private static byte[] readFile(File f, int limit) throws IOException {
        InputStream in = new FileInputStream(f);
        try {
            return readLimited(in, limit, f.getPath());
        } finally {
            in.close();
        }
    }

    private static byte[] readLimited(InputStream in, int limit, String what) throws IOException {
        ByteArrayOutputStream buf = new ByteArrayOutputStream();
        byte[] chunk = new byte[8192];
        int r;
        while ((r = in.read(chunk)) > 0) {
            buf.write(chunk, 0, r);
            if (buf.size() > limit) {
                throw new IOException(what + " is larger than " + limit + " bytes: not a bundle index");
            }
        }
        return buf.toByteArray();
    }

    private static void write(File f, byte[] bytes) throws IOException {
        OutputStream out = new FileOutputStream(f);
        try {
            out.write(bytes);
        } finally {
            out.close();
        }
    }

    static MessageDigest sha256() {
        try {
            return MessageDigest.getInstance("SHA-256");
        } catch (NoSuchAlgorithmException e) {
            throw new IllegalStateException("SHA-256 is not available", e);
        }
    }

    static String hex(byte[] b) {
        StringBuilder sb = new StringBuilder(b.length * 2);
        for (byte x : b) {
            sb.append(String.format(Locale.ROOT, "%02x", x & 0xff));
        }
        return sb.toString();
    }

    /** Deletes a file or folder tree; quietly does nothing when it is absent. */
    public static void deleteRecursively(File f) {
        File[] children = f.listFiles();
        if (children != null) {
            for (File c : children) {
                deleteRecursively(c);
            }
        }
        // A file that cannot be deleted is left for the next attempt, which deletes the folder again
        // before using the name (and the rename to the final name then fails loudly).
        f.delete();
    }
}
