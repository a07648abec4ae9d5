package generate

import (
	"bytes"
	"encoding/json"
	"fmt"
	"math"
	"math/rand/v2"
	"strings"
	"time"

	"github.com/stream-to-events/stream-to-events/internal/record"
)

// envelope is the input record's envelope form (docs/contracts.md, Input record), fields in the order a
// producer would write them.
type envelope struct {
	Type string `json:"type"`
	Key  string `json:"key"`
	ID   string `json:"id"`
	Time string `json:"time"`
	Data any    `json:"data"`
}

// The data of the four kinds, after the public AWS documentation samples the original example
// generated from. Struct fields keep the JSON order stable, which keeps the bytes reproducible.

type orderData struct {
	Customer customer `json:"customer"`
	SKU      string   `json:"sku"`
	Price    float64  `json:"price"`
	ShipTo   address  `json:"shipTo"`
	BillTo   address  `json:"billTo"`
}

type customer struct {
	Name string `json:"name"`
}

type address struct {
	Name    string `json:"name"`
	Address string `json:"address"`
	City    string `json:"city"`
	State   string `json:"state"`
	Zip     string `json:"zip"`
}

type deviceData struct {
	MotorID    string     `json:"motorId"`
	SensorData sensorData `json:"sensorData"`
}

type sensorData struct {
	ReadingID   string  `json:"readingId"`
	Pressure    float64 `json:"pressure"`
	Temperature float64 `json:"temperature"`
}

type inventoryData struct {
	SchemaVersion string        `json:"schemaVersion"`
	TypeName      string        `json:"typeName"`
	ID            string        `json:"id"`
	Content       []sapInstance `json:"content"`
}

type sapInstance struct {
	SID             string `json:"sid"`
	SystemNumber    string `json:"systemNumber"`
	VirtualHostname string `json:"virtualHostname"`
	InstanceName    string `json:"instanceName"`
}

// securityData is an EventBridge event of Security Hub insight results.
type securityData struct {
	Version    string        `json:"version"`
	ID         string        `json:"id"`
	DetailType string        `json:"detail-type"`
	Source     string        `json:"source"`
	Account    string        `json:"account"`
	Time       string        `json:"time"`
	Region     string        `json:"region"`
	Resources  []string      `json:"resources"`
	Detail     insightDetail `json:"detail"`
}

type insightDetail struct {
	InsightName    string           `json:"insightName"`
	InsightARN     string           `json:"insightArn"`
	ResultType     string           `json:"resultType"`
	InsightResults []map[string]int `json:"insightResults"`
}

// entity is one thing records are about (an SKU, a motor, a host's SAP inventory, an insight),
// with the state that makes its successive records look like one thing changing.
type entity struct {
	typ string
	key string

	price float64 // order: the SKU's list price

	pressure, temperature float64 // device: drift between readings

	instances []sapInstance // inventory

	account, region, insightName, resultType string // security
	subjects                                 []string
}

var (
	firstNames = []string{"Ana", "Bruno", "Chen", "Dana", "Elif", "Femi", "Grace", "Hiro", "Ines", "Jamal", "Kofi", "Lena", "Mateo", "Nadia", "Omar", "Priya", "Quinn", "Rosa", "Sven", "Tara"}
	lastNames  = []string{"Almeida", "Berg", "Castillo", "Dubois", "Eze", "Fischer", "Garcia", "Haddad", "Ito", "Jensen", "Kowalski", "Lee", "Moreau", "Nakamura", "Okafor", "Patel", "Rossi", "Schmidt", "Tanaka", "Walker"}
	streets    = []string{"Main St", "Pine St", "Oak Ave", "Maple Dr", "Cedar Ln", "Elm St", "Lakeview Rd", "Sunset Blvd", "2nd Ave", "Park Pl"}
	places     = []struct{ city, state, zip string }{
		{"Seattle", "WA", "98101"}, {"Portland", "OR", "97205"}, {"Austin", "TX", "78701"},
		{"Denver", "CO", "80202"}, {"Chicago", "IL", "60601"}, {"Boston", "MA", "02108"},
		{"Atlanta", "GA", "30303"}, {"Phoenix", "AZ", "85004"}, {"Madison", "WI", "53703"},
		{"Raleigh", "NC", "27601"}, {"New York", "NY", "10001"}, {"Miami", "FL", "33130"},
	}
	regions  = []string{"us-east-1", "us-west-2", "eu-west-1", "eu-central-1", "ap-southeast-2"}
	insights = []struct{ name, resultType string }{
		{"Top S3 buckets with public write or read permissions", "ResourceAwsS3BucketId"},
		{"EC2 instances with high-severity findings", "ResourceAwsEc2InstanceId"},
		{"IAM users with suspicious activity", "ResourceAwsIamUserUserName"},
		{"Accounts with the most findings", "AwsAccountId"},
		{"Resources with the most failed CIS checks", "ResourceId"},
	}
	sids = []string{"PRD", "QAS", "DEV", "SBX", "TRN", "S4P", "BWP", "ERP"}
)

func newEntity(rng *rand.Rand, typ string, i int) *entity {
	e := &entity{typ: typ}
	switch typ {
	case TypeOrder:
		e.key = fmt.Sprintf("SKU-%04d-%04d", 1000+rng.IntN(9000), i)
		e.price = cents(5 + rng.Float64()*495)
	case TypeDevice:
		e.key = fmt.Sprintf("motor-%04x-%03d", rng.IntN(1<<16), i)
		e.pressure = 30 + rng.Float64()*30
		e.temperature = 40 + rng.Float64()*30
	case TypeInventory:
		// The low bits hold the index, keeping the keys of a pool distinct.
		e.key = fmt.Sprintf("i-0%016x", rng.Uint64()&^0xfff|uint64(i&0xfff))
		n := 1 + rng.IntN(3)
		for range n {
			e.instances = append(e.instances, newSAPInstance(rng))
		}
	case TypeSecurity:
		in := insights[rng.IntN(len(insights))]
		e.account = fmt.Sprintf("%012d", rng.Int64N(1e12))
		e.region = regions[rng.IntN(len(regions))]
		e.insightName, e.resultType = in.name, in.resultType
		// A custom insight's ARN ends in a UUID; its last digits hold the index, keeping the
		// keys of a pool distinct.
		e.key = fmt.Sprintf("arn:aws:securityhub:%s:%s:insight/%s/custom/%08x-%04x-4%03x-a%03x-%08x%04x",
			e.region, e.account, e.account, rng.Uint32(), rng.IntN(1<<16), rng.IntN(1<<12), rng.IntN(1<<12), rng.Uint32(), i)
		for range 1 + rng.IntN(4) {
			e.subjects = append(e.subjects, subject(rng, in.resultType, e.account))
		}
	}
	return e
}

func newSAPInstance(rng *rand.Rand) sapInstance {
	sid := sids[rng.IntN(len(sids))]
	nr := fmt.Sprintf("%02d", rng.IntN(100))
	kind := []string{"ASCS", "D", "HDB", "ERS"}[rng.IntN(4)]
	return sapInstance{
		SID:             sid,
		SystemNumber:    nr,
		VirtualHostname: fmt.Sprintf("sap%s%s", strings.ToLower(sid), strings.ToLower(kind)),
		InstanceName:    kind + nr,
	}
}

// subject is one group of an insight's results: what the insight groups findings by.
func subject(rng *rand.Rand, resultType, account string) string {
	switch resultType {
	case "ResourceAwsS3BucketId":
		return fmt.Sprintf("arn:aws:s3:::logs-%04x", rng.IntN(1<<16))
	case "ResourceAwsEc2InstanceId":
		return fmt.Sprintf("i-0%016x", rng.Uint64())
	case "ResourceAwsIamUserUserName":
		return strings.ToLower(firstNames[rng.IntN(len(firstNames))])
	case "AwsAccountId": // the member accounts of an organization
		return fmt.Sprintf("%012d", rng.Int64N(1e12))
	}
	return fmt.Sprintf("arn:aws:ec2:us-east-1:%s:security-group/sg-%08x", account, rng.Uint32())
}

// data is the entity's next record data; it moves the entity's state on.
func (e *entity) data(g *Generator) any {
	rng := g.rng
	switch e.typ {
	case TypeOrder:
		buyer := person(rng)
		ship := place(rng, buyer)
		bill := ship
		if rng.IntN(4) == 0 {
			bill = place(rng, buyer)
		}
		return orderData{
			Customer: customer{Name: buyer},
			SKU:      e.key,
			Price:    cents(e.price * (0.9 + rng.Float64()*0.2)),
			ShipTo:   ship,
			BillTo:   bill,
		}
	case TypeDevice:
		e.pressure = clamp(e.pressure+rng.NormFloat64()*0.8, 10, 90)
		e.temperature = clamp(e.temperature+rng.NormFloat64()*0.5, 10, 120)
		return deviceData{MotorID: e.key, SensorData: sensorData{
			ReadingID:   g.uuid(),
			Pressure:    math.Round(e.pressure*100) / 100,
			Temperature: math.Round(e.temperature*10) / 10,
		}}
	case TypeInventory:
		switch {
		case rng.IntN(5) == 0 && len(e.instances) < 5:
			e.instances = append(e.instances, newSAPInstance(rng))
		case rng.IntN(5) == 0 && len(e.instances) > 1:
			e.instances = e.instances[1:]
		}
		return inventoryData{
			SchemaVersion: "1.0",
			TypeName:      "Custom:SAPInstance",
			ID:            e.key,
			Content:       append([]sapInstance(nil), e.instances...),
		}
	default:
		results := make([]map[string]int, len(e.subjects))
		for i, s := range e.subjects {
			results[i] = map[string]int{s: 1 + rng.IntN(40)}
		}
		return securityData{
			Version:    "0",
			ID:         g.uuid(),
			DetailType: "Security Hub Insight Results",
			Source:     "aws.securityhub",
			Account:    e.account,
			Time:       g.now.UTC().Format(time.RFC3339),
			Region:     e.region,
			Resources:  []string{e.key},
			Detail: insightDetail{
				InsightName:    e.insightName,
				InsightARN:     e.key,
				ResultType:     e.resultType,
				InsightResults: results,
			},
		}
	}
}

// envelope returns a valid envelope record of e.
func (g *Generator) envelope(e *entity) Record {
	env := envelope{Type: e.typ, Key: e.key, ID: g.uuid(), Time: g.stamp(), Data: e.data(g)}
	return Record{Data: mustJSON(env), Type: env.Type, Key: env.Key, ID: env.ID, Time: env.Time, DuplicateOf: -1}
}

// raw returns a valid record without the envelope: one kind's data sent bare, as a producer that
// does not know the envelope would, stamped with when it was produced. Without a producer id the
// pipeline derives a raw record's id from its bytes, so two raw records with the same bytes in
// one Firehose batch are one record; the stamp, which rises with every record, keeps each raw
// record distinct, as a real producer's timestamp would.
func (g *Generator) raw() Record {
	data := mustJSON(g.randomEntity().data(g))
	stamped := append([]byte(`{"producedAt":"`+g.stamp()+`",`), data[1:]...)
	return Record{Data: stamped, Type: record.RawType, DuplicateOf: -1}
}

// invalid returns a record the transformer must refuse, cycling through the flaws.
func (g *Generator) invalid() Record {
	flaw := Flaws[g.nextFlaw%len(Flaws)]
	g.nextFlaw++
	e := g.randomEntity()
	valid := g.envelope(e)
	r := Record{Flaw: flaw, DuplicateOf: -1}
	switch flaw {
	case FlawNotJSON:
		r.Data = valid.Data[:len(valid.Data)/2]
	case FlawInvalidUTF8:
		// A producer that writes Latin-1: "é" as the single byte 0xE9.
		r.Data = bytes.Replace(valid.Data, []byte(`"key":"`+e.key), []byte(`"key":"`+e.key+"\xe9"), 1)
	case FlawArray:
		r.Data = append(append([]byte("["), valid.Data...), ']')
	case FlawScalar:
		r.Data = mustJSON(fmt.Sprintf("%s %s updated", e.typ, e.key))
	case FlawEmpty:
		r.Data = []byte{}
	case FlawSchema:
		var env struct {
			Type string         `json:"type"`
			Key  string         `json:"key"`
			ID   string         `json:"id"`
			Time string         `json:"time"`
			Data map[string]any `json:"data"`
		}
		if err := json.Unmarshal(valid.Data, &env); err != nil {
			panic(fmt.Sprintf("generate: own envelope does not parse: %v", err))
		}
		breakSchema(e.typ, env.Data)
		r.Data = mustJSON(env)
		r.Type, r.Key, r.ID, r.Time = valid.Type, valid.Key, valid.ID, valid.Time
	}
	return r
}

// breakSchema makes data violate its type's schema in a way any schema of the shape must catch:
// a required member missing, or a number that is a string.
func breakSchema(typ string, data map[string]any) {
	switch typ {
	case TypeOrder:
		data["price"] = "twelve dollars"
	case TypeDevice:
		data["sensorData"].(map[string]any)["temperature"] = "hot"
	case TypeInventory:
		delete(data, "content")
	default:
		delete(data, "detail")
	}
}

func person(rng *rand.Rand) string {
	return firstNames[rng.IntN(len(firstNames))] + " " + lastNames[rng.IntN(len(lastNames))]
}

func place(rng *rand.Rand, name string) address {
	p := places[rng.IntN(len(places))]
	return address{
		Name:    name,
		Address: fmt.Sprintf("%d %s", 1+rng.IntN(9999), streets[rng.IntN(len(streets))]),
		City:    p.city,
		State:   p.state,
		Zip:     p.zip,
	}
}

func cents(v float64) float64 { return math.Round(v*100) / 100 }

func clamp(v, lo, hi float64) float64 { return math.Max(lo, math.Min(hi, v)) }

// mustJSON marshals values the generator built itself, which always marshal.
func mustJSON(v any) []byte {
	b, err := json.Marshal(v)
	if err != nil {
		panic(fmt.Sprintf("generate: marshal %T: %v", v, err))
	}
	return b
}
