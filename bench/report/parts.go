package report

import (
	"cmp"
	"fmt"
	"slices"
	"strings"
)

// Part is what one module adds to a bootstrap: the bytes of its code and data, read from the
// symbols of the same build with its symbol table kept, and which of the project's packages bring
// it in.
type Part struct {
	Module string // a module path, StdModule or Unattributed
	Bytes  int64
	// Alone is what the bootstrap holds only because of the module: its own bytes and those of
	// the standard library packages and modules that nothing else imports, what dropping it
	// would save. Zero for the project, std and Unattributed.
	Alone int64 `json:",omitempty"`
	// Via names the project's packages that import the module ("internal/trace"), followed by the
	// modules it comes through when no project package imports it itself
	// ("internal/trace → github.com/aws/aws-xray-sdk-go"). Empty for the project, std and
	// Unattributed.
	Via []string
}

// Parts that are not a module.
const (
	StdModule    = "std"
	Unattributed = "unattributed"
)

// partsFloor is the size under which a module gets no row of its own in any function.
const partsFloor = 100 << 10

// ways lists the first ways in, the most direct first: a module that many packages reach (the
// SDK's smithy-go, say) would otherwise fill the table.
func ways(vs []string) string {
	const shown = 3
	vs = slices.Clone(vs)
	slices.SortFunc(vs, func(a, b string) int {
		return cmp.Or(cmp.Compare(strings.Count(a, "→"), strings.Count(b, "→")), strings.Compare(a, b))
	})
	if len(vs) > shown {
		return fmt.Sprintf("%s and %d more", strings.Join(vs[:shown], ", "), len(vs)-shown)
	}
	return strings.Join(vs, ", ")
}

// writeParts renders the modules of every bootstrap as one table, a column per function, the
// largest first, so that a reader sees which dependency weighs most and which package to change
// to drop it.
func (r Report) writeParts(p func(string, ...any)) {
	var withParts []Bootstrap
	for _, b := range r.Bootstraps {
		if len(b.Parts) > 0 {
			withParts = append(withParts, b)
		}
	}
	if len(withParts) == 0 {
		return
	}
	largest := map[string]int64{}
	via := map[string][]string{}
	for _, b := range withParts {
		for _, pt := range b.Parts {
			largest[pt.Module] = max(largest[pt.Module], pt.Bytes, pt.Alone)
			for _, v := range pt.Via {
				if !slices.Contains(via[pt.Module], v) {
					via[pt.Module] = append(via[pt.Module], v)
				}
			}
		}
	}
	var rows []string
	for m, n := range largest {
		if n >= partsFloor || m == StdModule || m == Unattributed {
			rows = append(rows, m)
		}
	}
	slices.SortFunc(rows, func(a, b string) int {
		return cmp.Or(cmp.Compare(largest[b], largest[a]), strings.Compare(a, b))
	})

	p("\n### What the bootstraps hold\n\n")
	p("Each bootstrap built again as deployed but with its symbol table, its symbols' code and data summed by module, in MB; in brackets, with the standard library packages and modules that only it brings in: what dropping it would save. \"brought in by\" names the project's packages that import a module (→ the modules it comes through). The function tables and type data of a stripped bootstrap grow with its code; %s is what no symbol names (strings, unnamed types, linker tables), and modules under %.1f MB in every function are summed as \"other modules\".\n\n", Unattributed, mb(partsFloor))
	p("| module | brought in by |")
	for _, b := range withParts {
		p(" %s |", strings.TrimSuffix(b.Function, "Function"))
	}
	p("\n|---|---|%s\n", strings.Repeat("---:|", len(withParts)))
	cell := func(n int64) string {
		if n == 0 {
			return "–"
		}
		return fmt.Sprintf("%.2f", mb(n))
	}
	partCell := func(pt Part) string {
		if pt.Alone-pt.Bytes >= 10<<10 {
			return fmt.Sprintf("%s (%s)", cell(pt.Bytes), cell(pt.Alone))
		}
		return cell(pt.Bytes)
	}
	for _, m := range rows {
		p("| %s | %s |", m, ways(via[m]))
		for _, b := range withParts {
			var pt Part
			for _, bp := range b.Parts {
				if bp.Module == m {
					pt = bp
				}
			}
			p(" %s |", partCell(pt))
		}
		p("\n")
	}
	p("| other modules | |")
	for _, b := range withParts {
		var n int64
		for _, pt := range b.Parts {
			if !slices.Contains(rows, pt.Module) {
				n += pt.Bytes
			}
		}
		p(" %s |", cell(n))
	}
	p("\n| **bootstrap as deployed** | |")
	for _, b := range withParts {
		p(" **%.2f** |", mb(b.RawBytes))
	}
	p("\n")
}
