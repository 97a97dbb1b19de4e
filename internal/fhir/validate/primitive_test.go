package validate

import (
	"strings"
	"testing"

	"github.com/hip-platform/hip/internal/fhir/spec"
)

// TestFastMatchersAgreeWithRegex checks every hand-written matcher against the
// published pattern it replaces, over valid, boundary and broken values.
func TestFastMatchersAgreeWithRegex(t *testing.T) {
	t.Parallel()
	defs, err := spec.Load()
	if err != nil {
		t.Fatal(err)
	}
	inputs := []string{
		"", " ", "a", "a b", "a  b", " a", "a ", "a\tb", "a\fb", "a\nb", "a\r\nb", "\v", "中文 名字", "\xff",
		"http://example.org/a", "urn:uuid:0b2b8a1e-3c6f-4b2a-9d6e-1f0a2b3c4d5e", "a|b", "x.y-Z",
		strings.Repeat("a", 64), strings.Repeat("a", 65), "a_b", "a/b",
		"0", "00", "01", "1", "-0", "-1", "-01", "10", "2147483648", "1.", ".5", "1.5", "1.50", "-1.5e10",
		"1e5", "1E+5", "1e-", "1.5e", "0.0", "00.1", "+1", "1,5", "1 ",
		"2024", "0000", "0001", "1000", "2024-1", "2024-01", "2024-00", "2024-13", "2024-12", "2024-01-01",
		"2024-01-00", "2024-01-31", "2024-01-32", "2024-02-30", "2024-01-01T", "2024-01-01T10:00",
		"2024-01-01T10:00:00", "2024-01-01T10:00:00Z", "2024-01-01T10:00:00.123Z", "2024-01-01T10:00:00.Z",
		"2024-01-01T24:00:00Z", "2024-01-01T23:59:60Z", "2024-01-01T23:59:61Z", "2024-01-01T10:60:00Z",
		"2024-01-01T10:00:00+08:00", "2024-01-01T10:00:00-13:59", "2024-01-01T10:00:00+14:00",
		"2024-01-01T10:00:00+14:01", "2024-01-01T10:00:00+15:00", "2024-01-01T10:00:00+08:60",
		"2024-01-01T10:00:00+0800", "2024-01-01T10:00:00z", "2024-01T10:00:00Z", "2024T10:00:00Z",
		"2024-01-01 10:00:00Z", "20240101", "2024-01-01Z",
		"10:00:00", "10:00:00.5", "23:59:60", "24:00:00", "10:00", "10:00:00Z", "1:00:00",
	}
	for _, name := range []string{"string", "markdown", "uri", "url", "canonical", "code", "id", "date", "dateTime",
		"instant", "time", "decimal", "integer", "unsignedInt", "positiveInt"} {
		typ := defs.Type(name)
		fast := fastMatchers(name)
		if typ == nil || typ.Regex == "" || fast == nil {
			t.Fatalf("%s: type %v, fast matcher %v", name, typ != nil, fast != nil)
		}
		re := anchored(typ.Regex)
		for _, in := range inputs {
			if got, want := fast(in), re.MatchString(in); got != want {
				t.Errorf("%s %q: fast matcher %v, regex %v", name, in, got, want)
			}
		}
	}
}
