/*
 * Rewrites the ONNX Runtime Android classes.jar (Java 17 class files) into Java 8 class files that the
 * dx dexer of this machine's offline toolchain accepts, so the offline-built APK can carry the real
 * ONNX Runtime Java API.
 *
 * Why by hand: Android Gradle builds run D8, which desugars Java 11+ bytecode; D8/R8 come only from
 * Google Maven, which is not reachable here, and Debian ships only the older dx (class files <= 52).
 * The ORT 1.29.0 classes.jar needs exactly three rewrites, the ones D8 would do for it, and this tool
 * does those and refuses anything else (so a future AAR that needs more fails loudly, not at run time):
 *   1. class file version 61 -> 52;
 *   2. nest-based access (Java 11): NestHost/NestMembers are dropped and every private member that a
 *      nestmate reaches is made package-private (all nestmates share a package); calls to it through
 *      invokespecial become invokevirtual (dx would otherwise emit invoke-super for a non-private
 *      method) and private interface methods reached from outside become public;
 *   3. non-capturing lambdas bound to a static method (LambdaMetafactory.metafactory, no captured
 *      values): each becomes a singleton class implementing the functional interface, read with
 *      getstatic (ART has no LambdaMetafactory; D8 does the same).
 * Any other invokedynamic, any record or sealed class, or a capturing lambda stops the tool (exit 2).
 *
 * The written classes are then run through ASM's bytecode verifier (types, stack, the class hierarchy
 * from OUT.jar + android.jar), so a rewrite that breaks a method fails here, not on a phone.
 *
 * Usage (ASM from Debian's libasm-java):
 *   java -cp /usr/share/java/asm.jar:/usr/share/java/asm-tree.jar:/usr/share/java/asm-analysis.jar:\
 *       /usr/share/java/asm-util.jar OrtClassesToJava8.java IN.jar OUT.jar ANDROID.jar
 */

import java.io.ByteArrayOutputStream;
import java.io.FileOutputStream;
import java.io.IOException;
import java.io.InputStream;
import java.io.PrintWriter;
import java.io.StringWriter;
import java.net.URL;
import java.net.URLClassLoader;
import java.util.ArrayList;
import java.util.Enumeration;
import java.util.HashMap;
import java.util.HashSet;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;
import java.util.Set;
import java.util.zip.ZipEntry;
import java.util.zip.ZipFile;
import java.util.zip.ZipOutputStream;

import org.objectweb.asm.ClassReader;
import org.objectweb.asm.ClassWriter;
import org.objectweb.asm.Handle;
import org.objectweb.asm.Opcodes;
import org.objectweb.asm.Type;
import org.objectweb.asm.tree.AbstractInsnNode;
import org.objectweb.asm.tree.ClassNode;
import org.objectweb.asm.tree.FieldInsnNode;
import org.objectweb.asm.tree.FieldNode;
import org.objectweb.asm.tree.InsnNode;
import org.objectweb.asm.tree.InvokeDynamicInsnNode;
import org.objectweb.asm.tree.MethodInsnNode;
import org.objectweb.asm.tree.MethodNode;
import org.objectweb.asm.tree.TypeInsnNode;
import org.objectweb.asm.tree.VarInsnNode;
import org.objectweb.asm.util.CheckClassAdapter;

public final class OrtClassesToJava8 {
    private static final String METAFACTORY_OWNER = "java/lang/invoke/LambdaMetafactory";

    private OrtClassesToJava8() {}

    private static void fail(String message) {
        System.err.println("ERROR: OrtClassesToJava8: " + message);
        System.exit(2);
    }

    private static String key(String owner, String name, String desc) {
        return owner + "." + name + desc;
    }

    public static void main(String[] args) throws IOException {
        if (args.length != 3) {
            fail("usage: OrtClassesToJava8 IN.jar OUT.jar ANDROID.jar");
        }
        Map<String, ClassNode> classes = new LinkedHashMap<>();
        Map<String, byte[]> resources = new LinkedHashMap<>();
        try (ZipFile in = new ZipFile(args[0])) {
            Enumeration<? extends ZipEntry> entries = in.entries();
            while (entries.hasMoreElements()) {
                ZipEntry e = entries.nextElement();
                if (e.isDirectory()) {
                    continue;
                }
                byte[] bytes = readAll(in.getInputStream(e));
                if (e.getName().endsWith(".class")) {
                    ClassNode node = new ClassNode();
                    new ClassReader(bytes).accept(node, 0);
                    classes.put(node.name, node);
                } else {
                    resources.put(e.getName(), bytes);
                }
            }
        }

        // Private members by key, with what owns them.
        Map<String, MethodNode> privateMethods = new HashMap<>();
        Map<String, FieldNode> privateFields = new HashMap<>();
        for (ClassNode c : classes.values()) {
            if (c.permittedSubclasses != null || c.recordComponents != null) {
                fail(c.name + " is a sealed class or a record: not supported by this rewrite");
            }
            for (MethodNode m : c.methods) {
                if ((m.access & Opcodes.ACC_PRIVATE) != 0) {
                    privateMethods.put(key(c.name, m.name, m.desc), m);
                }
            }
            for (FieldNode f : c.fields) {
                if ((f.access & Opcodes.ACC_PRIVATE) != 0) {
                    privateFields.put(key(c.name, f.name, f.desc), f);
                }
            }
        }

        Set<String> relaxedMethods = new HashSet<>();
        List<ClassNode> generated = new ArrayList<>();
        for (ClassNode c : classes.values()) {
            int lambdaCount = 0;
            for (MethodNode m : c.methods) {
                for (AbstractInsnNode insn = m.instructions.getFirst(); insn != null; insn = insn.getNext()) {
                    if (insn instanceof FieldInsnNode) {
                        FieldInsnNode f = (FieldInsnNode) insn;
                        FieldNode target = privateFields.get(key(f.owner, f.name, f.desc));
                        if (target != null && !f.owner.equals(c.name)) {
                            target.access &= ~Opcodes.ACC_PRIVATE;
                        }
                    } else if (insn instanceof MethodInsnNode) {
                        MethodInsnNode mi = (MethodInsnNode) insn;
                        String k = key(mi.owner, mi.name, mi.desc);
                        if (!privateMethods.containsKey(k)) {
                            continue;
                        }
                        if (!mi.owner.equals(c.name)) {
                            relaxedMethods.add(k);  // a nestmate's private method
                        } else if (mi.getOpcode() == Opcodes.INVOKEVIRTUAL || mi.getOpcode() == Opcodes.INVOKEINTERFACE) {
                            // javac 11+ calls a class's own private methods virtually; before 11 (and in
                            // dex, where private methods are direct) it is invokespecial.
                            mi.setOpcode(Opcodes.INVOKESPECIAL);
                        }
                    } else if (insn instanceof InvokeDynamicInsnNode) {
                        InvokeDynamicInsnNode indy = (InvokeDynamicInsnNode) insn;
                        ClassNode lambda = desugarLambda(c, m, indy, lambdaCount++);
                        generated.add(lambda);
                        Handle impl = (Handle) indy.bsmArgs[1];
                        relaxedMethods.add(key(impl.getOwner(), impl.getName(), impl.getDesc()));
                        FieldInsnNode read = new FieldInsnNode(Opcodes.GETSTATIC, lambda.name, "INSTANCE",
                                Type.getReturnType(indy.desc).getDescriptor());
                        m.instructions.set(indy, read);
                        insn = read;  // set() unlinks the old node; carry on from its replacement
                    }
                }
            }
        }

        // Relax the reached private methods; calls to them stop being invokespecial.
        for (String k : relaxedMethods) {
            MethodNode m = privateMethods.get(k);
            if (m == null) {
                fail("lambda body " + k + " is not a private method of the jar");
            }
            String owner = k.substring(0, k.indexOf('.'));
            boolean isInterface = (classes.get(owner).access & Opcodes.ACC_INTERFACE) != 0;
            m.access &= ~Opcodes.ACC_PRIVATE;
            if (isInterface) {
                m.access |= Opcodes.ACC_PUBLIC;
            }
        }
        checkNoOverride(classes, relaxedMethods);
        for (ClassNode c : classes.values()) {
            for (MethodNode m : c.methods) {
                for (AbstractInsnNode insn = m.instructions.getFirst(); insn != null; insn = insn.getNext()) {
                    if (insn instanceof MethodInsnNode && insn.getOpcode() == Opcodes.INVOKESPECIAL) {
                        MethodInsnNode mi = (MethodInsnNode) insn;
                        if (relaxedMethods.contains(key(mi.owner, mi.name, mi.desc))) {
                            mi.setOpcode(mi.itf ? Opcodes.INVOKEINTERFACE : Opcodes.INVOKEVIRTUAL);
                        }
                    }
                }
            }
            c.version = Opcodes.V1_8;
            c.nestHostClass = null;
            c.nestMembers = null;
        }
        for (ClassNode g : generated) {
            classes.put(g.name, g);
        }
        check(classes);

        try (ZipOutputStream out = new ZipOutputStream(new FileOutputStream(args[1]))) {
            for (ClassNode c : classes.values()) {
                ClassWriter w = new ClassWriter(ClassWriter.COMPUTE_MAXS);
                c.accept(w);
                out.putNextEntry(new ZipEntry(c.name + ".class"));
                out.write(w.toByteArray());
                out.closeEntry();
            }
            for (Map.Entry<String, byte[]> r : resources.entrySet()) {
                out.putNextEntry(new ZipEntry(r.getKey()));
                out.write(r.getValue());
                out.closeEntry();
            }
        }
        verify(args[1], args[2]);
        System.out.println("OrtClassesToJava8: " + (classes.size() - generated.size()) + " classes rewritten to Java 8, "
                + generated.size() + " lambda(s) desugared, " + relaxedMethods.size() + " private method(s) relaxed -> "
                + args[1]);
    }

    /** A singleton class for a non-capturing lambda whose body is a static method. */
    private static ClassNode desugarLambda(ClassNode host, MethodNode where, InvokeDynamicInsnNode indy, int n) {
        String site = host.name + "." + where.name + where.desc;
        if (!METAFACTORY_OWNER.equals(indy.bsm.getOwner()) || !"metafactory".equals(indy.bsm.getName())) {
            fail("invokedynamic in " + site + " is not LambdaMetafactory.metafactory (" + indy.bsm + ")");
        }
        if (Type.getArgumentTypes(indy.desc).length != 0) {
            fail("capturing lambda in " + site + ": not supported by this rewrite");
        }
        Type sam = (Type) indy.bsmArgs[0];
        Handle impl = (Handle) indy.bsmArgs[1];
        Type instantiated = (Type) indy.bsmArgs[2];
        if (impl.getTag() != Opcodes.H_INVOKESTATIC) {
            fail("lambda in " + site + " is not bound to a static method: not supported by this rewrite");
        }
        Type iface = Type.getReturnType(indy.desc);
        ClassNode c = new ClassNode();
        c.version = Opcodes.V1_8;
        c.access = Opcodes.ACC_FINAL | Opcodes.ACC_SYNTHETIC | Opcodes.ACC_SUPER;
        c.name = host.name + "$$Lambda$" + n;
        c.superName = "java/lang/Object";
        c.interfaces.add(iface.getInternalName());
        c.sourceFile = host.sourceFile;
        c.fields.add(new FieldNode(Opcodes.ACC_STATIC | Opcodes.ACC_FINAL, "INSTANCE", iface.getDescriptor(), null, null));

        MethodNode init = new MethodNode(Opcodes.ACC_PRIVATE, "<init>", "()V", null, null);
        init.instructions.add(new VarInsnNode(Opcodes.ALOAD, 0));
        init.instructions.add(new MethodInsnNode(Opcodes.INVOKESPECIAL, "java/lang/Object", "<init>", "()V", false));
        init.instructions.add(new InsnNode(Opcodes.RETURN));
        c.methods.add(init);

        MethodNode clinit = new MethodNode(Opcodes.ACC_STATIC, "<clinit>", "()V", null, null);
        clinit.instructions.add(new TypeInsnNode(Opcodes.NEW, c.name));
        clinit.instructions.add(new InsnNode(Opcodes.DUP));
        clinit.instructions.add(new MethodInsnNode(Opcodes.INVOKESPECIAL, c.name, "<init>", "()V", false));
        clinit.instructions.add(new FieldInsnNode(Opcodes.PUTSTATIC, c.name, "INSTANCE", iface.getDescriptor()));
        clinit.instructions.add(new InsnNode(Opcodes.RETURN));
        c.methods.add(clinit);

        // The interface method: load each argument, cast it to what the body takes, call the body.
        MethodNode call = new MethodNode(Opcodes.ACC_PUBLIC, indy.name, sam.getDescriptor(), null, null);
        Type[] samArgs = sam.getArgumentTypes();
        Type[] implArgs = Type.getArgumentTypes(impl.getDesc());
        Type[] instArgs = instantiated.getArgumentTypes();
        if (samArgs.length != implArgs.length) {
            fail("lambda in " + site + ": arity of the interface and the body differ");
        }
        int slot = 1;
        for (int i = 0; i < samArgs.length; i++) {
            if (samArgs[i].getSort() != implArgs[i].getSort()
                    && (samArgs[i].getSort() < Type.ARRAY || implArgs[i].getSort() < Type.ARRAY)) {
                fail("lambda in " + site + " needs boxing or widening: not supported by this rewrite");
            }
            call.instructions.add(new VarInsnNode(samArgs[i].getOpcode(Opcodes.ILOAD), slot));
            if (samArgs[i].getSort() >= Type.ARRAY && !samArgs[i].equals(instArgs[i])) {
                call.instructions.add(new TypeInsnNode(Opcodes.CHECKCAST, instArgs[i].getInternalName()));
            }
            slot += samArgs[i].getSize();
        }
        call.instructions.add(new MethodInsnNode(Opcodes.INVOKESTATIC, impl.getOwner(), impl.getName(), impl.getDesc(),
                impl.isInterface()));
        Type samRet = sam.getReturnType();
        Type implRet = Type.getReturnType(impl.getDesc());
        if (samRet.getSort() != implRet.getSort() && (samRet.getSort() < Type.ARRAY || implRet.getSort() < Type.ARRAY)) {
            fail("lambda in " + site + " needs boxing of its result: not supported by this rewrite");
        }
        call.instructions.add(new InsnNode(samRet.getOpcode(Opcodes.IRETURN)));
        c.methods.add(call);
        return c;
    }

    /** A private method made package-private must not start overriding, or being overridden by, a subclass's. */
    private static void checkNoOverride(Map<String, ClassNode> classes, Set<String> relaxedMethods) {
        for (String k : relaxedMethods) {
            String owner = k.substring(0, k.indexOf('.'));
            String member = k.substring(k.indexOf('.') + 1);
            for (ClassNode d : classes.values()) {
                for (String sup = d.superName; sup != null && classes.containsKey(sup); sup = classes.get(sup).superName) {
                    if (!sup.equals(owner)) {
                        continue;
                    }
                    for (MethodNode m : d.methods) {
                        if (member.equals(m.name + m.desc) && (m.access & Opcodes.ACC_STATIC) == 0) {
                            fail("relaxing private " + k + " would let " + d.name + " override it");
                        }
                    }
                }
            }
        }
    }

    /** The output must need none of what dx cannot read. */
    private static void check(Map<String, ClassNode> classes) {
        Set<String> privateMembers = new HashSet<>();
        for (ClassNode c : classes.values()) {
            for (MethodNode m : c.methods) {
                if ((m.access & Opcodes.ACC_PRIVATE) != 0) {
                    privateMembers.add(key(c.name, m.name, m.desc));
                }
            }
            for (FieldNode f : c.fields) {
                if ((f.access & Opcodes.ACC_PRIVATE) != 0) {
                    privateMembers.add(key(c.name, f.name, f.desc));
                }
            }
        }
        for (ClassNode c : classes.values()) {
            if (c.version > Opcodes.V1_8 || c.nestHostClass != null || c.nestMembers != null) {
                fail(c.name + " still needs Java 11+");
            }
            for (MethodNode m : c.methods) {
                for (AbstractInsnNode insn = m.instructions.getFirst(); insn != null; insn = insn.getNext()) {
                    if (insn instanceof InvokeDynamicInsnNode) {
                        fail(c.name + "." + m.name + " still has invokedynamic");
                    }
                    String owner = null;
                    String k = null;
                    if (insn instanceof MethodInsnNode) {
                        MethodInsnNode mi = (MethodInsnNode) insn;
                        owner = mi.owner;
                        k = key(mi.owner, mi.name, mi.desc);
                    } else if (insn instanceof FieldInsnNode) {
                        FieldInsnNode f = (FieldInsnNode) insn;
                        owner = f.owner;
                        k = key(f.owner, f.name, f.desc);
                    }
                    if (k != null && !owner.equals(c.name) && privateMembers.contains(k)) {
                        fail(c.name + "." + m.name + " still reaches private " + k);
                    }
                }
            }
        }
    }

    /** ASM's verifier over every written class, with the real hierarchy (OUT.jar + android.jar). */
    private static void verify(String outJar, String androidJar) throws IOException {
        URL[] path = {new java.io.File(outJar).toURI().toURL(), new java.io.File(androidJar).toURI().toURL()};
        try (URLClassLoader loader = new URLClassLoader(path, null); ZipFile out = new ZipFile(outJar)) {
            Enumeration<? extends ZipEntry> entries = out.entries();
            while (entries.hasMoreElements()) {
                ZipEntry e = entries.nextElement();
                if (!e.getName().endsWith(".class")) {
                    continue;
                }
                StringWriter report = new StringWriter();
                CheckClassAdapter.verify(new ClassReader(readAll(out.getInputStream(e))), loader, false,
                        new PrintWriter(report));
                if (report.toString().trim().length() > 0) {
                    fail("bytecode verification failed for " + e.getName() + ":\n" + report);
                }
            }
        }
    }

    private static byte[] readAll(InputStream in) throws IOException {
        ByteArrayOutputStream buf = new ByteArrayOutputStream();
        byte[] chunk = new byte[8192];
        int n;
        while ((n = in.read(chunk)) > 0) {
            buf.write(chunk, 0, n);
        }
        return buf.toByteArray();
    }
}
