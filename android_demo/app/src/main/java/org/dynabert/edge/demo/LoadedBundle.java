package org.dynabert.edge.demo;

import android.content.Context;
import android.content.res.AssetManager;
import android.os.SystemClock;

import java.io.Closeable;
import java.util.Locale;

import org.dynabert.edge.core.BertTokenizer;
import org.dynabert.edge.core.BundleCopy;
import org.dynabert.edge.core.BundleIndex;
import org.dynabert.edge.core.Labels;
import org.dynabert.edge.core.ModelCard;
import org.dynabert.edge.core.Switcher;
import org.dynabert.edge.core.Vocab;

/**
 * A bundled model folder whose card names a shared-weight bundle: card, labels, tokenizer, the bundle
 * verified on disk, and a {@link Switcher} that runs one sub-network at a time, creating its session on
 * demand and keeping the previous one open.
 */
final class LoadedBundle implements Closeable {
    /** Sessions kept open: the running one and the previous (auto mode steps between neighbours). */
    static final int KEEP_SESSIONS = 2;

    final String folder;
    final ModelCard card;
    final Labels labels;
    final BundleCopy.Result copy;
    final Switcher<EntrySession> switcher;
    /** Reading the assets and verifying (or copying) the bundle, ms; sessions are created later. */
    final double loadMillis;
    final int maxLength;

    private LoadedBundle(String folder, ModelCard card, Labels labels, BundleCopy.Result copy,
                         Switcher<EntrySession> switcher, double loadMillis, int maxLength) {
        this.folder = folder;
        this.card = card;
        this.labels = labels;
        this.copy = copy;
        this.switcher = switcher;
        this.loadMillis = loadMillis;
        this.maxLength = maxLength;
    }

    /**
     * Reads the folder and puts the bundle on disk; creates no session yet. Must run off the UI thread.
     *
     * @param warmupText classified once, untimed, after each session is created (the first run of a
     *                   session pays for its allocations; a switch is timed with it)
     */
    static LoadedBundle load(Context ctx, String folder, ModelCard card, int intraOpThreads, int keepSessions,
                             final String warmupText) throws Exception {
        long t0 = SystemClock.elapsedRealtimeNanos();
        AssetManager assets = ctx.getAssets();
        final Labels labels = Labels.parse(ModelAssets.readText(assets, folder, ModelAssets.LABELS));
        Vocab vocab = Vocab.load(ModelAssets.open(assets, folder, ModelAssets.VOCAB));
        final BertTokenizer tokenizer = card.tokenizer(vocab);
        final BundleCopy.Result copy = ModelAssets.bundle(ctx, folder, card.bundle);
        // The export's truncation length wins over the card's default when the index states it.
        final int maxLength = copy.index.maxLength > 0 ? copy.index.maxLength : card.maxLength;
        final ModelCard c = card;
        final int threads = intraOpThreads;
        Switcher.Loader<EntrySession> loader = new Switcher.Loader<EntrySession>() {
            @Override
            public EntrySession load(BundleIndex.Entry entry) throws Exception {
                return EntrySession.open(copy.dir, entry, c, tokenizer, labels, maxLength, threads);
            }
        };
        Switcher.Warmup<EntrySession> warmup = new Switcher.Warmup<EntrySession>() {
            @Override
            public void run(EntrySession s) throws Exception {
                s.classifier.classify(warmupText, c.pair ? warmupText : null);
            }
        };
        Switcher<EntrySession> switcher = new Switcher<EntrySession>(copy.index, loader, warmup, keepSessions,
                Switcher.SYSTEM_CLOCK);
        double ms = (SystemClock.elapsedRealtimeNanos() - t0) / 1e6;
        return new LoadedBundle(folder, card, labels, copy, switcher, ms, maxLength);
    }

    BundleIndex index() {
        return copy.index;
    }

    /** The running entry, or null before the first switch. */
    EntrySession current() {
        return switcher.current();
    }

    /** Header lines for the screen. */
    String describe() {
        BundleIndex idx = copy.index;
        return card.name + "\n" + String.format(Locale.ROOT,
                "bundle of %d sub-networks · ONNX %s · weights %s · max length %d · %s in %.0f ms",
                idx.size(), idx.precision, ModelCard.formatBytes(idx.weightsBytes), maxLength,
                copy.copied ? "unpacked" : "verified", loadMillis);
    }

    @Override
    public void close() {
        switcher.close();
    }
}
