package image

import (
	"bufio"
	"debug/elf"
	"errors"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strings"
	"testing"
)

// root is the repository root, seen from this package.
var root = filepath.Join("..", "..")

// dockerfile is what the test reads from the Dockerfile.
type dockerfile struct {
	buildLine  string // the RUN … go build … line of the full binary
	instLine   string // the RUN … go build -tags instanceonly … line of the instance binary
	finalFrom  string // base image of the last stage
	user       string
	entrypoint string
	stages     map[string]stage // named stages (FROM … AS name)
}

// stage is what the test reads of one named stage.
type stage struct {
	from, user, entrypoint, copyFrom string
}

func parseDockerfile(t *testing.T) dockerfile {
	t.Helper()
	f, err := os.Open(filepath.Join(root, "Dockerfile"))
	if err != nil {
		t.Fatal(err)
	}
	defer func() { _ = f.Close() }()
	d := dockerfile{stages: map[string]stage{}}
	name := ""
	sc := bufio.NewScanner(f)
	for sc.Scan() {
		line := strings.TrimSpace(sc.Text())
		switch {
		case strings.HasPrefix(line, "FROM "):
			fields := strings.Fields(line)
			d.finalFrom, d.user, d.entrypoint, name = fields[1], "", "", ""
			if len(fields) == 4 && strings.EqualFold(fields[2], "AS") {
				name = fields[3]
				d.stages[name] = stage{from: fields[1]}
			}
		case strings.HasPrefix(line, "RUN ") && strings.Contains(line, " go build -tags instanceonly "):
			d.instLine = strings.TrimPrefix(line, "RUN ")
		case strings.HasPrefix(line, "RUN ") && strings.Contains(line, " go build "):
			d.buildLine = strings.TrimPrefix(line, "RUN ")
		case strings.HasPrefix(line, "USER "):
			d.user = strings.TrimSpace(strings.TrimPrefix(line, "USER "))
		case strings.HasPrefix(line, "ENTRYPOINT "):
			d.entrypoint = strings.TrimSpace(strings.TrimPrefix(line, "ENTRYPOINT "))
		case strings.HasPrefix(line, "COPY --from=build "):
			if st, ok := d.stages[name]; ok {
				st.copyFrom = strings.Fields(line)[2]
				d.stages[name] = st
			}
		}
		if st, ok := d.stages[name]; ok {
			st.user, st.entrypoint = d.user, d.entrypoint
			d.stages[name] = st
		}
	}
	if err := sc.Err(); err != nil {
		t.Fatal(err)
	}
	return d
}

// TestDockerfileShape: distroless static (or scratch) final stage, a non-root user, the one
// binary as entrypoint, and a CGO_ENABLED=0 build.
func TestDockerfileShape(t *testing.T) {
	d := parseDockerfile(t)
	checkRuntimeStage(t, "final stage", stage{from: d.finalFrom, user: d.user, entrypoint: d.entrypoint})
	if !strings.HasPrefix(d.buildLine, "CGO_ENABLED=0 go build ") {
		t.Errorf("build line %q: want CGO_ENABLED=0 go build …", d.buildLine)
	}
}

// TestDockerfileInstanceStage: a stage `instance` like the final one (distroless static, nonroot,
// the binary by the same name and path, since the pod templates call `messenger-operator
// instance`) that copies the binary of the instanceonly build line.
func TestDockerfileInstanceStage(t *testing.T) {
	d := parseDockerfile(t)
	st, ok := d.stages["instance"]
	if !ok {
		t.Fatal("no stage `FROM … AS instance`")
	}
	checkRuntimeStage(t, "instance stage", st)
	m := regexp.MustCompile(` -o (\S+) \S+$`).FindStringSubmatch(d.instLine)
	if m == nil {
		t.Fatalf("instanceonly build line %q: want CGO_ENABLED=0 go build -tags instanceonly … -o OUT .", d.instLine)
	}
	if st.copyFrom != m[1] {
		t.Errorf("instance stage copies %q, the instanceonly build writes %q", st.copyFrom, m[1])
	}
	if d.finalFrom == "" || d.stages["instance"].from == "" || d.buildLine == d.instLine {
		t.Error("the default (last) stage must stay the full binary")
	}
}

// buildArgs turns the Dockerfile's build line into go build arguments writing to out.
func buildArgs(line, out string) ([]string, error) {
	re := regexp.MustCompile(`^CGO_ENABLED=0 go build (.*) -o \S+ (\S+)$`)
	m := re.FindStringSubmatch(line)
	if m == nil {
		return nil, fmt.Errorf("cannot read build line %q", line)
	}
	flags := strings.ReplaceAll(m[1], "${VERSION}", "image-test")
	args := []string{"build"}
	// Split on spaces outside double quotes, dropping the quotes (as the shell would).
	var cur strings.Builder
	quoted := false
	for _, c := range flags {
		switch {
		case c == '"':
			quoted = !quoted
		case c == ' ' && !quoted:
			if cur.Len() > 0 {
				args = append(args, cur.String())
				cur.Reset()
			}
		default:
			cur.WriteRune(c)
		}
	}
	if cur.Len() > 0 {
		args = append(args, cur.String())
	}
	return append(args, "-o", out, m[2]), nil
}

// TestStaticBinary runs the Dockerfile's build line, checks that the binary is static and runs,
// and reports its size (docs/benchmarks.md, "Image").
func TestStaticBinary(t *testing.T) {
	if testing.Short() {
		t.Skip("builds the whole binary")
	}
	testStatic(t, parseDockerfile(t).buildLine, "operator")
}

// TestStaticInstanceBinary does the same for the instance image's binary (-tags instanceonly),
// and checks that the operator is not in it.
func TestStaticInstanceBinary(t *testing.T) {
	if testing.Short() {
		t.Skip("builds the whole binary")
	}
	out := testStatic(t, parseDockerfile(t).instLine, "instance")
	if b, err := exec.Command(out, "operator", "--help").CombinedOutput(); err == nil {
		t.Errorf("the instance binary runs the operator command:\n%s", b)
	}
}

// testStatic runs a build line of the Dockerfile and checks its binary; it returns the binary.
func testStatic(t *testing.T, line, what string) string {
	t.Helper()
	out := filepath.Join(t.TempDir(), "messenger-operator")
	args, err := buildArgs(line, out)
	if err != nil {
		t.Fatal(err)
	}
	cmd := exec.Command("go", args...)
	cmd.Dir = root
	cmd.Env = append(os.Environ(), "CGO_ENABLED=0")
	if b, err := cmd.CombinedOutput(); err != nil {
		t.Fatalf("go %s: %v\n%s", strings.Join(args, " "), err, b)
	}
	if err := checkStatic(out); err != nil {
		t.Fatal(err)
	}
	v, err := exec.Command(out, "version").CombinedOutput()
	if err != nil || !strings.HasPrefix(string(v), "messenger-operator image-test ") {
		t.Fatalf("%s version: %v: %s", out, err, v)
	}
	st, err := os.Stat(out)
	if err != nil {
		t.Fatal(err)
	}
	t.Logf("%s static binary (= image payload on distroless static): %d bytes (%.1f MiB)", what, st.Size(), float64(st.Size())/(1<<20))
	return out
}

// checkStatic fails for an ELF file that needs a dynamic loader or shared libraries.
func checkStatic(path string) error {
	f, err := elf.Open(path)
	if err != nil {
		return fmt.Errorf("reading ELF %s: %w", path, err)
	}
	defer func() { _ = f.Close() }()
	for _, p := range f.Progs {
		if p.Type == elf.PT_INTERP {
			return errors.New(path + " has an ELF interpreter (dynamically linked)")
		}
		if p.Type == elf.PT_DYNAMIC {
			return errors.New(path + " has a dynamic section")
		}
	}
	if libs, err := f.ImportedLibraries(); err == nil && len(libs) > 0 {
		return fmt.Errorf("%s needs shared libraries %v", path, libs)
	}
	return nil
}

// TestCheckStaticRejectsDynamic: the check itself fails on a dynamically linked program.
func TestCheckStaticRejectsDynamic(t *testing.T) {
	for _, p := range []string{"/bin/sh", "/bin/ls", "/usr/bin/env"} {
		if f, err := elf.Open(p); err == nil {
			isDyn := false
			for _, prog := range f.Progs {
				isDyn = isDyn || prog.Type == elf.PT_INTERP
			}
			_ = f.Close()
			if !isDyn {
				continue
			}
			if checkStatic(p) == nil {
				t.Fatalf("%s is dynamically linked but passed the check", p)
			}
			return
		}
	}
	t.Skip("no dynamically linked program found on this machine")
}

// TestDockerignoreKeepsSources: no package or embedded file of the binary is excluded from the
// build context.
func TestDockerignoreKeepsSources(t *testing.T) {
	b, err := os.ReadFile(filepath.Join(root, ".dockerignore"))
	if err != nil {
		t.Fatal(err)
	}
	var dirs []string
	for _, l := range strings.Split(string(b), "\n") {
		l = strings.TrimSpace(l)
		if l != "" && !strings.HasPrefix(l, "#") && !strings.Contains(l, "*") {
			dirs = append(dirs, strings.TrimSuffix(l, "/"))
		}
	}
	cmd := exec.Command("go", "list", "-deps", "-f", "{{if .Module}}{{if .Module.Main}}{{.Dir}}{{range .EmbedFiles}} {{$.Dir}}/{{.}}{{end}}{{end}}{{end}}", ".")
	cmd.Dir = root
	outb, err := cmd.Output()
	if err != nil {
		t.Fatalf("go list: %v", err)
	}
	abs, _ := filepath.Abs(root)
	for _, p := range strings.Fields(string(outb)) {
		rel, _ := filepath.Rel(abs, p)
		for _, d := range dirs {
			if rel == d || strings.HasPrefix(rel, d+"/") {
				t.Errorf("%s is needed by the build but .dockerignore excludes %s", rel, d)
			}
		}
		if strings.Contains(rel, "testdata") {
			t.Errorf("%s is needed by the build but .dockerignore excludes testdata", rel)
		}
	}
}

// checkRuntimeStage: distroless static (or scratch), the nonroot user 65532 and the binary by
// name as entrypoint (the operator's pod templates call `messenger-operator …`).
func checkRuntimeStage(t *testing.T, what string, st stage) {
	t.Helper()
	if !strings.HasPrefix(st.from, "gcr.io/distroless/static") && st.from != "scratch" {
		t.Errorf("%s FROM %s: want distroless static or scratch", what, st.from)
	}
	if st.user != "65532:65532" && st.user != "nonroot" && st.user != "nonroot:nonroot" {
		t.Errorf("%s USER %q: want the nonroot user 65532", what, st.user)
	}
	if st.entrypoint != `["messenger-operator"]` {
		t.Errorf("%s ENTRYPOINT %s: want [\"messenger-operator\"]", what, st.entrypoint)
	}
}
