package jsonpatch

import (
	"bytes"
	"encoding/json"
	"testing"
)

func decode(t testing.TB, s string) any {
	t.Helper()
	d := json.NewDecoder(bytes.NewReader([]byte(s)))
	d.UseNumber()
	var v any
	if err := d.Decode(&v); err != nil {
		t.Fatalf("decode %s: %v", s, err)
	}
	return v
}

// Cases from RFC 6902 appendix A, plus FHIR-shaped ones.
func TestApply(t *testing.T) {
	tests := []struct {
		name, doc, patch, want string
		wantErr                bool
	}{
		{"add member", `{"foo":"bar"}`, `[{"op":"add","path":"/baz","value":"qux"}]`, `{"baz":"qux","foo":"bar"}`, false},
		{"add array element", `{"foo":["bar","baz"]}`, `[{"op":"add","path":"/foo/1","value":"qux"}]`, `{"foo":["bar","qux","baz"]}`, false},
		{"remove member", `{"baz":"qux","foo":"bar"}`, `[{"op":"remove","path":"/baz"}]`, `{"foo":"bar"}`, false},
		{"remove array element", `{"foo":["bar","qux","baz"]}`, `[{"op":"remove","path":"/foo/1"}]`, `{"foo":["bar","baz"]}`, false},
		{"replace", `{"baz":"qux","foo":"bar"}`, `[{"op":"replace","path":"/baz","value":"boo"}]`, `{"baz":"boo","foo":"bar"}`, false},
		{"move member", `{"foo":{"bar":"baz","waldo":"fred"},"qux":{"corge":"grault"}}`, `[{"op":"move","from":"/foo/waldo","path":"/qux/thud"}]`, `{"foo":{"bar":"baz"},"qux":{"corge":"grault","thud":"fred"}}`, false},
		{"move array element", `{"foo":["all","grass","cows","eat"]}`, `[{"op":"move","from":"/foo/1","path":"/foo/3"}]`, `{"foo":["all","cows","eat","grass"]}`, false},
		{"test ok", `{"baz":"qux","foo":["a",2,"c"]}`, `[{"op":"test","path":"/baz","value":"qux"},{"op":"test","path":"/foo/1","value":2}]`, `{"baz":"qux","foo":["a",2,"c"]}`, false},
		{"test fails", `{"baz":"qux"}`, `[{"op":"test","path":"/baz","value":"bar"}]`, ``, true},
		{"add nested", `{"foo":"bar"}`, `[{"op":"add","path":"/child","value":{"grandchild":{}}}]`, `{"child":{"grandchild":{}},"foo":"bar"}`, false},
		{"add to nonexistent target", `{"foo":"bar"}`, `[{"op":"add","path":"/baz/bat","value":"qux"}]`, ``, true},
		{"escaped pointer", `{"/":9,"~1":10}`, `[{"op":"test","path":"/~01","value":10},{"op":"remove","path":"/~1"}]`, `{"~1":10}`, false},
		{"append with dash", `{"name":[{"family":"王"}]}`, `[{"op":"add","path":"/name/-","value":{"family":"李"}}]`, `{"name":[{"family":"王"},{"family":"李"}]}`, false},
		{"copy", `{"a":{"b":1}}`, `[{"op":"copy","from":"/a","path":"/c"}]`, `{"a":{"b":1},"c":{"b":1}}`, false},
		{"replace missing fails", `{"a":1}`, `[{"op":"replace","path":"/b","value":2}]`, ``, true},
		{"index out of range", `{"a":[1]}`, `[{"op":"add","path":"/a/5","value":2}]`, ``, true},
		{"leading zero index", `{"a":[1,2]}`, `[{"op":"remove","path":"/a/01"}]`, ``, true},
		{"move into own child", `{"a":{"b":{}}}`, `[{"op":"move","from":"/a","path":"/a/b/c"}]`, ``, true},
		{"number equality", `{"v":1.0}`, `[{"op":"test","path":"/v","value":1}]`, `{"v":1.0}`, false},
		{"big numbers compared exactly", `{"v":9007199254740993}`, `[{"op":"test","path":"/v","value":9007199254740992}]`, ``, true},
		{"replace the whole document", `{"a":1}`, `[{"op":"replace","path":"","value":{"b":2}}]`, `{"b":2}`, false},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			ops, err := Parse([]byte(tt.patch))
			if err != nil {
				t.Fatalf("Parse: %v", err)
			}
			got, err := Apply(decode(t, tt.doc), ops)
			if tt.wantErr {
				if err == nil {
					t.Fatalf("Apply succeeded, want error")
				}
				return
			}
			if err != nil {
				t.Fatalf("Apply: %v", err)
			}
			if !equal(got, decode(t, tt.want)) {
				b, _ := json.Marshal(got)
				t.Errorf("got %s, want %s", b, tt.want)
			}
		})
	}
}

func TestParseErrors(t *testing.T) {
	for _, p := range []string{`{}`, `[{"op":"add","path":"/a"}]`, `[{"op":"jump","path":"/a"}]`, `[{"op":"move","path":"/a"}]`, `[{"op":"remove"}]`, `[] []`, `[] ]`, `[{"op":1,"path":"/a"}]`} {
		if _, err := Parse([]byte(p)); err == nil {
			t.Errorf("Parse(%s) succeeded, want error", p)
		}
	}
}

func FuzzApply(f *testing.F) {
	f.Add([]byte(`{"a":[1,{"b":2}]}`), []byte(`[{"op":"move","from":"/a/1/b","path":"/a/0"}]`))
	f.Add([]byte(`{"a":1}`), []byte(`[{"op":"copy","from":"/a","path":"/b"},{"op":"remove","path":"/a"}]`))
	f.Fuzz(func(t *testing.T, doc, patch []byte) {
		d := json.NewDecoder(bytes.NewReader(doc))
		d.UseNumber()
		var v any
		if d.Decode(&v) != nil {
			return
		}
		ops, err := Parse(patch)
		if err != nil {
			return
		}
		if out, err := Apply(v, ops); err == nil {
			if _, err := json.Marshal(out); err != nil {
				t.Fatalf("result does not marshal: %v", err)
			}
		}
	})
}
