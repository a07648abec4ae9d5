package contracts

import (
	"encoding/json"
	"errors"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

// repoDir is the repo's copy of the layer: the same files Lambda sees under /opt/contracts.
const repoDir = "../../layers/contracts"

func decode(t *testing.T, s string) any {
	t.Helper()
	d := json.NewDecoder(strings.NewReader(s))
	d.UseNumber()
	var v any
	if err := d.Decode(&v); err != nil {
		t.Fatal(err)
	}
	return v
}

const (
	goodOrder = `{"type":"order","key":"SKU-1","id":"o-1","time":"2026-11-23T10:00:00Z","data":{"customer":{"name":"Ada"},"sku":"SKU-1","price":12.5,
	  "shipTo":{"name":"Ada","address":"1 Main St","city":"Springfield","state":"IL","zip":"62701"},
	  "billTo":{"name":"Ada","address":"1 Main St","city":"Springfield","state":"IL","zip":"62701"}}}`
	goodDevice    = `{"type":"device","key":"motor-7","data":{"motorId":"motor-7","sensorData":{"readingId":"r-1","pressure":101.3,"temperature":-4}}}`
	goodInventory = `{"type":"inventory","key":"mi-0abc","data":{"schemaVersion":"1.0","typeName":"Custom:SAPInstance","id":"mi-0abc","content":[{"sid":"HDB","systemNumber":"00","virtualHostname":"sap-hana-1","instanceName":"HDB00"}]}}`
	goodSecurity  = `{"type":"security","key":"arn:aws:securityhub:us-east-1:123456789012:insight/123456789012/custom/a1","data":{"version":"0","id":"e-1","detail-type":"Security Hub Insight Results","source":"aws.securityhub","account":"123456789012","time":"2026-11-23T10:00:00Z","region":"us-east-1","resources":["arn:aws:securityhub:us-east-1::product/aws/macie"],"detail":{"insightName":"Users with keys","insightArn":"arn:aws:securityhub:us-east-1:123456789012:insight/123456789012/custom/a1","resultType":"ResourceAwsIamAccessKeyUserName","insightResults":[{"admin":5},{"ci":6}]}}}`
	goodInserted  = `{"version":"0","id":"x","source":"stream-to-events.ingest","detail-type":"DataInserted","resources":["arn:aws:dynamodb:us-east-1:123456789012:table/EventStore"],"detail":{"id":"o-1","type":"order","key":"SKU-1","time":"2026-11-23T10:00:00.000Z","receivedAt":"2026-11-23T10:00:00.456Z","source":"ingest","data":{"sku":"SKU-1"}}}`
)

func TestLoadFindsEveryContract(t *testing.T) {
	s, err := Load(repoDir)
	if err != nil {
		t.Fatal(err)
	}
	want := "data-inserted device inventory order security"
	if got := strings.Join(s.Types(), " "); got != want {
		t.Errorf("types = %q, want %q", got, want)
	}
}

func TestValidate(t *testing.T) {
	s, err := Load(repoDir)
	if err != nil {
		t.Fatal(err)
	}
	tests := []struct {
		name, typ, doc string
		wantAt         string // "" when valid
	}{
		{"order", "order", goodOrder, ""},
		{"device", "device", goodDevice, ""},
		{"inventory", "inventory", goodInventory, ""},
		{"security", "security", goodSecurity, ""},
		{"data inserted event", "data-inserted", goodInserted, ""},
		{"type without schema", "parcel", `{"anything":[1,2]}`, ""},
		{"price as string", "order", strings.Replace(goodOrder, `12.5`, `"12.5"`, 1), "/data/price"},
		{"missing billTo", "order", strings.Replace(goodOrder, `"billTo"`, `"billToo"`, 1), "/data"},
		{"negative pressure", "device", strings.Replace(goodDevice, `101.3`, `-1`, 1), "/data/sensorData/pressure"},
		{"bad SID", "inventory", strings.Replace(goodInventory, `"HDB"`, `"hdb"`, 1), "/data/content/0/sid"},
		{"insight count not a number", "security", strings.Replace(goodSecurity, `"admin":5`, `"admin":"5"`, 1), "/data/detail/insightResults/0/admin"},
		{"bad time", "device", strings.Replace(goodDevice, `"key"`, `"time":"yesterday","key"`, 1), "/time"},
		{"unknown envelope field", "device", strings.Replace(goodDevice, `"key"`, `"extra":1,"key"`, 1), "/"},
		{"wrong detail-type", "data-inserted", strings.Replace(goodInserted, `DataInserted`, `DataDeleted`, 1), "/detail-type"},
		{"event time not fixed width", "data-inserted", strings.Replace(goodInserted, `10:00:00.000Z`, `10:00:00Z`, 1), "/detail/time"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			err := s.Validate(tt.typ, decode(t, tt.doc))
			if tt.wantAt == "" {
				if err != nil {
					t.Fatalf("valid document refused: %v", err)
				}
				return
			}
			if !errors.Is(err, ErrInvalid) {
				t.Fatalf("err = %v, want ErrInvalid", err)
			}
			if !strings.Contains(err.Error(), "at "+tt.wantAt+":") {
				t.Errorf("error %q does not name %s", err, tt.wantAt)
			}
		})
	}
}

func TestLoadRefusesBrokenSetups(t *testing.T) {
	empty := t.TempDir()
	broken := t.TempDir()
	if err := os.WriteFile(filepath.Join(broken, "order.schema.json"), []byte(`{"type": 5}`), 0o600); err != nil {
		t.Fatal(err)
	}
	notJSON := t.TempDir()
	if err := os.WriteFile(filepath.Join(notJSON, "order.schema.json"), []byte(`{`), 0o600); err != nil {
		t.Fatal(err)
	}
	badPattern := t.TempDir()
	doc := `{"type": "object", "properties": {"key": {"type": "string", "pattern": "^[a-z"}}}`
	if err := os.WriteFile(filepath.Join(badPattern, "order.schema.json"), []byte(doc), 0o600); err != nil {
		t.Fatal(err)
	}
	for name, dir := range map[string]string{
		"missing": filepath.Join(empty, "nope"), "empty": empty, "invalid schema": broken, "not JSON": notJSON,
		"bad pattern": badPattern,
	} {
		t.Run(name, func(t *testing.T) {
			if _, err := Load(dir); err == nil {
				t.Fatalf("Load(%s) = nil error", dir)
			}
		})
	}
}

func TestDir(t *testing.T) {
	t.Setenv("CONTRACTS_DIR", "")
	if Dir() != DefaultDir {
		t.Errorf("Dir() = %q without CONTRACTS_DIR", Dir())
	}
	t.Setenv("CONTRACTS_DIR", "/x")
	if Dir() != "/x" {
		t.Errorf("Dir() = %q with CONTRACTS_DIR=/x", Dir())
	}
}

// TestExamplesMatchTheirSchema keeps the examples in the schemas, which the generator and
// readers start from, honest.
func TestExamplesMatchTheirSchema(t *testing.T) {
	s, err := Load(repoDir)
	if err != nil {
		t.Fatal(err)
	}
	for _, typ := range s.Types() {
		raw, err := os.ReadFile(filepath.Join(repoDir, typ+Suffix))
		if err != nil {
			t.Fatal(err)
		}
		var doc struct{ Examples []json.RawMessage }
		if err := json.Unmarshal(raw, &doc); err != nil {
			t.Fatal(err)
		}
		if len(doc.Examples) == 0 {
			t.Errorf("%s: no example", typ)
		}
		for _, ex := range doc.Examples {
			if err := s.Check(typ, ex); err != nil {
				t.Errorf("%s example: %v", typ, err)
			}
			if _, ok := s.fast[typ].accepts(ex, 0); !ok {
				t.Errorf("%s example: not accepted by the fast path", typ)
			}
		}
	}
}
