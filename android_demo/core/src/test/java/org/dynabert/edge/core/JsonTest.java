package org.dynabert.edge.core;

import static org.junit.Assert.assertEquals;
import static org.junit.Assert.assertNull;
import static org.junit.Assert.assertTrue;
import static org.junit.Assert.fail;

import java.util.Arrays;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;

import org.junit.Test;

public class JsonTest {
    @Test
    public void parsesAllValueKinds() {
        Map<String, Object> m = Json.asObject(Json.parse(
                " {\"a\": 1, \"b\": -2.5e2, \"c\": [true, false, null], \"d\": {\"e\": \"x\"}, \"f\": 12345678901234} "),
                "test");
        assertEquals(Long.valueOf(1), m.get("a"));
        assertEquals(-250.0, ((Double) m.get("b")).doubleValue(), 0);
        assertEquals(Arrays.asList(Boolean.TRUE, Boolean.FALSE, null), m.get("c"));
        assertEquals("x", Json.asObject(m.get("d"), "d").get("e"));
        assertEquals(Long.valueOf(12345678901234L), m.get("f"));
        assertEquals(Arrays.asList("a", "b", "c", "d", "f"), new java.util.ArrayList<String>(m.keySet()));
    }

    @Test
    public void decodesEscapesIncludingSurrogatePairs() {
        String s = (String) Json.parse("\"a\\\"b\\\\c\\/d\\n\\t\\u00e9\\ud83d\\ude00\\u4e2d\"");
        assertEquals("a\"b\\c/d\n\t\u00e9\uD83D\uDE00\u4e2d", s);
        assertEquals(1, "\uD83D\uDE00".codePointCount(0, 2));
        // A lone surrogate survives the round trip (Python's json writes them too).
        assertEquals("x\ud800y", Json.parse("\"x\\ud800y\""));
    }

    @Test
    public void rejectsMalformedInput() {
        String[] bad = {"", "{", "[1,]", "{\"a\" 1}", "tru", "\"abc", "01x", "1 2", "{\"a\":1,}", "\"\\q\"", "-", "\"a\nb\""};
        for (String b : bad) {
            try {
                Json.parse(b);
                fail("accepted " + b);
            } catch (IllegalArgumentException expected) {
                assertTrue(expected.getMessage().startsWith("invalid JSON"));
            }
        }
    }

    @Test
    public void writesAndReadsBack() {
        Map<String, Object> m = new LinkedHashMap<String, Object>();
        m.put("s", "quote\" back\\ nl\n ctrl\u0001 emoji\uD83D\uDE00 lone\ud800 ls\u2028");
        m.put("i", Integer.valueOf(3));
        m.put("d", Double.valueOf(0.125));
        m.put("nan", Double.valueOf(Double.NaN));
        m.put("arr", new int[] {1, 2});
        m.put("list", Arrays.asList("a", null, Boolean.TRUE));
        m.put("empty", new LinkedHashMap<String, Object>());
        String compact = Json.write(m);
        String pretty = Json.writePretty(m, 2);
        for (String text : new String[] {compact, pretty}) {
            Map<String, Object> back = Json.asObject(Json.parse(text), "back");
            assertEquals(m.get("s"), back.get("s"));
            assertEquals(Long.valueOf(3), back.get("i"));
            assertEquals(0.125, ((Number) back.get("d")).doubleValue(), 0);
            assertNull(back.get("nan"));
            assertTrue(back.containsKey("nan"));
            assertEquals(Arrays.asList(Long.valueOf(1), Long.valueOf(2)), back.get("arr"));
            assertEquals(Arrays.asList("a", null, Boolean.TRUE), back.get("list"));
        }
        assertTrue(pretty.contains("\n  \"i\": 3"));
        // Output is ASCII-safe for control and separator characters.
        assertTrue(compact.contains("\\u0001") && compact.contains("\\u2028") && compact.contains("\\ud800"));
    }

    @Test
    public void typedHelpersValidate() {
        Map<String, Object> m = Json.asObject(Json.parse("{\"n\": 2.5, \"s\": \"x\", \"b\": null, \"i\": 4.0}"), "m");
        assertEquals(2.5, Json.getDouble(m, "n", 0), 0);
        assertEquals(7.0, Json.getDouble(m, "missing", 7.0), 0);
        assertEquals(4L, Json.getLong(m, "i", 0));
        assertNull(Json.getBoolean(m, "b"));
        try {
            Json.getLong(m, "n", 0);
            fail("2.5 accepted as an integer");
        } catch (IllegalArgumentException expected) {
            assertTrue(expected.getMessage().contains("'n'"));
        }
        try {
            Json.getString(m, "n", null);
            fail("number accepted as string");
        } catch (IllegalArgumentException expected) {
            assertTrue(expected.getMessage().contains("'n'"));
        }
        List<String> parts = Arrays.asList("a", "b", "c");
        assertEquals("a, b, c", Json.join(", ", parts));
    }
}
