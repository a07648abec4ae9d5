package firehose

import (
	"crypto/rand"
	"fmt"
	"strings"
	"time"
)

// Error output types Firehose puts in !{firehose:error-output-type}.
const errorTypeProcessingFailed = "processing-failed"

// objectKey is where Firehose puts an object: the prefix with its namespaces expanded at t (the
// approximate arrival of the object's oldest record, UTC), then
// <stream>-<version>-yyyy-MM-dd-HH-mm-ss-<uuid>. A prefix without any !{…} expression gets
// Firehose's default yyyy/MM/dd/HH/ appended; an error prefix without one also gets the error
// output type as a folder, as Firehose does.
func objectKey(prefix, errType, stream string, t time.Time, gz bool) string {
	t = t.UTC()
	var key string
	if strings.Contains(prefix, "!{") {
		key = expandPrefix(prefix, errType, t)
	} else {
		key = prefix
		if errType != "" {
			key += errType + "/"
		}
		key += t.Format("2006/01/02/15/")
	}
	key += fmt.Sprintf("%s-1-%s-%s", stream, t.Format("2006-01-02-15-04-05"), newUUID())
	if gz {
		key += ".gz"
	}
	return key
}

// expandPrefix expands !{timestamp:<Java DateTimeFormatter pattern>},
// !{firehose:error-output-type} and !{firehose:random-string}.
func expandPrefix(prefix, errType string, t time.Time) string {
	var b strings.Builder
	for {
		i := strings.Index(prefix, "!{")
		if i < 0 {
			b.WriteString(prefix)
			return b.String()
		}
		j := strings.Index(prefix[i:], "}")
		if j < 0 {
			b.WriteString(prefix)
			return b.String()
		}
		b.WriteString(prefix[:i])
		ns, arg, _ := strings.Cut(prefix[i+2:i+j], ":")
		switch {
		case ns == "timestamp":
			b.WriteString(javaTime(arg, t))
		case ns == "firehose" && arg == "error-output-type":
			b.WriteString(errType)
		case ns == "firehose" && arg == "random-string":
			b.WriteString(randomString(11))
		default:
			b.WriteString(prefix[i : i+j+1])
		}
		prefix = prefix[i+j+1:]
	}
}

// javaTime formats t with the letters of a Java DateTimeFormatter pattern that prefixes use
// (yyyy, yy, MM, dd, HH, mm, ss, SSS); other characters are copied, 'quoted' text verbatim.
func javaTime(pattern string, t time.Time) string {
	var b strings.Builder
	for i := 0; i < len(pattern); {
		c := pattern[i]
		if c == '\'' {
			end := strings.IndexByte(pattern[i+1:], '\'')
			if end < 0 {
				b.WriteString(pattern[i+1:])
				break
			}
			b.WriteString(pattern[i+1 : i+1+end])
			i += end + 2
			continue
		}
		n := 1
		for i+n < len(pattern) && pattern[i+n] == c {
			n++
		}
		i += n
		switch c {
		case 'y':
			if n == 2 {
				fmt.Fprintf(&b, "%02d", t.Year()%100)
			} else {
				fmt.Fprintf(&b, "%04d", t.Year())
			}
		case 'M':
			fmt.Fprintf(&b, "%0*d", n, int(t.Month()))
		case 'd':
			fmt.Fprintf(&b, "%0*d", n, t.Day())
		case 'H':
			fmt.Fprintf(&b, "%0*d", n, t.Hour())
		case 'm':
			fmt.Fprintf(&b, "%0*d", n, t.Minute())
		case 's':
			fmt.Fprintf(&b, "%0*d", n, t.Second())
		case 'S':
			fmt.Fprintf(&b, "%03d", t.Nanosecond()/1e6)
		default:
			b.WriteString(strings.Repeat(string(c), n))
		}
	}
	return b.String()
}

func newUUID() string {
	var u [16]byte
	_, _ = rand.Read(u[:])
	u[6] = u[6]&0x0f | 0x40
	u[8] = u[8]&0x3f | 0x80
	return fmt.Sprintf("%x-%x-%x-%x-%x", u[0:4], u[4:6], u[6:8], u[8:10], u[10:16])
}

func randomString(n int) string {
	const letters = "abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789"
	b := make([]byte, n)
	_, _ = rand.Read(b)
	for i := range b {
		b[i] = letters[int(b[i])%len(letters)]
	}
	return string(b)
}
