package reliability

import (
	"context"
	"flag"
	"fmt"
	"maps"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/stream-to-events/stream-to-events/test/docblock"
)

var update = flag.Bool("update", false, "write the figures table to docs/reliability.md")

// figure is one row of the reliability table.
type figure struct {
	Case       string
	Injected   int            // faults the edge injected, plus processes killed or hung
	ByOp       map[string]int // injected faults by service operation
	Sent       int            // records sent (invalid ones and duplicates included)
	Valid      int            // of which valid: the lake must hold each
	Lost       int            // valid records missing from the lake, the store or the bus
	DupStore   int            // store items beyond one per record
	DupEmitted int            // events beyond one per record (at-least-once delivery)
	DLQ        [3]int         // IngestDLQ, EmitterDLQ, ResponderDLQ after the case
	Redriven   int            // DLQ messages replayed by redrive
	Crossed    crossed        // what crossed each hop during the case
	Took       time.Duration
	Load       string // for a load run: throughput and where the time went
}

// crossed counts what crossed each hop, as the hop's trigger or the service saw it: a message
// the queue delivered twice is received twice, an event the bus delivered again is delivered
// twice, so each at-least-once hop shows the duplicates the next one absorbed.
type crossed struct {
	Received  int // messages the storer received from the ingest queue
	Written   int // items added to the event store
	Emitted   int // DataInserted events the bus accepted
	Delivered int // events the responder's trigger handed it from ResponderQueue (a receive again counts again)
}

// The triggers' names in the local runner's counts.
const (
	storerTrigger    = "EventStorerFunction.IngestQueue"
	responderTrigger = "EventResponderFunction.DataInserted"
)

// crossings are the counts since the flow started.
func (f *flow) crossings(ctx context.Context) crossed {
	f.t.Helper()
	items, err := f.itemCount(ctx, f.store)
	if err != nil {
		f.t.Fatal(err)
	}
	emitted := 0
	for _, n := range f.chaos.emittedCounts() {
		emitted += n
	}
	m := f.r.ESM.Counts()
	return crossed{Received: int(m[storerTrigger].Records), Written: items, Emitted: emitted, Delivered: int(m[responderTrigger].Records)}
}

// since is what crossed between b and c.
func (c crossed) since(b crossed) crossed {
	return crossed{Received: c.Received - b.Received, Written: c.Written - b.Written, Emitted: c.Emitted - b.Emitted, Delivered: c.Delivered - b.Delivered}
}

var (
	figuresMu sync.Mutex
	figures   []figure
)

func addFigure(t *testing.T, f figure) {
	t.Helper()
	figuresMu.Lock()
	figures = append(figures, f)
	figuresMu.Unlock()
	t.Logf("%-40s injected %4d  sent %4d  valid %4d  lost %d  dup store %d  dup emitted %3d  DLQ %d/%d/%d  redriven %d  %s",
		f.Case, f.Injected, f.Sent, f.Valid, f.Lost, f.DupStore, f.DupEmitted, f.DLQ[0], f.DLQ[1], f.DLQ[2], f.Redriven, f.Took.Round(100*time.Millisecond))
}

func TestMain(m *testing.M) {
	flag.Parse()
	code := m.Run()
	figuresMu.Lock()
	rows := slices.Clone(figures)
	figuresMu.Unlock()
	var matrix, load []figure
	for _, f := range rows {
		if f.Load != "" {
			load = append(load, f)
		} else {
			matrix = append(matrix, f)
		}
	}
	for _, doc := range []struct {
		rows []figure
		file string
		text func(string, []figure) string
	}{{matrix, "reliability.md", reliabilityDoc}, {load, "load.md", loadDoc}} {
		if len(doc.rows) == 0 {
			continue
		}
		table := markdown(doc.rows)
		fmt.Fprintln(os.Stderr, table)
		if !*update || code != 0 {
			continue
		}
		path := filepath.Join("..", "..", "docs", doc.file)
		err := os.MkdirAll(filepath.Dir(path), 0o755)
		if err == nil {
			err = os.WriteFile(path, []byte(doc.text(table, doc.rows)), 0o644)
		}
		if err == nil && doc.file == "reliability.md" {
			err = readmeBlock.Write(filepath.Join("..", "..", "README.md"), table)
		}
		if err != nil {
			fmt.Fprintln(os.Stderr, "write", path, err)
			code = 1
		}
	}
	if buildDir != "" {
		os.RemoveAll(buildDir)
	}
	os.Exit(code)
}

// readmeBlock is where the README shows the reliability table; -update writes it there too, and
// TestREADMEShowsTheFigures holds the two copies together.
var readmeBlock = docblock.Block{
	Begin: "<!-- reliability figures: written by go test ./test/reliability -update, as in docs/reliability.md -->\n",
	End:   "<!-- end of reliability figures -->\n",
}

// TestREADMEShowsTheFigures checks that the README's reliability table is the one the last
// -update run wrote to docs/reliability.md, not a copy edited by hand.
func TestREADMEShowsTheFigures(t *testing.T) {
	readme, err := os.ReadFile(filepath.Join("..", "..", "README.md"))
	if err != nil {
		t.Fatal(err)
	}
	doc, err := os.ReadFile(filepath.Join("..", "..", "docs", "reliability.md"))
	if err != nil {
		t.Fatal(err)
	}
	got, err := readmeBlock.In(string(readme))
	if err != nil {
		t.Fatal(err)
	}
	i := strings.Index(string(doc), "| case |")
	if i < 0 {
		t.Fatal("docs/reliability.md has no figures table")
	}
	if want := string(doc[i:]); got != want {
		t.Errorf("README.md's reliability table differs from docs/reliability.md's; run go test ./test/reliability -run '%s' -update\nREADME:\n%s\ndocs:\n%s", figureTests, got, want)
	}
}

// figureTests are the tests whose figures docs/reliability.md holds.
const figureTests = "Matrix|Redrive|Duplicates|Replay|OneBuffer"

func markdown(rows []figure) string {
	var b strings.Builder
	b.WriteString("| case | faults injected | records sent | valid | storer received / items written / emitted / delivered | lost | duplicates in store | duplicates emitted | DLQ (ingest/emitter/responder) | redriven | took |\n")
	b.WriteString("|---|---:|---:|---:|---|---:|---:|---:|---|---:|---:|\n")
	var tot figure
	for _, f := range rows {
		c := f.Crossed
		fmt.Fprintf(&b, "| %s | %d%s | %d | %d | %d / %d / %d / %d | %d | %d | %d | %d/%d/%d | %d | %s |\n", f.Case, f.Injected, byOp(f.ByOp), f.Sent, f.Valid,
			c.Received, c.Written, c.Emitted, c.Delivered, f.Lost, f.DupStore, f.DupEmitted, f.DLQ[0], f.DLQ[1], f.DLQ[2], f.Redriven, f.Took.Round(time.Second))
		tot.Crossed.Received += c.Received
		tot.Crossed.Written += c.Written
		tot.Crossed.Emitted += c.Emitted
		tot.Crossed.Delivered += c.Delivered
		tot.Injected += f.Injected
		tot.Sent += f.Sent
		tot.Valid += f.Valid
		tot.Lost += f.Lost
		tot.DupStore += f.DupStore
		tot.DupEmitted += f.DupEmitted
		tot.Redriven += f.Redriven
		tot.Took += f.Took
	}
	c := tot.Crossed
	fmt.Fprintf(&b, "| **total** | %d | %d | %d | %d / %d / %d / %d | %d | %d | %d | | %d | %s |\n", tot.Injected, tot.Sent, tot.Valid,
		c.Received, c.Written, c.Emitted, c.Delivered, tot.Lost, tot.DupStore,
		tot.DupEmitted, tot.Redriven, tot.Took.Round(time.Second))
	return b.String()
}

func byOp(m map[string]int) string {
	if len(m) == 0 {
		return ""
	}
	var parts []string
	for _, k := range slices.Sorted(maps.Keys(m)) {
		parts = append(parts, fmt.Sprintf("%s %d", k, m[k]))
	}
	return " (" + strings.Join(parts, ", ") + ")"
}

func reliabilityDoc(table string, _ []figure) string {
	return `# Reliability figures

Written by ` + "`go test ./test/reliability -run '" + figureTests + "' -update`" + ` from the real local
flow (the local runner, moto_server and the functions' real bootstraps, with the template's
timeouts shortened so that a hung function costs seconds). Faults are injected at the runner's
edge (throttling, server errors, partial batch failures) at the rate named; "killed" and
"hung" cases kill (SIGKILL) or stop (SIGSTOP, until the runtime's timeout kills it) a function
process right after its write reached the service and before it saw the answer.

- **storer received / items written / emitted / delivered**: what crossed each hop during the
  case, counted where it crossed: the messages the storer's trigger handed it (a message
  delivered again counts again), the items the event store gained, the DataInserted events the
  bus accepted, and the events the responder's trigger handed it from ResponderQueue, where the
  rule delivers them (a message received again counts again). Where a count exceeds the one
  before it, an at-least-once hop delivered duplicates and the next hop absorbed them.
- **lost**: valid records missing from the lake (fewer lines than sent), the event store or the
  bus. Must be 0.
- **duplicates in store**: event store items beyond one per record: items under one record's id
  beyond the first, and for records without an id of their own (whose id the transformer derives)
  items beyond one per record's data. Must be 0 (the store is append-only: a record stored
  already writes nothing).
- **duplicates emitted**: DataInserted events beyond one per record; allowed (at-least-once), the
  projection's conditional write absorbs them. Each case also checks that the projection holds
  the newest record of every entity.
- **DLQ**: messages left in IngestDLQ / EmitterDLQ / ResponderDLQ when the case ends. Only the
  permanent-fault case may leave any, and redrive empties them.
- A replay from the store emits every record again: its duplicates emitted are the replay.

` + table
}

func loadDoc(table string, rows []figure) string {
	var notes strings.Builder
	for _, f := range rows {
		fmt.Fprintf(&notes, "- %s: %s\n", f.Case, f.Load)
	}
	return `# Load run

Written by ` + "`make load` (`S2E_LOAD=1 go test ./test/reliability -run TestLoad -update`)" + `: records
through the whole local flow (the local runner, moto_server and the functions' real bootstraps)
on this machine, bounded in time (S2E_LOAD_TIMEOUT, 60 minutes by default). The producer sends a
thousand records at a time and holds back while more than S2E_LOAD_MAX_BACKLOG (3,000) of them
have not reached the responder's projection write: moto's SQS slows as its queues deepen, which
AWS does not. "took" ends when the bus has every record, the projection every entity's newest
record and the store every record; the final check, which reads every line and item, is timed
apart. "lost" counts the records that had not crossed every hop when the time ran out.

` + table + "\n" + notes.String()
}
