package org.dynabert.edge.core;

import java.util.ArrayList;
import java.util.Collections;
import java.util.List;
import java.util.Map;

/**
 * {@code labels.json}: a JSON list of label names in class-id order, e.g. {@code ["negative", "positive"]}.
 * An {@code id2label}-style object ({@code {"0": "negative", "1": "positive"}}) is accepted too.
 */
public final class Labels {
    private final List<String> names;

    private Labels(List<String> names) {
        this.names = Collections.unmodifiableList(names);
    }

    public static Labels of(List<String> names) {
        return new Labels(new ArrayList<String>(names));
    }

    public static Labels parse(String json) {
        Object v = Json.parse(json);
        ArrayList<String> out = new ArrayList<String>();
        if (v instanceof List) {
            for (Object o : Json.asArray(v, "labels.json")) {
                if (!(o instanceof String)) {
                    throw new IllegalArgumentException("labels.json: every label must be a string");
                }
                out.add((String) o);
            }
        } else if (v instanceof Map) {
            Map<String, Object> m = Json.asObject(v, "labels.json");
            for (int i = 0; i < m.size(); i++) {
                Object o = m.get(Integer.toString(i));
                if (!(o instanceof String)) {
                    throw new IllegalArgumentException("labels.json: ids must be 0.." + (m.size() - 1)
                            + " with string names; missing or bad id " + i);
                }
                out.add((String) o);
            }
        } else {
            throw new IllegalArgumentException("labels.json: expected a list of label names");
        }
        if (out.isEmpty()) {
            throw new IllegalArgumentException("labels.json: no labels");
        }
        return new Labels(out);
    }

    public int size() {
        return names.size();
    }

    public List<String> names() {
        return names;
    }

    /** The name of class {@code id}; {@code LABEL_<id>} (HF's default) when the file has fewer labels. */
    public String name(int id) {
        if (id >= 0 && id < names.size()) {
            return names.get(id);
        }
        return "LABEL_" + id;
    }
}
