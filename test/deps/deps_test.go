// Package deps fails the build when go.mod selects a module version that is known to be
// vulnerable, from the list in .ci/vulnerable.txt (govulncheck's database is out of reach here).
package deps

import (
	"bufio"
	"bytes"
	"fmt"
	"os"
	"os/exec"
	"strconv"
	"strings"
	"testing"
)

const listPath = "../../.ci/vulnerable.txt"

// advisory is one line of the list: versions of Module below FixedIn are vulnerable to ID.
type advisory struct {
	Module, FixedIn, ID string
}

func TestNoVulnerableModule(t *testing.T) {
	advisories := readAdvisories(t)
	cmd := exec.CommandContext(t.Context(), "go", "list", "-m", "all")
	cmd.Dir = "../.."
	var stderr bytes.Buffer
	cmd.Stderr = &stderr
	out, err := cmd.Output()
	if err != nil {
		t.Fatalf("go list -m all: %v\n%s", err, stderr.Bytes())
	}
	selected := parseModules(string(out))
	for _, a := range advisories {
		if _, ok := selected[a.Module]; !ok {
			t.Logf("%s (%s) is not in the build", a.Module, a.ID)
		}
	}
	for _, p := range vulnerable(selected, advisories) {
		t.Error(p)
	}
}

// TestCheckCatchesOldVersions feeds the check the versions the X-Ray SDK used to bring in.
func TestCheckCatchesOldVersions(t *testing.T) {
	advisories := readAdvisories(t)
	old := parseModules("github.com/stream-to-events/stream-to-events\n" +
		"google.golang.org/grpc v1.64.1\n" +
		"golang.org/x/net v0.26.0 => golang.org/x/net v0.37.0\n" +
		"golang.org/x/text v0.16.0\n")
	got := vulnerable(old, advisories)
	for _, want := range []string{"google.golang.org/grpc v1.64.1 is below v1.79.3 (CVE-2026-33186)", "golang.org/x/net v0.37.0 is below v0.38.0 (CVE-2025-22872)"} {
		if !strings.Contains(strings.Join(got, "\n"), want) {
			t.Errorf("problems %q lack %q", got, want)
		}
	}
	if len(got) != 4 {
		t.Errorf("got %d problems, want 4 (one grpc, three x/net): %q", len(got), got)
	}
	fixed := parseModules("google.golang.org/grpc v1.79.3\ngolang.org/x/net v0.38.0\n")
	if got := vulnerable(fixed, advisories); len(got) != 0 {
		t.Errorf("fixed versions reported: %q", got)
	}
}

func TestCompareVersions(t *testing.T) {
	for _, tt := range []struct {
		a, b string
		want int
	}{
		{"v1.64.1", "v1.79.3", -1},
		{"v1.85.0", "v1.79.3", 1},
		{"v0.38.0", "v0.38.0", 0},
		{"v0.38.0-rc.1", "v0.38.0", -1},
		{"v0.0.0-20260817212433-ac3dfec99bb1", "v0.1.0", -1},
		{"v1.10.0", "v1.9.9", 1},
		{"v2.0.0+incompatible", "v1.99.0", 1},
	} {
		if got, err := compareVersions(tt.a, tt.b); err != nil || got != tt.want {
			t.Errorf("compareVersions(%s, %s) = %d, %v; want %d", tt.a, tt.b, got, err, tt.want)
		}
	}
	if _, err := compareVersions("1.2", "v1.2.0"); err == nil {
		t.Error("compareVersions accepted a version without v and patch")
	}
}

// vulnerable returns a problem for each advisory whose module is selected below its fix.
func vulnerable(selected map[string]string, advisories []advisory) []string {
	var out []string
	for _, a := range advisories {
		v, ok := selected[a.Module]
		if !ok {
			continue
		}
		c, err := compareVersions(v, a.FixedIn)
		if err != nil {
			out = append(out, fmt.Sprintf("%s %s: %v", a.Module, v, err))
			continue
		}
		if c < 0 {
			out = append(out, fmt.Sprintf("%s %s is below %s (%s): go get %s@%s or newer, then go mod tidy", a.Module, v, a.FixedIn, a.ID, a.Module, a.FixedIn))
		}
	}
	return out
}

// parseModules reads `go list -m all`: "path version", or "path version => replacement
// version" where the replacement is what is built. The main module has no version.
func parseModules(out string) map[string]string {
	mods := map[string]string{}
	for line := range strings.Lines(out) {
		f := strings.Fields(line)
		switch {
		case len(f) >= 5 && f[2] == "=>":
			mods[f[0]] = f[4]
		case len(f) >= 2:
			mods[f[0]] = f[1]
		}
	}
	return mods
}

func readAdvisories(t *testing.T) []advisory {
	t.Helper()
	f, err := os.Open(listPath)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	var out []advisory
	sc := bufio.NewScanner(f)
	for n := 1; sc.Scan(); n++ {
		line := strings.TrimSpace(sc.Text())
		if line == "" || strings.HasPrefix(line, "#") {
			continue
		}
		fields := strings.Fields(line)
		if len(fields) != 3 {
			t.Fatalf("%s:%d: want module, fixed-in version, advisory; got %q", listPath, n, line)
		}
		if _, err := compareVersions(fields[1], fields[1]); err != nil {
			t.Fatalf("%s:%d: %v", listPath, n, err)
		}
		out = append(out, advisory{fields[0], fields[1], fields[2]})
	}
	if err := sc.Err(); err != nil {
		t.Fatal(err)
	}
	if len(out) == 0 {
		t.Fatalf("%s lists no advisory", listPath)
	}
	return out
}

// compareVersions orders two module versions as semantic versions (vMAJOR.MINOR.PATCH, a
// pre-release such as a pseudo-version before its release; build metadata ignored).
func compareVersions(a, b string) (int, error) {
	pa, err := parseVersion(a)
	if err != nil {
		return 0, err
	}
	pb, err := parseVersion(b)
	if err != nil {
		return 0, err
	}
	for i := range 3 {
		if pa.nums[i] != pb.nums[i] {
			if pa.nums[i] < pb.nums[i] {
				return -1, nil
			}
			return 1, nil
		}
	}
	switch {
	case pa.pre == pb.pre:
		return 0, nil
	case pa.pre == "":
		return 1, nil
	case pb.pre == "":
		return -1, nil
	}
	return comparePrerelease(pa.pre, pb.pre), nil
}

type version struct {
	nums [3]int
	pre  string
}

func parseVersion(s string) (version, error) {
	var v version
	rest, ok := strings.CutPrefix(s, "v")
	if !ok {
		return v, fmt.Errorf("version %q does not start with v", s)
	}
	rest, _, _ = strings.Cut(rest, "+")
	rest, v.pre, _ = strings.Cut(rest, "-")
	parts := strings.Split(rest, ".")
	if len(parts) != 3 {
		return v, fmt.Errorf("version %q is not vMAJOR.MINOR.PATCH", s)
	}
	for i, p := range parts {
		n, err := strconv.Atoi(p)
		if err != nil || n < 0 {
			return v, fmt.Errorf("version %q: %q is not a number", s, p)
		}
		v.nums[i] = n
	}
	return v, nil
}

// comparePrerelease orders dot-separated pre-release identifiers as semver does: numbers
// numerically and before words, words by their bytes, a shorter list first when all else ties.
func comparePrerelease(a, b string) int {
	as, bs := strings.Split(a, "."), strings.Split(b, ".")
	for i := 0; i < len(as) && i < len(bs); i++ {
		na, errA := strconv.Atoi(as[i])
		nb, errB := strconv.Atoi(bs[i])
		switch {
		case errA == nil && errB == nil && na != nb:
			if na < nb {
				return -1
			}
			return 1
		case errA == nil && errB != nil:
			return -1
		case errA != nil && errB == nil:
			return 1
		case as[i] != bs[i]:
			return strings.Compare(as[i], bs[i])
		}
	}
	return len(as) - len(bs)
}
