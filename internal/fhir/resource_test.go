package fhir

import (
	"encoding/json"
	"fmt"
	"reflect"
	"strings"
	"testing"
	"time"
)

func TestParse(t *testing.T) {
	tests := []struct {
		name, in string
		wantErr  string
	}{
		{"object", `{"resourceType":"Patient","id":"a"}`, ""},
		{"malformed", `{"resourceType":`, "malformed JSON"},
		{"array", `[1]`, "JSON object"},
		{"string", `"x"`, "JSON object"},
		{"trailing", `{"a":1} {"b":2}`, "trailing data"},
		{"empty", ``, "malformed JSON"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			_, err := Parse([]byte(tt.in))
			if tt.wantErr == "" {
				if err != nil {
					t.Fatalf("Parse: %v", err)
				}
				return
			}
			if err == nil || !strings.Contains(err.Error(), tt.wantErr) {
				t.Fatalf("error %v, want %q", err, tt.wantErr)
			}
			if ErrorCode(err) != Invalid {
				t.Errorf("code %s, want invalid", ErrorCode(err))
			}
		})
	}
}

func TestMarshalKeepsDecimalsAndOrder(t *testing.T) {
	in := `{"valueQuantity":{"value":1.50,"unit":"mg"},"meta":{"versionId":"1"},"id":"x","resourceType":"Observation",` +
		`"text":{"div":"<div xmlns=\"http://www.w3.org/1999/xhtml\">a &amp; b</div>"},"contained":[{"status":"ok","resourceType":"Patient"}]}`
	r, err := Parse([]byte(in))
	if err != nil {
		t.Fatal(err)
	}
	out, err := r.MarshalJSON()
	if err != nil {
		t.Fatal(err)
	}
	s := string(out)
	for _, want := range []string{`{"resourceType":"Observation","id":"x","meta":`, `"value":1.50`, `a &amp; b</div>`, `[{"resourceType":"Patient","status":"ok"}]`} {
		if !strings.Contains(s, want) {
			t.Errorf("output lacks %s: %s", want, s)
		}
	}
	again, err := Parse(out)
	if err != nil || !reflect.DeepEqual(again, r) {
		t.Errorf("round trip differs: %v", err)
	}
}

func TestStamp(t *testing.T) {
	r := Resource{"resourceType": "Patient", "meta": map[string]any{"tag": []any{"x"}}}
	at := time.Date(2026, 1, 2, 11, 4, 5, 123456789, time.FixedZone("CST", 8*3600))
	r.Stamp("p1", 3, at)
	if r.ID() != "p1" || r.VersionID() != "3" {
		t.Fatalf("id %q version %q", r.ID(), r.VersionID())
	}
	if got := r.Meta()["lastUpdated"]; got != "2026-01-02T03:04:05.123Z" {
		t.Errorf("lastUpdated %v", got)
	}
	if _, ok := r.Meta()["tag"]; !ok {
		t.Errorf("Stamp dropped meta.tag")
	}
}

func TestErrorOutcome(t *testing.T) {
	e := Errorf(NotFound, "Patient/%s not found", "x")
	oo := e.Outcome()
	b, _ := json.Marshal(oo)
	if !strings.Contains(string(b), `"code":"not-found"`) || !strings.Contains(string(b), "Patient/x not found") {
		t.Errorf("outcome %s", b)
	}
	wrapped := AsError(fmt.Errorf("store: read: %w", e))
	if wrapped.Code != NotFound {
		t.Errorf("AsError lost the code: %v", wrapped.Code)
	}
	if AsError(json.Unmarshal([]byte("x"), new(int))).Code != Internal {
		t.Errorf("a plain error must be internal")
	}
}

func FuzzParseMarshal(f *testing.F) {
	f.Add([]byte(`{"resourceType":"Patient","name":[{"given":["a"]}],"x":1.50e3}`))
	f.Add([]byte(`{"a":{"resourceType":"B","c":[null,true,"<>&"]}}`))
	f.Fuzz(func(t *testing.T, data []byte) {
		r, err := Parse(data)
		if err != nil {
			return
		}
		out, err := r.MarshalJSON()
		if err != nil {
			t.Fatalf("marshal of parsed input failed: %v", err)
		}
		again, err := Parse(out)
		if err != nil {
			t.Fatalf("output does not parse: %v\n%s", err, out)
		}
		if !reflect.DeepEqual(again, r) {
			t.Fatalf("round trip changed the value:\n in %s\nout %s", data, out)
		}
	})
}

// The hand-written encoder writes strings as encoding/json does (without its
// HTML and U+2028/2029 escapes), so decoders read back the same text.
func TestAppendStringMatchesEncodingJSON(t *testing.T) {
	for _, s := range []string{"", "王小明", "a\"b\\c", "line\nbreak\r\ttab", "\x00\x01\x1f", "<div>&amp;</div>", "bad\xffutf8", "emoji 😀", "\u007f"} {
		got := string(appendString(nil, s))
		var back string
		if err := json.Unmarshal([]byte(got), &back); err != nil {
			t.Errorf("%q → %s does not decode: %v", s, got, err)
			continue
		}
		want, _ := json.Marshal(s)
		var wantBack string
		json.Unmarshal(want, &wantBack)
		if back != wantBack {
			t.Errorf("%q decodes to %q, encoding/json's to %q", s, back, wantBack)
		}
	}
	for _, n := range []string{"0", "-1.50", "1e10", "2.5E-3"} {
		if !validNumber(n) {
			t.Errorf("%s rejected", n)
		}
	}
	for _, n := range []string{"", "-", "01", "1.", ".5", "1e", "+1", "0x1", "NaN"} {
		if validNumber(n) {
			t.Errorf("%s accepted", n)
		}
	}
}

func BenchmarkMarshal(b *testing.B) {
	r, err := Parse([]byte(`{"resourceType":"Observation","id":"o1","status":"final","code":{"coding":[{"system":"http://loinc.org","code":"718-7","display":"Hemoglobin"}],"text":"血红蛋白"},"subject":{"reference":"Patient/p1"},"effectiveDateTime":"2025-03-01T08:30:00+08:00","valueQuantity":{"value":13.2,"unit":"g/dL","system":"http://unitsofmeasure.org","code":"g/dL"},"referenceRange":[{"low":{"value":12.0,"unit":"g/dL"},"high":{"value":16.0,"unit":"g/dL"}}]}`))
	if err != nil {
		b.Fatal(err)
	}
	for b.Loop() {
		if _, err := r.MarshalJSON(); err != nil {
			b.Fatal(err)
		}
	}
}

func TestParseDepth(t *testing.T) {
	nested := func(n int) string {
		return `{"resourceType":"Basic","x":` + strings.Repeat("[", n-1) + strings.Repeat("]", n-1) + `}`
	}
	for _, tc := range []struct {
		json string
		ok   bool
	}{
		{nested(MaxDepth), true},
		{nested(MaxDepth + 1), false},
		{`{"resourceType":"Basic","text":"` + strings.Repeat("[{", 200) + `\"[{"}`, true}, // brackets in strings do not count
	} {
		_, err := Parse([]byte(tc.json))
		if tc.ok != (err == nil) {
			t.Errorf("%.50s…: %v", tc.json, err)
		}
		if err != nil && AsError(err).Issues[0].Code != "too-costly" {
			t.Errorf("%.50s…: %v, want too-costly", tc.json, err)
		}
	}
}
