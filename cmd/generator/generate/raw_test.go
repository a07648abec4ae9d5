package generate

import "testing"

// Raw records have no producer id: the pipeline derives their id from their bytes, so two raw
// records with the same bytes would be stored once. Every raw record must be distinct.
func TestRawRecordsAreDistinct(t *testing.T) {
	records, err := Generate(Options{Seed: 1, Raw: 0.5, Entities: 2}, 2000)
	if err != nil {
		t.Fatal(err)
	}
	seen := map[string]int{}
	raws := 0
	for _, r := range records {
		if !r.Raw() {
			continue
		}
		raws++
		if prev, ok := seen[string(r.Data)]; ok {
			t.Fatalf("raw records %d and %d have the same bytes: %s", prev, r.Seq, r.Data)
		}
		seen[string(r.Data)] = r.Seq
	}
	if raws < 900 {
		t.Fatalf("only %d raw records of 2000 at share 0.5", raws)
	}
}
