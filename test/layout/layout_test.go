// Package layout holds the repository to its folders: what the functions import (and so what
// ships to Lambda) lives under internal/, and none of it reaches the local stand-in, the bench
// or the proofs.
package layout

import (
	"encoding/json"
	"errors"
	"io"
	"os"
	"os/exec"
	"strings"
	"testing"
)

const module = "github.com/stream-to-events/stream-to-events/"

type pkg struct {
	ImportPath string
	Imports    []string
	Standard   bool
}

// TestFunctionsImportOnlyInternal: every package of this module that a function links lives in
// functions/ or internal/, and imports nothing from local/, bench/, test/ or cmd/.
func TestFunctionsImportOnlyInternal(t *testing.T) {
	deps := list(t, "-deps", "../../functions/...")
	if len(deps) == 0 {
		t.Fatal("go list found no packages under functions/")
	}
	var functions int
	for _, p := range deps {
		rel, ok := strings.CutPrefix(p.ImportPath, module)
		if !ok {
			continue
		}
		if strings.HasPrefix(rel, "functions/") {
			functions++
		}
		if !strings.HasPrefix(rel, "functions/") && !strings.HasPrefix(rel, "internal/") {
			t.Errorf("%s is linked into a function but lives outside functions/ and internal/", rel)
		}
		for _, imp := range p.Imports {
			r, ok := strings.CutPrefix(imp, module)
			if !ok {
				continue
			}
			for _, banned := range []string{"local/", "bench/", "test/", "cmd/"} {
				if strings.HasPrefix(r, banned) {
					t.Errorf("%s imports %s: what ships to Lambda must not depend on %s", rel, r, banned)
				}
			}
		}
	}
	if functions < 6 {
		t.Errorf("found %d function packages, want the template's 6", functions)
	}
}

// TestInternalIsOnlyWhatFunctionsImport: internal/ holds nothing a function does not link, so a
// reader can take the folder as what runs in Lambda.
func TestInternalIsOnlyWhatFunctionsImport(t *testing.T) {
	linked := map[string]bool{}
	for _, p := range list(t, "-deps", "../../functions/...") {
		linked[p.ImportPath] = true
	}
	for _, p := range list(t, "../../internal/...") {
		if !linked[p.ImportPath] {
			t.Errorf("%s is under internal/ but no function imports it: move it to where it is used", strings.TrimPrefix(p.ImportPath, module))
		}
	}
}

func list(t *testing.T, args ...string) []pkg {
	t.Helper()
	cmd := exec.CommandContext(t.Context(), "go", append([]string{"list", "-json"}, args...)...)
	out, err := cmd.Output()
	if err != nil {
		var ee *exec.ExitError
		if errors.As(err, &ee) {
			t.Fatalf("go list %v: %v\n%s", args, err, ee.Stderr)
		}
		t.Fatalf("go list %v: %v", args, err)
	}
	var pkgs []pkg
	dec := json.NewDecoder(strings.NewReader(string(out)))
	for {
		var p pkg
		if err := dec.Decode(&p); errors.Is(err, io.EOF) {
			break
		} else if err != nil {
			t.Fatal(err)
		}
		if !p.Standard {
			pkgs = append(pkgs, p)
		}
	}
	return pkgs
}

// TestREADMENamesEveryFolder: the README's "Where things are" names every folder of the local
// stand-in, the commands, the bench and the proofs, so that a new folder is placed there too;
// and no section of the README stands in it twice.
// (internal/ is held by the import rules above instead.)
func TestREADMENamesEveryFolder(t *testing.T) {
	raw, err := os.ReadFile("../../README.md")
	if err != nil {
		t.Fatal(err)
	}
	headings := map[string]bool{}
	for line := range strings.Lines(string(raw)) {
		if strings.HasPrefix(line, "#") {
			if headings[line] {
				t.Errorf("README.md has the heading %q twice", strings.TrimSpace(line))
			}
			headings[line] = true
		}
	}
	_, section, ok := strings.Cut(string(raw), "\n## Where things are\n")
	if !ok {
		t.Fatal(`README.md has no "## Where things are" section`)
	}
	section, _, _ = strings.Cut(section, "\n## ")
	// A row of the section's table names folders in its first column ("cmd/bench  bench/") and
	// their subfolders in its text and the indented lines under it ("local/  … runner, edge"):
	// named holds each as a path.
	named := map[string]bool{}
	var folders []string // the first column of the row being read
	for line := range strings.Lines(section) {
		text := line
		if line != "" && line[0] != ' ' {
			first, rest, _ := strings.Cut(line, "   ")
			folders = strings.Fields(first)
			for i, f := range folders {
				folders[i] = strings.TrimSuffix(f, "/")
				named[folders[i]] = true
			}
			text = rest
		}
		for _, w := range strings.FieldsFunc(text, func(r rune) bool {
			return r == ' ' || r == '\n' || r == ',' || r == '(' || r == ')' || r == '`' || r == ':'
		}) {
			for _, f := range folders {
				named[f+"/"+strings.TrimSuffix(w, "/")] = true
			}
		}
	}
	for _, parent := range []string{"local", "test", "cmd", "cmd/internal", "bench"} {
		entries, err := os.ReadDir("../../" + parent)
		if err != nil {
			t.Fatal(err)
		}
		for _, e := range entries {
			if !e.IsDir() || e.Name() == "testdata" || e.Name() == "internal" {
				continue
			}
			if path := parent + "/" + e.Name(); !named[path] {
				t.Errorf("README.md's \"Where things are\" does not name %s/", path)
			}
		}
	}
}
