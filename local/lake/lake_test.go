package lake

import (
	"bufio"
	"bytes"
	"slices"
	"strings"
	"testing"
)

// Lines splits as bufio.ScanLines does, long lines included.
func TestLinesSplitsAsScanLines(t *testing.T) {
	for _, body := range []string{"", "a", "a\n", "a\nb", "a\r\nb\n", "\n\nx\n", strings.Repeat("y", 100_000) + "\nz\n"} {
		var want []string
		sc := bufio.NewScanner(strings.NewReader(body))
		sc.Buffer(nil, 1<<20)
		for sc.Scan() {
			want = append(want, sc.Text())
		}
		var got []string
		for _, l := range Lines([]byte(body)) {
			got = append(got, string(l))
		}
		if !slices.Equal(got, want) {
			t.Errorf("Lines(%.20q) = %.60q, want %.60q", body, got, want)
		}
	}
	if body := []byte("a\nb\n"); &Lines(body)[1][0] != &body[2] || !bytes.Equal(Lines(body)[1], []byte("b")) {
		t.Error("a line is not a part of the body")
	}
}
