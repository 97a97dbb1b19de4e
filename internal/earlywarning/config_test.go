package earlywarning

import (
	"bytes"
	"encoding/json"
	"math"
	"strings"
	"testing"
	"time"
)

func TestConfigRoundTrip(t *testing.T) {
	var a bytes.Buffer
	if err := WriteConfig(&a, DefaultConfig()); err != nil {
		t.Fatal(err)
	}
	c, err := ReadConfig(bytes.NewReader(a.Bytes()))
	if err != nil {
		t.Fatalf("%v\n%s", err, a.String())
	}
	var b bytes.Buffer
	if err := WriteConfig(&b, c); err != nil {
		t.Fatal(err)
	}
	if a.String() != b.String() {
		t.Errorf("round trip changed the configuration:\n%s\n%s", a.String(), b.String())
	}
	if len(c.Detectors) != 4 || c.Detectors[3].Days == nil || c.Detectors[0].Days != nil || len(c.Rules) != 1 || !c.Rules[0].HighAlone {
		t.Errorf("read %+v", c)
	}
}

func TestReadConfigErrors(t *testing.T) {
	det := `{"source":"lab","algo":"earsC","options":["method=C2"],"minCount":3}`
	rule := `{"name":"r","minSources":2,"windowDays":3}`
	cases := []struct{ name, json, want string }{
		{"not JSON", `{`, "config"},
		{"unknown field", `{"rules":[` + rule + `],"x":1}`, "unknown field"},
		{"unknown source", `{"detectors":[{"source":"twitter","algo":"earsC","options":[]}],"rules":[` + rule + `]}`, `unknown source "twitter"`},
		{"two detectors", `{"detectors":[` + det + `,` + det + `],"rules":[` + rule + `]}`, "two detectors for source lab"},
		{"unknown algorithm", `{"detectors":[{"source":"lab","algo":"magic","options":[]}],"rules":[` + rule + `]}`, "unknown algorithm"},
		{"bad option", `{"detectors":[{"source":"lab","algo":"earsC","options":["method=C7"]}],"rules":[` + rule + `]}`, "method"},
		{"bad high option", `{"detectors":[{"source":"lab","algo":"earsC","options":[],"high":["alpha=2"]}],"rules":[` + rule + `]}`, "alpha"},
		{"negative minCount", `{"detectors":[{"source":"lab","algo":"earsC","options":[],"minCount":-1}],"rules":[` + rule + `]}`, "minCount"},
		{"no rules", `{"detectors":[` + det + `]}`, "no rules"},
		{"rule without name", `{"rules":[{"minSources":1,"windowDays":1}]}`, "no name"},
		{"zero window", `{"rules":[{"name":"r","minSources":1,"windowDays":0}]}`, "windowDays"},
		{"zero sources", `{"rules":[{"name":"r","minSources":0,"windowDays":1}]}`, "minSources"},
		{"unreachable", `{"rules":[{"name":"r","minSources":3,"windowDays":1,"sources":["lab","school"]}]}`, "only 2 sources"},
		{"rule's unknown source", `{"rules":[{"name":"r","minSources":1,"windowDays":1,"sources":["radio"]}]}`, `unknown source "radio"`},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			_, err := ReadConfig(strings.NewReader(c.json))
			if err == nil || !strings.Contains(err.Error(), c.want) {
				t.Errorf("err = %v, want one with %q", err, c.want)
			}
		})
	}
	if _, err := ReadConfig(strings.NewReader(`{"rules":[{"name":"high only","windowDays":1,"highAlone":true}]}`)); err != nil {
		t.Errorf("a rule of the high threshold alone: %v", err)
	}
}

func TestCountsCSV(t *testing.T) {
	in := "date,source,syndrome,area,count\n" +
		"2025-03-05,school,ili,990121101,12\n" +
		"2025-03-03,pharmacy,diarrhoea,990121001,4\n" +
		"2025-03-05,pharmacy,diarrhoea,990121001,0\n" +
		"2025-03-05,school,ili,990121101,3\n" // a second row adds
	c, err := ReadCounts(strings.NewReader(in))
	if err != nil {
		t.Fatal(err)
	}
	if !c.Start.Equal(time.Date(2025, 3, 3, 0, 0, 0, 0, cst)) || c.Days != 3 || len(c.Keys()) != 2 {
		t.Fatalf("start %v, %d days, keys %v", c.Start, c.Days, c.Keys())
	}
	if s := c.Series(Key{School, ILI, "990121101"}); s[2] != 15 || s[0] != 0 {
		t.Errorf("school series %v", s)
	}
	var out bytes.Buffer
	if err := WriteCounts(&out, c); err != nil {
		t.Fatal(err)
	}
	want := "date,source,syndrome,area,count\n2025-03-03,pharmacy,diarrhoea,990121001,4\n2025-03-05,school,ili,990121101,15\n"
	if out.String() != want {
		t.Errorf("written:\n%s\nwant\n%s", out.String(), want)
	}

	bad := []struct{ name, csv, want string }{
		{"empty", "", "header"},
		{"header", "day,source,syndrome,area,count\n", "header"},
		{"no rows", "date,source,syndrome,area,count\n", "no rows"},
		{"date", "date,source,syndrome,area,count\n03/05/2025,lab,ili,A,1\n", "line 2: date"},
		{"source", "date,source,syndrome,area,count\n2025-03-05,radio,ili,A,1\n", `line 2: unknown source "radio"`},
		{"syndrome", "date,source,syndrome,area,count\n2025-03-05,lab,cough,A,1\n", `unknown syndrome "cough"`},
		{"area", "date,source,syndrome,area,count\n2025-03-05,lab,ili,,1\n", "no area"},
		{"negative", "date,source,syndrome,area,count\n2025-03-05,lab,ili,A,-1\n", "whole number"},
		{"fraction", "date,source,syndrome,area,count\n2025-03-05,lab,ili,A,1.5\n", "whole number"},
		{"columns", "date,source,syndrome,area,count\n2025-03-05,lab,ili,A\n", "fields"},
		{"span", "date,source,syndrome,area,count\n1990-01-01,lab,ili,A,1\n2025-01-01,lab,ili,A,1\n", "more than 20 years"},
	}
	for _, b := range bad {
		t.Run(b.name, func(t *testing.T) {
			_, err := ReadCounts(strings.NewReader(b.csv))
			if err == nil || !strings.Contains(err.Error(), b.want) {
				t.Errorf("err = %v, want one with %q", err, b.want)
			}
		})
	}
}

func TestWriteEvents(t *testing.T) {
	events := Fuse([]Signal{sig(Lab, ILI, "A", 0, true), sig(Diagnosis, ILI, "A", 1, false)}, Rule{Name: "two", MinSources: 2, WindowDays: 3})
	events[0].Signals[1].Expected = math.NaN() // an algorithm without an expected count
	var b bytes.Buffer
	if err := WriteEvents(&b, events); err != nil {
		t.Fatal(err)
	}
	var got []map[string]any
	if err := json.Unmarshal(b.Bytes(), &got); err != nil {
		t.Fatal(err)
	}
	if len(got) != 1 || got[0]["start"] != "2025-03-04" || got[0]["area"] != "A" || len(got[0]["signals"].([]any)) != 2 {
		t.Errorf("events JSON:\n%s", b.String())
	}
	if !strings.Contains(b.String(), `"sources": [`) || !strings.Contains(b.String(), `"high": true`) || strings.Count(b.String(), `"expected": 2,`) != 1 || strings.Count(b.String(), `"expected"`) != 1 {
		t.Errorf("events JSON lacks sources or the high flag:\n%s", b.String())
	}
}

func FuzzReadCounts(f *testing.F) {
	f.Add("date,source,syndrome,area,count\n2025-03-05,school,ili,990121101,12\n2025-03-03,lab,hfmd,A,0\n")
	f.Add("date,source,syndrome,area,count\n2025-02-30,lab,ili,A,1\n")
	f.Fuzz(func(t *testing.T, in string) {
		c, err := ReadCounts(strings.NewReader(in))
		if err != nil {
			return
		}
		var out bytes.Buffer
		if err := WriteCounts(&out, c); err != nil {
			t.Fatal(err)
		}
		written := out.String()
		again, err := ReadCounts(strings.NewReader(written))
		if err != nil {
			if written == "date,source,syndrome,area,count\n" {
				return // every count was zero
			}
			t.Fatalf("re-reading what was written: %v\n%s", err, written)
		}
		for _, k := range again.Keys() {
			i, _ := c.DayIndex(again.Start)
			for j, v := range again.Series(k) {
				if c.Series(k)[i+j] != v {
					t.Fatalf("%s day %d: %v, was %v", k, j, v, c.Series(k)[i+j])
				}
			}
		}
	})
}

func FuzzReadConfig(f *testing.F) {
	var b bytes.Buffer
	WriteConfig(&b, DefaultConfig())
	f.Add(b.String())
	f.Add(`{"rules":[{"name":"r","minSources":1,"windowDays":1,"sources":["lab"]}]}`)
	f.Fuzz(func(t *testing.T, in string) {
		c, err := ReadConfig(strings.NewReader(in))
		if err != nil {
			return
		}
		var out bytes.Buffer
		if err := WriteConfig(&out, c); err != nil {
			t.Fatal(err)
		}
		if _, err := ReadConfig(&out); err != nil {
			t.Fatalf("re-reading what was written: %v\n%s", err, out.String())
		}
	})
}
