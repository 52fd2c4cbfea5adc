import java.io.File;
import java.io.IOException;
import java.lang.reflect.Constructor;
import java.lang.reflect.Field;
import java.lang.reflect.Method;
import java.lang.reflect.Modifier;
import java.lang.reflect.Type;
import java.net.URL;
import java.net.URLClassLoader;
import java.nio.file.Files;
import java.nio.file.Path;
import java.nio.file.Paths;
import java.util.ArrayList;
import java.util.Arrays;
import java.util.HashSet;
import java.util.List;
import java.util.Set;
import java.util.TreeSet;
import java.util.stream.Collectors;
import java.util.stream.Stream;

/**
 * Checks that the compile-time ONNX Runtime stubs (android_demo/stubs) declare nothing the real API
 * lacks: every public class, constructor, method, field and enum constant of a stub must exist in the
 * real {@code classes.jar} of the ONNX Runtime Android AAR with the same kind, modifiers that matter
 * (static, abstract/interface), generic signature and checked exceptions.
 *
 * <p>A build tool, run on the desktop JDK with the single-file launcher (JDK 11+), not app code:
 * {@code java tools/ApiCheck.java STUB_CLASSES_DIR REAL_CLASSES_JAR [EXTRA_CLASSPATH...]}.
 * Exits 0 and prints "api-check: OK ..." when the stubs are a faithful subset.
 */
public class ApiCheck {
    private static final List<String> problems = new ArrayList<>();
    private static int checked;

    public static void main(String[] args) throws Exception {
        if (args.length < 2) {
            System.err.println("usage: java ApiCheck.java STUB_CLASSES_DIR REAL_CLASSES_JAR [EXTRA_CLASSPATH...]");
            System.exit(2);
        }
        Path stubDir = Paths.get(args[0]);
        List<URL> realPath = new ArrayList<>();
        for (int i = 1; i < args.length; i++) {
            realPath.add(new File(args[i]).toURI().toURL());
        }
        ClassLoader parent = ClassLoader.getPlatformClassLoader();
        URLClassLoader stubs = new URLClassLoader(new URL[] {stubDir.toUri().toURL()}, parent);
        URLClassLoader real = new URLClassLoader(realPath.toArray(new URL[0]), parent);

        List<String> names = classNames(stubDir);
        int classes = 0;
        for (String name : names) {
            Class<?> s = Class.forName(name, false, stubs);
            if (!Modifier.isPublic(s.getModifiers())) {
                continue; // the package-private Stub helper is not API
            }
            classes++;
            Class<?> r;
            try {
                r = Class.forName(name, false, real);
            } catch (ClassNotFoundException e) {
                problems.add(name + ": no such class in the real API");
                continue;
            }
            compareClass(s, r);
        }
        if (!problems.isEmpty()) {
            for (String p : problems) {
                System.err.println("api-check: MISMATCH " + p);
            }
            System.err.println("api-check: FAILED, " + problems.size() + " mismatch(es)");
            System.exit(1);
        }
        System.out.println("api-check: OK, " + classes + " stub classes, " + checked
                + " members match the real ONNX Runtime Java API");
    }

    private static List<String> classNames(Path dir) throws IOException {
        try (Stream<Path> files = Files.walk(dir)) {
            return files.filter(p -> p.toString().endsWith(".class"))
                    .map(p -> dir.relativize(p).toString())
                    .map(p -> p.substring(0, p.length() - ".class".length()).replace(File.separatorChar, '.'))
                    .sorted()
                    .collect(Collectors.toList());
        }
    }

    private static String typeName(Type t) {
        return t.getTypeName();
    }

    private static void compareClass(Class<?> s, Class<?> r) {
        String n = s.getName();
        if (s.isInterface() != r.isInterface() || s.isEnum() != r.isEnum()) {
            problems.add(n + ": class kind differs (interface/enum)");
        }
        if (!Modifier.isPublic(r.getModifiers())) {
            problems.add(n + ": not public in the real API");
        }
        if (Modifier.isStatic(s.getModifiers()) != Modifier.isStatic(r.getModifiers())) {
            problems.add(n + ": static nesting differs");
        }
        if (!s.isEnum() && !s.isInterface()) {
            String ss = s.getSuperclass() == null ? null : s.getSuperclass().getName();
            String rs = r.getSuperclass() == null ? null : r.getSuperclass().getName();
            if (ss != null && !ss.equals(rs)) {
                problems.add(n + ": superclass " + ss + " vs real " + rs);
            }
            // Stub classes without public constructors must not be subclassable where the real one is final.
            if (Modifier.isFinal(r.getModifiers()) && !Modifier.isFinal(s.getModifiers())) {
                problems.add(n + ": final in the real API but not in the stub");
            }
        }
        Set<String> realIfaces = new HashSet<>();
        for (Type t : r.getGenericInterfaces()) {
            realIfaces.add(typeName(t));
        }
        for (Type t : s.getGenericInterfaces()) {
            checked++;
            if (!realIfaces.contains(typeName(t))) {
                problems.add(n + ": implements " + typeName(t) + " but the real class does not (" + realIfaces + ")");
            }
        }
        if (s.isEnum()) {
            Set<String> realConstants = new TreeSet<>();
            for (Object c : enumNames(r)) {
                realConstants.add(c.toString());
            }
            for (Field f : s.getDeclaredFields()) {
                if (f.isEnumConstant()) {
                    checked++;
                    if (!realConstants.contains(f.getName())) {
                        problems.add(n + "." + f.getName() + ": no such enum constant in the real API");
                    }
                }
            }
        }
        for (Field f : s.getDeclaredFields()) {
            if (!Modifier.isPublic(f.getModifiers()) || f.isEnumConstant() || f.isSynthetic()) {
                continue;
            }
            checked++;
            try {
                Field rf = r.getField(f.getName());
                if (!typeName(f.getGenericType()).equals(typeName(rf.getGenericType()))
                        || Modifier.isStatic(f.getModifiers()) != Modifier.isStatic(rf.getModifiers())) {
                    problems.add(n + "." + f.getName() + ": field type or static-ness differs");
                }
            } catch (NoSuchFieldException e) {
                problems.add(n + "." + f.getName() + ": no such public field in the real API");
            }
        }
        for (Constructor<?> c : s.getDeclaredConstructors()) {
            if (!Modifier.isPublic(c.getModifiers())) {
                continue;
            }
            checked++;
            Constructor<?> rc = null;
            for (Constructor<?> cand : r.getConstructors()) {
                if (Arrays.equals(names(cand.getParameterTypes()), names(c.getParameterTypes()))) {
                    rc = cand;
                }
            }
            if (rc == null) {
                problems.add(n + ": no public constructor " + Arrays.toString(names(c.getParameterTypes())) + " in the real API");
            } else {
                compareExceptions(n + ".<init>", c.getExceptionTypes(), rc.getExceptionTypes());
            }
        }
        for (Method m : s.getDeclaredMethods()) {
            if (!Modifier.isPublic(m.getModifiers()) || m.isSynthetic() || m.isBridge()) {
                continue;
            }
            if (s.isEnum() && (m.getName().equals("values") || m.getName().equals("valueOf"))) {
                continue;
            }
            checked++;
            String sig = n + "." + m.getName() + Arrays.toString(m.getGenericParameterTypes());
            Method rm = findMethod(r, m);
            if (rm == null) {
                problems.add(sig + ": no such public method in the real API");
                continue;
            }
            if (!typeName(m.getGenericReturnType()).equals(typeName(rm.getGenericReturnType()))) {
                problems.add(sig + ": returns " + typeName(m.getGenericReturnType()) + ", real returns "
                        + typeName(rm.getGenericReturnType()));
            }
            if (!Arrays.toString(m.getGenericParameterTypes()).equals(Arrays.toString(rm.getGenericParameterTypes()))) {
                problems.add(sig + ": generic parameters differ from real " + Arrays.toString(rm.getGenericParameterTypes()));
            }
            if (Modifier.isStatic(m.getModifiers()) != Modifier.isStatic(rm.getModifiers())) {
                problems.add(sig + ": static-ness differs");
            }
            compareExceptions(sig, m.getExceptionTypes(), rm.getExceptionTypes());
        }
    }

    private static Object[] enumNames(Class<?> r) {
        List<String> out = new ArrayList<>();
        for (Field f : r.getDeclaredFields()) {
            if (f.isEnumConstant()) {
                out.add(f.getName());
            }
        }
        return out.toArray();
    }

    private static Method findMethod(Class<?> r, Method m) {
        // Public methods of the class, its superclasses and (for interfaces) superinterfaces.
        for (Method c : r.getMethods()) {
            if (c.getName().equals(m.getName()) && !c.isBridge()
                    && Arrays.equals(names(c.getParameterTypes()), names(m.getParameterTypes()))) {
                return c;
            }
        }
        return null;
    }

    private static String[] names(Class<?>[] types) {
        String[] out = new String[types.length];
        for (int i = 0; i < types.length; i++) {
            out[i] = types[i].getName();
        }
        return out;
    }

    private static void compareExceptions(String what, Class<?>[] stub, Class<?>[] real) {
        Set<String> s = checkedNames(stub);
        Set<String> r = checkedNames(real);
        if (!s.equals(r)) {
            problems.add(what + ": throws " + s + " but the real API throws " + r);
        }
    }

    private static Set<String> checkedNames(Class<?>[] types) {
        Set<String> out = new TreeSet<>();
        for (Class<?> t : types) {
            if (!RuntimeException.class.isAssignableFrom(t) && !Error.class.isAssignableFrom(t)) {
                out.add(t.getName());
            }
        }
        return out;
    }
}
