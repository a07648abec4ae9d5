package template

import (
	"bytes"
	"debug/buildinfo"
	"debug/elf"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strings"
	"testing"
)

// TestBuildFunctions runs, for every function of the template, the Makefile target that
// `sam build` runs, and checks that what comes out is what provided.al2023 on arm64 executes: a
// static linux/arm64 ELF named bootstrap, built with the flags the design asks for.
func TestBuildFunctions(t *testing.T) {
	t.Parallel()
	if _, err := exec.LookPath("make"); err != nil {
		t.Fatal("make is not on PATH: the functions are built by the Makefile")
	}
	for _, id := range loadTemplate(t).OfType("AWS::Serverless::Function") {
		t.Run(id, func(t *testing.T) {
			t.Parallel()
			dir := t.TempDir()
			runMake(t, "build-"+id, "ARTIFACTS_DIR="+dir)
			bootstrap := filepath.Join(dir, "bootstrap")
			checkLambdaELF(t, bootstrap)
			checkBuildSettings(t, bootstrap)
		})
	}
}

func runMake(t *testing.T, args ...string) {
	t.Helper()
	cmd := exec.CommandContext(t.Context(), "make", append([]string{"--no-print-directory"}, args...)...)
	// A shell that exports another GOARCH must still get arm64 bootstraps: the targets pin it.
	cmd.Env = append(withoutEnv(os.Environ(), "GOARCH", "ARTIFACTS_DIR", "MAKEFLAGS"), "GOARCH=amd64")
	if out, err := cmd.CombinedOutput(); err != nil {
		t.Fatalf("make %s: %v\n%s", strings.Join(args, " "), err, out)
	}
}

func withoutEnv(env []string, names ...string) []string {
	return slices.DeleteFunc(slices.Clone(env), func(kv string) bool {
		name, _, _ := strings.Cut(kv, "=")
		return slices.Contains(names, name)
	})
}

func checkLambdaELF(t *testing.T, path string) {
	t.Helper()
	f, err := elf.Open(path)
	if err != nil {
		t.Fatalf("%s is not an ELF executable: %v", path, err)
	}
	defer f.Close()
	if f.Machine != elf.EM_AARCH64 || f.Class != elf.ELFCLASS64 {
		t.Errorf("bootstrap is for %v/%v, want EM_AARCH64/ELFCLASS64", f.Machine, f.Class)
	}
	if f.Type != elf.ET_EXEC {
		t.Errorf("bootstrap ELF type = %v, want ET_EXEC (a static executable)", f.Type)
	}
	for _, prog := range f.Progs {
		if prog.Type == elf.PT_INTERP || prog.Type == elf.PT_DYNAMIC {
			t.Errorf("bootstrap has a %v program header: it is dynamically linked (cgo?) and may not start on provided.al2023", prog.Type)
		}
	}
	// -s -w: no symbol table and no DWARF, a smaller package to upload and to cold-start.
	for _, name := range []string{".symtab", ".debug_info", ".zdebug_info"} {
		if f.Section(name) != nil {
			t.Errorf("bootstrap has a %s section: not built with -ldflags='-s -w'", name)
		}
	}
}

func checkBuildSettings(t *testing.T, path string) {
	t.Helper()
	info, err := buildinfo.ReadFile(path)
	if err != nil {
		t.Fatalf("read build info of %s: %v", path, err)
	}
	got := map[string]string{}
	for _, s := range info.Settings {
		got[s.Key] = s.Value
	}
	want := map[string]string{
		"GOOS":        "linux",
		"GOARCH":      "arm64",
		"CGO_ENABLED": "0",
		"-tags":       "lambda.norpc",
		"-trimpath":   "true",
		// -ldflags is not recorded under -trimpath; checkLambdaELF sees what -s -w did.
	}
	for k, v := range want {
		if got[k] != v {
			t.Errorf("bootstrap built with %s=%q, want %q", k, got[k], v)
		}
	}
	// The revision would make every commit change (and redeploy) every function.
	if rev, ok := got["vcs.revision"]; ok {
		t.Errorf("bootstrap carries vcs.revision %s, want it built with -buildvcs=false", rev)
	}
}

// TestBuildContractsLayer checks that the layer carries exactly the schemas of layers/contracts,
// under contracts/ (so /opt/contracts in Lambda, the transformer's default CONTRACTS_DIR).
func TestBuildContractsLayer(t *testing.T) {
	t.Parallel()
	dir := t.TempDir()
	runMake(t, "build-ContractsLayer", "ARTIFACTS_DIR="+dir)

	want, err := filepath.Glob(filepath.Join("layers", "contracts", "*.schema.json"))
	if err != nil || len(want) == 0 {
		t.Fatalf("no schemas in layers/contracts (%v)", err)
	}
	got, err := filepath.Glob(filepath.Join(dir, "contracts", "*"))
	if err != nil {
		t.Fatal(err)
	}
	if len(got) != len(want) {
		t.Errorf("layer has %d files under contracts/, want the %d schemas of layers/contracts: %q", len(got), len(want), got)
	}
	for _, src := range want {
		built, err := os.ReadFile(filepath.Join(dir, "contracts", filepath.Base(src)))
		if err != nil {
			t.Errorf("layer lacks %s: %v", filepath.Base(src), err)
			continue
		}
		orig, err := os.ReadFile(src)
		if err != nil {
			t.Fatal(err)
		}
		if !bytes.Equal(built, orig) {
			t.Errorf("layer's %s differs from %s", filepath.Base(src), src)
		}
	}
}

// TestBuildWithoutArtifactsDir: run by hand without ARTIFACTS_DIR, a build target must stop with
// a message that says what to do, not write bootstrap into the repository or the filesystem root.
func TestBuildWithoutArtifactsDir(t *testing.T) {
	t.Parallel()
	for _, target := range []string{"build-TransformerFunction", "build-ContractsLayer"} {
		t.Run(target, func(t *testing.T) {
			t.Parallel()
			cmd := exec.CommandContext(t.Context(), "make", "--no-print-directory", target)
			cmd.Env = withoutEnv(os.Environ(), "ARTIFACTS_DIR", "MAKEFLAGS")
			out, err := cmd.CombinedOutput()
			if err == nil {
				t.Fatalf("make %s without ARTIFACTS_DIR succeeded:\n%s", target, out)
			}
			if !bytes.Contains(out, []byte("ARTIFACTS_DIR is not set")) {
				t.Errorf("make %s without ARTIFACTS_DIR said %q, want it to name ARTIFACTS_DIR", target, out)
			}
		})
	}
}
