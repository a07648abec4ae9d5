package record

import (
	"encoding/json"

	"github.com/stream-to-events/stream-to-events/internal/jsonscan"
)

// Unmarshal decodes the canonical record s: the Record and the error json.Unmarshal gives for
// it. The form that json.Marshal and AppendJSON write is read in one pass, with the strings as
// parts of s; any other text goes through json.Unmarshal.
func Unmarshal(s string) (Record, error) {
	d := jsonscan.NewDecoder(s)
	if r, ok := Read(&d); ok && d.End() {
		return r, nil
	}
	var r Record
	err := json.Unmarshal([]byte(s), &r)
	return r, err
}

// fieldNames are the JSON names of Record's fields.
var fieldNames = []string{"id", "type", "key", "time", "receivedAt", "source", "data"}

// Read reads the canonical record d stands at, when it is in the form json.Marshal and
// AppendJSON write: members named exactly as Record's fields, each at most once, strings for the
// strings and an object for data. Members of other names are skipped, as json.Unmarshal skips
// them. For any other text it reports false; the caller then decodes the text with encoding/json.
func Read(d *jsonscan.Decoder) (r Record, ok bool) {
	var seen jsonscan.Members // the string fields read, numbered as fieldNames
	ok = d.Object(func(name string) bool {
		var field *string
		var n int
		switch name {
		case "id":
			field, n = &r.ID, 0
		case "type":
			field, n = &r.Type, 1
		case "key":
			field, n = &r.Key, 2
		case "time":
			field, n = &r.Time, 3
		case "receivedAt":
			field, n = &r.ReceivedAt, 4
		case "source":
			field, n = &r.Source, 5
		case "data":
			if r.Data != nil || d.Peek() != '{' {
				return false
			}
			raw, ok := d.Raw()
			r.Data = json.RawMessage(raw)
			return ok
		default:
			return !jsonscan.FoldsTo(name, fieldNames...) && d.Skip()
		}
		if !seen.First(n) {
			return false
		}
		var ok bool
		*field, ok = d.String()
		return ok
	})
	return r, ok
}
