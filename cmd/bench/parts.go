package main

import (
	"cmp"
	"context"
	"debug/buildinfo"
	"debug/elf"
	"fmt"
	"os"
	"path/filepath"
	"slices"
	"strings"

	"github.com/stream-to-events/stream-to-events/bench/report"
)

// parts says what a bootstrap is made of: it builds bootstrap's main package again with the
// settings the binary records (`go version -m`), less the -s and -w that strip its symbol table,
// sums the symbols' code and data by module, and finds through the import graph which of the
// project's packages bring each module in.
func parts(ctx context.Context, root, bootstrap string) ([]report.Part, error) {
	info, err := buildinfo.ReadFile(bootstrap)
	if err != nil {
		return nil, fmt.Errorf("build settings of %s: %w", bootstrap, err)
	}
	var flags, env []string
	for _, s := range info.Settings {
		switch {
		case s.Key == "-tags":
			flags = append(flags, "-tags="+s.Value)
		case s.Key == "-trimpath" && s.Value == "true":
			flags = append(flags, "-trimpath")
		case s.Key == "-ldflags":
			kept := slices.DeleteFunc(strings.Fields(s.Value), func(f string) bool { return f == "-s" || f == "-w" })
			if len(kept) > 0 {
				flags = append(flags, "-ldflags="+strings.Join(kept, " "))
			}
		case s.Key == "CGO_ENABLED" || s.Key == "GOOS" || s.Key == "GOARCH" || s.Key == "GOARM64" || s.Key == "GOAMD64":
			env = append(env, s.Key+"="+s.Value)
		}
	}
	twin := filepath.Join(filepath.Dir(bootstrap), "bootstrap-with-symbols")
	defer os.Remove(twin)
	build := append([]string{"build", "-buildvcs=false", "-o", twin}, flags...)
	if _, err := goCommand(ctx, root, env, append(build, info.Path)...); err != nil {
		return nil, err
	}
	// The packages the binary holds, by module, and what each imports: the same settings give
	// the same files.
	listed, err := goCommand(ctx, root, env, append(append([]string{"list", "-deps"}, flags...),
		"-f", "{{.ImportPath}}\t{{with .Module}}{{.Path}}{{end}}\t{{join .Imports \" \"}}", info.Path)...)
	if err != nil {
		return nil, err
	}
	g := importGraph(listed, info.Main.Path)
	byPkg, err := symbolBytes(twin, g.module)
	if err != nil {
		return nil, err
	}
	sizes := map[string]int64{}
	for pkg, n := range byPkg {
		m, ok := g.module[pkg]
		if !ok {
			m = report.Unattributed
		}
		sizes[m] += n
	}
	via, alone := g.via(), g.alone(info.Path, byPkg)
	out := make([]report.Part, 0, len(sizes))
	for m, n := range sizes {
		out = append(out, report.Part{Module: m, Bytes: n, Alone: alone[m], Via: via[m]})
	}
	slices.SortFunc(out, func(a, b report.Part) int {
		return cmp.Or(cmp.Compare(b.Bytes, a.Bytes), strings.Compare(a.Module, b.Module))
	})
	return out, nil
}

// graph is a binary's packages: the module of each ("" for the standard library) and their
// imports.
type graph struct {
	main    string              // the project's module
	module  map[string]string   // import path → module path, report.StdModule for the standard library
	imports map[string][]string // import path → import paths
}

func importGraph(listed []byte, mainModule string) graph {
	g := graph{main: mainModule, module: map[string]string{}, imports: map[string][]string{}}
	for line := range strings.SplitSeq(strings.TrimSpace(string(listed)), "\n") {
		fields := strings.Split(line, "\t")
		if len(fields) != 3 {
			continue
		}
		mod := fields[1]
		if mod == "" {
			mod = report.StdModule
		}
		g.module[fields[0]] = mod
		g.imports[fields[0]] = strings.Fields(fields[2])
	}
	return g
}

// via names, for every module but the project's and std, the shortest ways in: the project's
// packages that import it, or else those that import a module that does, with the modules
// between.
func (g graph) via() map[string][]string {
	// Module-level edges, and the project's packages that import each module themselves.
	next := map[string]map[string]bool{}
	ways := map[string][]string{}
	for pkg, imps := range g.imports {
		from := g.module[pkg]
		for _, imp := range imps {
			to := g.module[imp]
			switch {
			case to == from || to == g.main || to == report.StdModule || to == "":
			case from == g.main:
				if w := strings.TrimPrefix(pkg, g.main+"/"); !slices.Contains(ways[to], w) {
					ways[to] = append(ways[to], w)
				}
			case from != report.StdModule:
				if next[from] == nil {
					next[from] = map[string]bool{}
				}
				next[from][to] = true
			}
		}
	}
	// Breadth first from the modules the project imports, so each module keeps its shortest
	// chains only.
	frontier := make([]string, 0, len(ways))
	for m := range ways {
		frontier = append(frontier, m)
	}
	for len(frontier) > 0 {
		slices.Sort(frontier)
		found := map[string][]string{}
		for _, from := range frontier {
			for to := range next[from] {
				if _, done := ways[to]; done {
					continue
				}
				for _, w := range ways[from] {
					if c := w + " → " + from; !slices.Contains(found[to], c) {
						found[to] = append(found[to], c)
					}
				}
			}
		}
		frontier = frontier[:0]
		for m, ws := range found {
			slices.Sort(ws)
			ways[m] = ws
			frontier = append(frontier, m)
		}
	}
	for _, ws := range ways {
		slices.Sort(ws)
	}
	return ways
}

// alone is, for every module but the project's and std, the bytes the binary holds only because
// of it: its own and those of every package that no import path from root reaches without
// passing through it (the standard library packages and modules it alone brings in). A module
// dominates those packages in the import graph, each module taken as one node.
func (g graph) alone(root string, byPkg map[string]int64) map[string]int64 {
	modules := map[string]bool{}
	node := func(pkg string) string {
		if m := g.module[pkg]; m != g.main && m != report.StdModule {
			modules[m] = true
			return m
		}
		return pkg
	}
	succ := map[string][]string{}
	for pkg, imps := range g.imports {
		from := node(pkg)
		for _, imp := range imps {
			if to := node(imp); to != from && !slices.Contains(succ[from], to) {
				succ[from] = append(succ[from], to)
			}
		}
	}
	for _, ns := range succ {
		slices.Sort(ns) // the same graph, the same order, the same answer
	}
	// Cooper, Harvey and Kennedy's iterative dominators, over a reverse postorder from root.
	var order []string
	index := map[string]int{}
	seen := map[string]bool{}
	var visit func(n string)
	visit = func(n string) {
		seen[n] = true
		for _, s := range succ[n] {
			if !seen[s] {
				visit(s)
			}
		}
		order = append(order, n)
	}
	visit(node(root))
	slices.Reverse(order)
	pred := map[string][]string{}
	for i, n := range order {
		index[n] = i
		for _, s := range succ[n] {
			pred[s] = append(pred[s], n)
		}
	}
	idom := map[string]string{order[0]: order[0]}
	intersect := func(a, b string) string {
		for a != b {
			for index[a] > index[b] {
				a = idom[a]
			}
			for index[b] > index[a] {
				b = idom[b]
			}
		}
		return a
	}
	for changed := true; changed; {
		changed = false
		for _, n := range order[1:] {
			d := ""
			for _, p := range pred[n] {
				if _, ok := idom[p]; !ok {
					continue
				}
				if d == "" {
					d = p
				} else {
					d = intersect(p, d)
				}
			}
			if idom[n] != d {
				idom[n], changed = d, true
			}
		}
	}
	out := map[string]int64{}
	for pkg, n := range byPkg {
		if _, ok := g.module[pkg]; !ok {
			continue
		}
		// Every module on the way up the dominator tree holds pkg alone.
		for at := node(pkg); at != order[0]; at = idom[at] {
			if _, reached := idom[at]; !reached {
				break
			}
			if modules[at] {
				out[at] += n
			}
		}
	}
	return out
}

// symbolBytes sums the sizes of the symbols that take room in the file (not .bss) by the package
// that defines them, among those of module; what no package names is summed under
// report.Unattributed.
func symbolBytes(path string, module map[string]string) (map[string]int64, error) {
	f, err := elf.Open(path)
	if err != nil {
		return nil, err
	}
	defer f.Close()
	syms, err := f.Symbols()
	if err != nil {
		return nil, fmt.Errorf("symbols of %s: %w", path, err)
	}
	// Longest package paths first, so that a.b/c wins over a.b for "a.b/c.F".
	pkgs := make([]string, 0, len(module))
	for p := range module {
		pkgs = append(pkgs, p)
	}
	slices.SortFunc(pkgs, func(a, b string) int { return cmp.Compare(len(b), len(a)) })
	owner := map[string]string{} // symbol name up to its first '[' or '(' → package
	sizes := map[string]int64{}
	for _, s := range syms {
		if int(s.Section) <= 0 || int(s.Section) >= len(f.Sections) || f.Sections[s.Section].Type == elf.SHT_NOBITS || s.Size == 0 {
			continue
		}
		name := s.Name
		for _, prefix := range []string{"type:", "go:itab."} {
			name = strings.TrimPrefix(name, prefix)
		}
		name = strings.TrimLeft(name, "*")
		key := name
		if i := strings.IndexAny(name, "[("); i >= 0 {
			key = name[:i]
		}
		pkg, ok := owner[key]
		if !ok {
			pkg = report.Unattributed
			for _, p := range pkgs {
				if strings.HasPrefix(name, p+".") {
					pkg = p
					break
				}
			}
			owner[key] = pkg
		}
		sizes[pkg] += int64(s.Size) // #nosec G115 -- one symbol of a bootstrap of a few MB, far below 2^63
	}
	return sizes, nil
}
