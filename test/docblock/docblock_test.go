package docblock

import (
	"os"
	"path/filepath"
	"strings"
	"testing"
)

func TestBlock(t *testing.T) {
	b := Block{Begin: "<!-- begin -->\n", End: "<!-- end -->\n"}
	doc := "# Title\n<!-- end -->\n<!-- begin -->\nold\n<!-- end -->\ntail\n"

	if got, err := b.In(doc); err != nil || got != "old\n" {
		t.Errorf("In = %q, %v; want the text after Begin up to the End that follows it", got, err)
	}
	path := filepath.Join(t.TempDir(), "README.md")
	if err := os.WriteFile(path, []byte(doc), 0o600); err != nil {
		t.Fatal(err)
	}
	if err := b.Write(path, "new\nlines\n"); err != nil {
		t.Fatal(err)
	}
	got, err := os.ReadFile(path)
	if want := "# Title\n<!-- end -->\n<!-- begin -->\nnew\nlines\n<!-- end -->\ntail\n"; err != nil || string(got) != want {
		t.Errorf("after Write:\n%s\nwant\n%s", got, want)
	}

	for _, bad := range []string{"no markers\n", "<!-- begin -->\nno end\n", "<!-- end -->\n<!-- begin -->\n"} {
		if _, err := b.In(bad); err == nil || !strings.Contains(err.Error(), "<!--") {
			t.Errorf("In(%q) = %v; want an error that names the missing marker", bad, err)
		}
		if _, err := b.Replace(bad, "x"); err == nil {
			t.Errorf("Replace(%q) took text without its markers", bad)
		}
	}
}
