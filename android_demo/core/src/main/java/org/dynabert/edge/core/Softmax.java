package org.dynabert.edge.core;

/** Numerically stable softmax and argmax over logits. */
public final class Softmax {
    private Softmax() {
    }

    /**
     * Softmax in double precision after subtracting the maximum, so large logits cannot overflow.
     * Non-finite logits are rejected: a model that produces NaN must not be shown as a confident answer.
     */
    public static double[] softmax(float[] logits) {
        if (logits == null || logits.length == 0) {
            throw new IllegalArgumentException("no logits");
        }
        double max = Double.NEGATIVE_INFINITY;
        for (float f : logits) {
            if (Float.isNaN(f) || Float.isInfinite(f)) {
                throw new IllegalArgumentException("model produced a non-finite logit: " + f);
            }
            max = Math.max(max, f);
        }
        double[] p = new double[logits.length];
        double sum = 0.0;
        for (int i = 0; i < logits.length; i++) {
            p[i] = Math.exp((double) logits[i] - max);
            sum += p[i];
        }
        for (int i = 0; i < p.length; i++) {
            p[i] /= sum;
        }
        return p;
    }

    /** Index of the largest value; the first one on ties (as numpy's argmax). */
    public static int argmax(double[] v) {
        int best = 0;
        for (int i = 1; i < v.length; i++) {
            if (v[i] > v[best]) {
                best = i;
            }
        }
        return best;
    }
}
