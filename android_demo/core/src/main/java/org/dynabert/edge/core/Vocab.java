package org.dynabert.edge.core;

import java.io.BufferedReader;
import java.io.IOException;
import java.io.InputStream;
import java.io.InputStreamReader;
import java.io.Reader;
import java.io.StringReader;
import java.nio.charset.Charset;
import java.util.ArrayList;
import java.util.Collections;
import java.util.HashMap;
import java.util.List;

/**
 * A WordPiece vocabulary ({@code vocab.txt}): one token per line, the id is the line number.
 *
 * <p>Read exactly like Hugging Face's {@code load_vocab}: the file is UTF-8 text read with universal
 * newlines ({@code \n}, {@code \r\n} and {@code \r} end a line), only the newline is stripped (other
 * whitespace is part of the token), and when a token appears twice the later line wins.
 */
public final class Vocab {
    private static final Charset UTF8 = Charset.forName("UTF-8");

    private final HashMap<String, Integer> ids;
    private final List<String> tokens;

    private Vocab(List<String> lines) {
        this.tokens = Collections.unmodifiableList(new ArrayList<String>(lines));
        this.ids = new HashMap<String, Integer>(lines.size() * 2);
        for (int i = 0; i < lines.size(); i++) {
            ids.put(lines.get(i), Integer.valueOf(i));
        }
    }

    /** Reads a vocabulary from a UTF-8 stream; the stream is closed. */
    public static Vocab load(InputStream in) throws IOException {
        try {
            return read(new InputStreamReader(in, UTF8));
        } finally {
            in.close();
        }
    }

    /** Builds a vocabulary from the text of a {@code vocab.txt} file. */
    public static Vocab fromText(String text) {
        try {
            return read(new StringReader(text));
        } catch (IOException e) {
            throw new IllegalStateException(e);
        }
    }

    /** Builds a vocabulary from a token list (id = index). */
    public static Vocab fromTokens(List<String> tokens) {
        return new Vocab(tokens);
    }

    private static Vocab read(Reader r) throws IOException {
        BufferedReader br = new BufferedReader(r);
        ArrayList<String> lines = new ArrayList<String>();
        String line;
        while ((line = br.readLine()) != null) {
            // A leading BOM is kept as U+FEFF, as Python's "utf-8" codec does, so ids stay aligned.
            lines.add(line);
        }
        if (lines.isEmpty()) {
            throw new IOException("vocabulary is empty");
        }
        return new Vocab(lines);
    }

    public int size() {
        return tokens.size();
    }

    /** The id of {@code token}, or {@code null} when it is not in the vocabulary. */
    public Integer id(String token) {
        return ids.get(token);
    }

    public boolean contains(String token) {
        return ids.containsKey(token);
    }

    /** The token on line {@code id}. */
    public String token(int id) {
        return tokens.get(id);
    }
}
