package bench

import (
	"reflect"
	"strings"
	"testing"

	"github.com/hip-platform/hip/internal/earlywarning"
)

func TestWarning(t *testing.T) {
	cfg := WarningConfig{Regions: 2, Residents: 4000, Seed: 11, Model: earlywarning.DefaultSourceModel(),
		Settings: []WarningSetting{{"α 0.001", earlywarning.DefaultDetectors(0.001)}, {"α 0.01", earlywarning.DefaultDetectors(0.01)}},
		Rules:    earlywarning.DefaultRules()}
	res, err := Warning(t.Context(), cfg)
	if err != nil {
		t.Fatal(err)
	}
	if len(res.Rows) != 2*len(cfg.Rules) {
		t.Fatalf("%d rows, want a row per setting and rule", len(res.Rows))
	}
	for i, r := range res.Rows {
		if r.Outbreaks != 4 || r.Detected > r.Outbreaks || r.False > r.Events || len(r.Delays) != r.Detected || r.CountyWeeks < 104 {
			t.Errorf("row %d %s/%s: %+v", i, r.Setting, r.Rule.Name, r)
		}
	}
	// Every signal of an event is in an event of "any one source", so no
	// rule detects more than it; and it detects all that a single source does.
	for s := range 2 {
		rows := res.Rows[s*len(cfg.Rules) : (s+1)*len(cfg.Rules)]
		anyOne := rows[len(earlywarning.Sources)]
		if anyOne.Rule.Name != "any one source" {
			t.Fatalf("rule order changed: %s", anyOne.Rule.Name)
		}
		for _, r := range rows {
			if r.Detected > anyOne.Detected {
				t.Errorf("%s: %s detects %d, more than any one source (%d)", r.Setting, r.Rule.Name, r.Detected, anyOne.Detected)
			}
		}
		if rows[len(rows)-2].Events > anyOne.Events {
			t.Errorf("%s: two sources raise more events than one", rows[0].Setting)
		}
	}
	again, err := Warning(t.Context(), cfg)
	if err != nil {
		t.Fatal(err)
	}
	if !reflect.DeepEqual(res.Rows, again.Rows) {
		t.Error("two runs of the same seeds differ")
	}
	md := WarningMarkdown(res)
	for _, want := range []string{"| detectors | rule |", "any one source", "≥ 2 sources within 3 days", "Signals raised"} {
		if !strings.Contains(md, want) {
			t.Errorf("markdown lacks %q:\n%s", want, md)
		}
	}
}
