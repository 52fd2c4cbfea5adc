package org.dynabert.edge.core;

import static org.junit.Assert.assertArrayEquals;
import static org.junit.Assert.assertEquals;
import static org.junit.Assume.assumeTrue;

import java.io.File;
import java.io.FileInputStream;
import java.io.IOException;
import java.util.Collection;
import java.util.HashMap;
import java.util.Map;

import org.junit.Test;
import org.junit.runner.RunWith;
import org.junit.runners.Parameterized;
import org.junit.runners.Parameterized.Parameters;

/**
 * Every golden vector: the Java tokenizer must give exactly the ids, token types, attention mask and
 * word pieces of Hugging Face's BertTokenizer (SST-2 dev sentences, pairs, hard unicode cases).
 */
@RunWith(Parameterized.class)
public class GoldenTokenizerTest {
    private static final Map<String, Vocab> VOCABS = new HashMap<String, Vocab>();
    private static final Map<String, BertTokenizer> TOKENIZERS = new HashMap<String, BertTokenizer>();

    @Parameters(name = "{0}")
    public static Collection<Object[]> data() throws IOException {
        return Golden.cases("tokenizer_cases.jsonl");
    }

    private final String id;
    private final Map<String, Object> rec;

    public GoldenTokenizerTest(String id, Map<String, Object> rec) {
        this.id = id;
        this.rec = rec;
    }

    private static synchronized BertTokenizer tokenizer(String vocabFile, boolean lower, Boolean strip, boolean cjk)
            throws IOException {
        Vocab vocab = VOCABS.get(vocabFile);
        if (vocab == null) {
            vocab = Vocab.load(new FileInputStream(new File(Golden.dir(), vocabFile)));
            VOCABS.put(vocabFile, vocab);
        }
        String key = vocabFile + "/" + lower + "/" + strip + "/" + cjk;
        BertTokenizer t = TOKENIZERS.get(key);
        if (t == null) {
            t = new BertTokenizer(vocab, lower, strip, cjk);
            TOKENIZERS.put(key, t);
        }
        return t;
    }

    @Test
    public void matchesHuggingFace() throws IOException {
        assumeTrue("golden vectors not generated (set -Dgolden.dir; ci/run_junit.sh does)", rec != null);
        String vocabFile = rec.get("vocab") == null ? "vocab.txt" : (String) rec.get("vocab");
        BertTokenizer tok = tokenizer(vocabFile, (Boolean) rec.get("do_lower_case"), (Boolean) rec.get("strip_accents"),
                (Boolean) rec.get("tokenize_chinese_chars"));
        String text = (String) rec.get("text");
        String pair = (String) rec.get("text_pair");
        int maxLength = ((Number) rec.get("max_length")).intValue();
        boolean padding = (Boolean) rec.get("padding");

        assertEquals(id + ": word pieces", Golden.strings(rec.get("tokens")), tok.tokenize(text));
        Encoding enc = tok.encode(text, pair, maxLength, padding);
        assertArrayEquals(id + ": input_ids", Golden.ints(rec.get("input_ids")), enc.inputIds());
        assertArrayEquals(id + ": token_type_ids", Golden.ints(rec.get("token_type_ids")), enc.tokenTypeIds());
        assertArrayEquals(id + ": attention_mask", Golden.ints(rec.get("attention_mask")), enc.attentionMask());
    }
}
