package org.dynabert.edge.core;

import static org.junit.Assert.assertArrayEquals;
import static org.junit.Assert.assertEquals;
import static org.junit.Assert.assertTrue;
import static org.junit.Assert.fail;

import java.io.ByteArrayInputStream;
import java.util.Arrays;
import java.util.List;

import org.junit.Test;

/** Tokenizer behaviour on a tiny hand-made vocabulary (the golden tests cover the real one). */
public class TokenizerUnitTest {
    // ids: 0 [PAD] 1 [UNK] 2 [CLS] 3 [SEP] 4 [MASK] 5 un 6 ##aff 7 ##able 8 the 9 , 10 ! 11 中 12 cafe 13 ##s 14 a
    static final String VOCAB = "[PAD]\n[UNK]\n[CLS]\n[SEP]\n[MASK]\nun\n##aff\n##able\nthe\n,\n!\n中\ncafe\n##s\na\n";

    static BertTokenizer tok() {
        return new BertTokenizer(Vocab.fromText(VOCAB));
    }

    @Test
    public void vocabReadsLikeHuggingFace() throws Exception {
        Vocab v = Vocab.load(new ByteArrayInputStream("a\r\nb\rc\n d \nc".getBytes("UTF-8")));
        assertEquals(5, v.size());
        assertEquals(Integer.valueOf(4), v.id("c")); // the later duplicate wins
        assertEquals(Integer.valueOf(3), v.id(" d ")); // spaces are part of the token
        assertEquals("b", v.token(1));
        assertEquals(null, v.id("zzz"));
    }

    @Test
    public void greedyLongestMatchWordPiece() {
        assertEquals(Arrays.asList("un", "##aff", "##able"), tok().tokenize("unaffable"));
        assertEquals(Arrays.asList("[UNK]"), tok().tokenize("unaffablex")); // no full segmentation
        assertEquals(Arrays.asList("cafe", "##s"), tok().tokenize("CAFÉS"));
    }

    @Test
    public void basicTokenizerSteps() {
        BasicTokenizer b = new BasicTokenizer(true, true, null);
        assertEquals(Arrays.asList("hello", ",", "world", "!"), b.tokenize(" Hello,World! "));
        assertEquals(Arrays.asList("a", "中", "b"), b.tokenize("a中b"));
        assertEquals(Arrays.asList("ab"), b.tokenize("a\u200bb")); // zero-width space is Cf: removed
        assertEquals(Arrays.asList("a", "b"), b.tokenize("a\u2028b")); // Python's split() splits on U+2028
        assertEquals(Arrays.asList("resume"), b.tokenize("Re\u0301sume\u0301"));
        assertEquals(Arrays.asList("résumé"), new BasicTokenizer(true, true, Boolean.FALSE).tokenize("RÉSUMÉ"));
        assertEquals(Arrays.asList("Résumé"), new BasicTokenizer(false, true, null).tokenize("Résumé"));
        assertEquals(Arrays.asList("a中b"), new BasicTokenizer(true, false, null).tokenize("a中b"));
        assertTrue(b.tokenize("\u0000\ufffd\u0007 \t\n").isEmpty());
    }

    @Test
    public void specialTokensInTextStayWhole() {
        assertEquals(Arrays.asList("[CLS]", "the", "[MASK]", "[UNK]", "[SEP]"), tok().tokenize("[CLS] The[MASK] xyz[SEP]"));
        // Only the exact upper-case spelling is special.
        assertEquals(Arrays.asList("[UNK]", "[UNK]", "[UNK]"), tok().tokenize("[cls]"));
    }

    @Test
    public void wordLongerThan100CodePointsIsUnknown() {
        // The limit counts code points, as Python does, not UTF-16 units.
        StringBuilder emoji = new StringBuilder();
        for (int i = 0; i < 101; i++) {
            emoji.append("\uD83D\uDE00");
        }
        WordpieceTokenizer wp = new WordpieceTokenizer(Vocab.fromText("[UNK]\n\uD83D\uDE00\n##\uD83D\uDE00\n"), "[UNK]", 100);
        List<String> ok = wp.tokenize(emoji.substring(0, 200)); // 100 code points, 200 UTF-16 units
        assertEquals(100, ok.size());
        assertEquals(Arrays.asList("[UNK]"), wp.tokenize(emoji.toString()));
    }

    @Test
    public void singleSequenceTruncationAndPadding() {
        BertTokenizer t = tok();
        Encoding e = t.encode("the the the the the", null, 5, false);
        assertArrayEquals(new int[] {2, 8, 8, 8, 3}, e.inputIds());
        assertEquals(2, e.truncatedTokens());
        assertEquals(5, e.wordpieceCount());
        Encoding p = t.encode("the !", null, 6, true);
        assertArrayEquals(new int[] {2, 8, 10, 3, 0, 0}, p.inputIds());
        assertArrayEquals(new int[] {1, 1, 1, 1, 0, 0}, p.attentionMask());
        assertArrayEquals(new int[] {0, 0, 0, 0, 0, 0}, p.tokenTypeIds());
        assertEquals(4, p.attendedLength());
        assertArrayEquals(new long[] {2, 8, 10, 3, 0, 0}, p.inputIdsLong());
        Encoding empty = t.encode("", 128);
        assertArrayEquals(new int[] {2, 3}, empty.inputIds());
        assertEquals(Arrays.asList("[CLS]", "[SEP]"), empty.tokens());
    }

    @Test
    public void pairsUseLongestFirstLikeTheSlowTokenizer() {
        BertTokenizer t = tok();
        // 4 + 4 pieces, max 8 -> remove 3: equal lengths, so the first loses 1 and the second 2.
        Encoding e = t.encode("a a a a", "the the the the", 8, false);
        assertArrayEquals(new int[] {2, 14, 14, 14, 3, 8, 8, 3}, e.inputIds());
        assertArrayEquals(new int[] {0, 0, 0, 0, 0, 1, 1, 1}, e.tokenTypeIds());
        // Longer first sequence is cut first.
        Encoding f = t.encode("a a a a a a", "the", 7, false);
        assertArrayEquals(new int[] {2, 14, 14, 14, 3, 8, 3}, f.inputIds());
        try {
            t.encode("a", "b", 2, false);
            fail("max_length 2 cannot hold a pair");
        } catch (IllegalArgumentException expected) {
            assertTrue(expected.getMessage().contains("max_length"));
        }
    }

    @Test
    public void tenThousandCharactersAreTruncatedNotRejected() {
        StringBuilder sb = new StringBuilder();
        while (sb.length() < 10000) {
            sb.append("the ! \uD83D\uDE00 中 ");
        }
        Encoding e = tok().encode(sb.substring(0, 10000), null, 128, false);
        assertEquals(128, e.length());
        assertTrue(e.truncatedTokens() > 1000);
    }
}
