// Package docblock reads and writes the generated part of a committed document: the text between
// two marker lines, which a test compares with what its run produced and a tool's -update (or
// the bench) writes again.
package docblock

import (
	"fmt"
	"os"
	"strings"
)

// Block is the text of a document between the marker Begin and the marker End; each marker
// includes its line end where the text starts or ends on a line of its own.
type Block struct{ Begin, End string }

// In is the block's text in doc; the error names the markers when doc lacks them.
func (b Block) In(doc string) (string, error) {
	start, end, err := b.span(doc)
	if err != nil {
		return "", err
	}
	return doc[start:end], nil
}

// Replace is doc with text as the block's text.
func (b Block) Replace(doc, text string) (string, error) {
	start, end, err := b.span(doc)
	if err != nil {
		return "", err
	}
	return doc[:start] + text + doc[end:], nil
}

// Write puts text as the block's text into the file at path, leaving the rest as it is.
func (b Block) Write(path, text string) error {
	doc, err := os.ReadFile(path) // #nosec G304 -- a committed document that the caller names
	if err != nil {
		return err
	}
	out, err := b.Replace(string(doc), text)
	if err != nil {
		return fmt.Errorf("%s: %w", path, err)
	}
	return os.WriteFile(path, []byte(out), 0o644) // #nosec G306 G703 -- a committed document that the caller names
}

// span is where the block's text starts and ends in doc: after the first Begin, and at the first
// End after it.
func (b Block) span(doc string) (start, end int, err error) {
	i := strings.Index(doc, b.Begin)
	if i < 0 {
		return 0, 0, fmt.Errorf("no line %q", b.Begin)
	}
	start = i + len(b.Begin)
	j := strings.Index(doc[start:], b.End)
	if j < 0 {
		return 0, 0, fmt.Errorf("no line %q after %q", b.End, b.Begin)
	}
	return start, start + j, nil
}
