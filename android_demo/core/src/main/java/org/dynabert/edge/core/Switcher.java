package org.dynabert.edge.core;

import java.io.Closeable;
import java.io.IOException;
import java.util.ArrayList;
import java.util.List;

/**
 * Runs one of a bundle's sub-networks at a time and switches between them without a restart: the
 * session of an entry is created on demand, and the {@code keep} most recently used ones stay open so
 * that switching back (auto mode stepping between two neighbours) costs nothing. Every switch is timed
 * and recorded in a {@link SwitchLog}.
 *
 * <p>Not thread-safe: the app calls it from its one model thread. {@code T} is whatever the app runs an
 * entry with (an ONNX Runtime session and the classifier over it); JUnit uses a fake.
 */
public final class Switcher<T extends Closeable> implements Closeable {
    /** Opens the runnable form of one entry (creates its session). */
    public interface Loader<T> {
        T load(BundleIndex.Entry entry) throws Exception;
    }

    /** One untimed run right after a session is created: the first run pays for allocations. */
    public interface Warmup<T> {
        void run(T model) throws Exception;
    }

    /** Time source (tests use a fake one). */
    public interface Clock {
        long nanos();
    }

    public static final Clock SYSTEM_CLOCK = new Clock() {
        @Override
        public long nanos() {
            return System.nanoTime();
        }
    };

    private static final class Open<T> {
        final int entry;
        final T model;

        Open(int entry, T model) {
            this.entry = entry;
            this.model = model;
        }
    }

    private final BundleIndex index;
    private final Loader<T> loader;
    private final Warmup<T> warmup;
    private final int keep;
    private final Clock clock;
    private final SwitchLog log;
    /** Most recently used first; the current entry is at 0. */
    private final List<Open<T>> open = new ArrayList<Open<T>>();

    /** @param keep sessions kept open, the current one included (>= 1; 2 keeps the previous one) */
    public Switcher(BundleIndex index, Loader<T> loader, Warmup<T> warmup, int keep, Clock clock) {
        if (keep < 1) {
            throw new IllegalArgumentException("keep must be >= 1 session, not " + keep);
        }
        this.index = index;
        this.loader = loader;
        this.warmup = warmup;
        this.keep = keep;
        this.clock = clock;
        this.log = new SwitchLog(clock.nanos());
    }

    public BundleIndex index() {
        return index;
    }

    /** The running entry's position in the index, or -1 before the first switch. */
    public int currentEntry() {
        return open.isEmpty() ? -1 : open.get(0).entry;
    }

    /** The running entry's model; null before the first switch. */
    public T current() {
        return open.isEmpty() ? null : open.get(0).model;
    }

    public SwitchLog log() {
        return log;
    }

    /** How many sessions are open now. */
    public int openCount() {
        return open.size();
    }

    /**
     * Makes {@code entry} the running one; returns the recorded switch, or null when it already runs.
     * When loading fails the error propagates, and the previous entry stays the running one if it is still
     * open (keep >= 2: sessions are closed least recently used first, never the running one while it
     * is the only other; with keep = 1 it was closed to make room and nothing runs until the next switch).
     */
    public SwitchLog.Event switchTo(int entry, String reason) throws Exception {
        if (entry < 0 || entry >= index.size()) {
            throw new IllegalArgumentException("no entry " + entry + " in a bundle of " + index.size());
        }
        int before = currentEntry();
        if (before == entry) {
            return null;
        }
        String from = before < 0 ? null : index.entries.get(before).name;
        long t0 = clock.nanos();
        for (int i = 0; i < open.size(); i++) {
            if (open.get(i).entry == entry) {
                open.add(0, open.remove(i));
                return log.add(t0, from, index.entries.get(entry).name, reason, true, 0, 0);
            }
        }
        // Make room first, so that never more than `keep` sessions are open at once (peak memory).
        while (open.size() >= keep) {
            closeQuietly(open.remove(open.size() - 1).model);
        }
        T model = loader.load(index.entries.get(entry));
        long t1 = clock.nanos();
        try {
            if (warmup != null) {
                warmup.run(model);
            }
        } catch (Exception e) {
            closeQuietly(model);
            throw e;
        }
        long t2 = clock.nanos();
        open.add(0, new Open<T>(entry, model));
        return log.add(t0, from, index.entries.get(entry).name, reason, false, (t1 - t0) / 1e6, (t2 - t1) / 1e6);
    }

    @Override
    public void close() {
        for (Open<T> o : open) {
            closeQuietly(o.model);
        }
        open.clear();
    }

    private static void closeQuietly(Closeable c) {
        try {
            c.close();
        } catch (IOException ignored) {
            // Closing a session only fails when its native side is already gone.
        } catch (RuntimeException ignored) {
            // Same; a close must never hide the error that got us here.
        }
    }
}
