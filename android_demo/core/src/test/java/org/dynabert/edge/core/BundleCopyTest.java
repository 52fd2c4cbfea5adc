package org.dynabert.edge.core;

import static org.junit.Assert.assertArrayEquals;
import static org.junit.Assert.assertEquals;
import static org.junit.Assert.assertFalse;
import static org.junit.Assert.assertTrue;
import static org.junit.Assert.fail;

import java.io.File;
import java.io.FileInputStream;
import java.io.IOException;
import java.io.InputStream;
import java.util.Arrays;

import org.junit.Rule;
import org.junit.Test;
import org.junit.rules.TemporaryFolder;

public class BundleCopyTest {
    @Rule
    public TemporaryFolder tmp = new TemporaryFolder();

    @Test
    public void copiesAVerifiedBundleOnceAndReusesItAfterwards() throws Exception {
        BundleFixture.FolderSource src = new BundleFixture.FolderSource(BundleFixture.write(tmp.newFolder("assets")));
        File target = new File(tmp.getRoot(), "files/bundles/m");
        BundleCopy.Result first = BundleCopy.ensure(src, "bundle.json", target);
        assertTrue(first.copied);
        assertEquals(target, first.dir);
        assertEquals(Arrays.asList(BundleFixture.NAMES), first.index.names());
        assertArrayEquals(BundleFixture.weights(), read(new File(target, "weights.bin")));
        for (String n : BundleFixture.NAMES) {
            assertArrayEquals(BundleFixture.graph(n), read(new File(target, n + ".onnx")));
        }
        assertTrue(new File(target, "bundle.json").isFile());
        assertFalse(new File(target.getParentFile(), "m.part").exists());
        long total = BundleFixture.weights().length + new File(target, "bundle.json").length();
        for (String n : BundleFixture.NAMES) {
            total += BundleFixture.graph(n).length;
        }
        assertEquals(total, first.bytes);

        src.opened.clear();
        BundleCopy.Result second = BundleCopy.ensure(src, "bundle.json", target);
        assertFalse(second.copied);
        assertEquals(0, second.bytes);
        assertEquals(Arrays.asList("bundle.json"), src.opened);  // only the index is read again
    }

    @Test
    public void aDamagedFileIsRefusedAndNothingHalfWrittenIsLeft() throws Exception {
        File assets = BundleFixture.write(tmp.newFolder("assets"));
        BundleFixture.put(new File(assets, "w0.5_d1.onnx"), "tampered".getBytes("UTF-8"));
        File target = new File(tmp.getRoot(), "files/m");
        try {
            BundleCopy.ensure(new BundleFixture.FolderSource(assets), "bundle.json", target);
            fail("a graph with the wrong checksum was accepted");
        } catch (IOException e) {
            assertTrue(e.getMessage(), e.getMessage().startsWith("assets/models/m/bundle.int8/w0.5_d1.onnx: SHA-256 "));
            assertTrue(e.getMessage(), e.getMessage().contains("does not match the index"));
        }
        assertFalse(target.exists());
        assertFalse(new File(target.getParentFile(), "m.part").exists());
    }

    @Test
    public void aWeightsFileOfTheWrongSizeIsRefused() throws Exception {
        File assets = BundleFixture.write(tmp.newFolder("assets"));
        String index = BundleFixture.index(false).replace("\"bytes\": 70000", "\"bytes\": 69999");
        BundleFixture.put(new File(assets, "bundle.json"), index.getBytes("UTF-8"));
        try {
            BundleCopy.ensure(new BundleFixture.FolderSource(assets), "bundle.json", new File(tmp.getRoot(), "t"));
            fail();
        } catch (IOException e) {
            assertTrue(e.getMessage(), e.getMessage().contains("weights.bin has 70000 bytes but bundle.json says 69999"));
        }
    }

    @Test
    public void anInterruptedOrStaleCopyIsRedoneNotUsed() throws Exception {
        File assets = BundleFixture.write(tmp.newFolder("assets"));
        File target = new File(tmp.getRoot(), "files/m");
        // A copy killed half-way: the .part folder is there, the target is not.
        File part = new File(target.getParentFile(), "m.part");
        part.mkdirs();
        BundleFixture.put(new File(part, "weights.bin"), new byte[10]);
        assertTrue(BundleCopy.ensure(new BundleFixture.FolderSource(assets), "bundle.json", target).copied);
        assertFalse(part.exists());

        // A file truncated after the copy (disk trouble, a user with root): the sizes no longer match.
        BundleFixture.put(new File(target, "w1_d1.onnx"), new byte[3]);
        assertTrue(BundleCopy.ensure(new BundleFixture.FolderSource(assets), "bundle.json", target).copied);
        assertArrayEquals(BundleFixture.graph("w1_d1"), read(new File(target, "w1_d1.onnx")));

        // A new APK ships a different index: copied again.
        String index = BundleFixture.index(true);
        BundleFixture.put(new File(assets, "bundle.json"), index.getBytes("UTF-8"));
        assertTrue(BundleCopy.ensure(new BundleFixture.FolderSource(assets), "bundle.json", target).copied);
        assertFalse(BundleCopy.ensure(new BundleFixture.FolderSource(assets), "bundle.json", target).copied);
    }

    @Test
    public void aMissingFileOrAnOversizedIndexIsAClearError() throws Exception {
        File assets = BundleFixture.write(tmp.newFolder("assets"));
        assertTrue(new File(assets, "w0.25_d0.5.onnx").delete());
        try {
            BundleCopy.ensure(new BundleFixture.FolderSource(assets), "bundle.json", new File(tmp.getRoot(), "t"));
            fail();
        } catch (IOException e) {
            assertTrue(e.getMessage(), e.getMessage().contains("w0.25_d0.5.onnx"));
        }
        BundleFixture.put(new File(assets, "big.json"), new byte[BundleCopy.MAX_INDEX_BYTES + 1]);
        try {
            BundleCopy.ensure(new BundleFixture.FolderSource(assets), "big.json", new File(tmp.getRoot(), "t"));
            fail();
        } catch (IOException e) {
            assertTrue(e.getMessage(), e.getMessage().contains("not a bundle index"));
        }
    }

    private static byte[] read(File f) throws IOException {
        InputStream in = new FileInputStream(f);
        try {
            byte[] b = new byte[(int) f.length()];
            int off = 0;
            int n;
            while (off < b.length && (n = in.read(b, off, b.length - off)) > 0) {
                off += n;
            }
            return b;
        } finally {
            in.close();
        }
    }
}
