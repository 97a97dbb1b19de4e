package empi

import (
	"strings"
	"testing"
)

func TestPrepare(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name string
		rec  Record
		want prepared
	}{
		{"Chinese full name split at the surname",
			Record{Name: "张三", Sex: "男", BirthDate: "1990-01-02"},
			prepared{family: "张", given: "三", familyPY: "zhang", givenPY: "san", familyFZ: "zan", givenFZ: "san", sex: 'M', birth: "19900102"}},
		{"traditional and full-width folded",
			Record{Family: "張", Given: "偉華", Phone: "＋８６ １３８-００１３-８０００", BirthDate: "1990年1月2日"},
			prepared{family: "张", given: "伟华", familyPY: "zhang", givenPY: "weihua", familyFZ: "zan", givenFZ: "weifua", birth: "19900102", phone: "13800138000"}},
		{"surname reading: 单 is shan as a surname",
			Record{Name: "单雄信", Sex: "1"},
			prepared{family: "单", given: "雄信", familyPY: "shan", givenPY: "xiongxin", familyFZ: "san", givenFZ: "xiongxin", sex: 'M'}},
		{"pinyin written western order",
			Record{Name: "San Zhang", Sex: "female"},
			prepared{family: "zhang", given: "san", familyPY: "zhang", givenPY: "san", familyFZ: "zan", givenFZ: "san", sex: 'F'}},
		{"15-digit ID upgraded (19 inserted, check digit computed)",
			Record{IDNumber: "110105900102123"},
			prepared{idNumber: "110105199001021238", idValid: true}},
		{"18-digit ID with a lower-case x",
			Record{IDNumber: " 11010519491231002x "},
			prepared{idNumber: "11010519491231002X", idValid: true}},
		{"invalid ID kept as typed",
			Record{IDNumber: "110105199001021235"},
			prepared{idNumber: "110105199001021235"}},
		{"impossible date dropped",
			Record{BirthDate: "1990-02-30"},
			prepared{}},
		{"date-time keeps its date",
			Record{BirthDate: "1990-02-03T08:00:00+08:00"},
			prepared{birth: "19900203"}},
		{"compact date, address folded",
			Record{BirthDate: "19900203", Address: "  廣東省 廣州市，天河區 "},
			prepared{birth: "19900203", address: "广东省 广州市 天河区"}},
		{"phone with 0086",
			Record{Phone: "0086 139 0000 0000"},
			prepared{phone: "13900000000"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if got := prepare(&tt.rec); got != tt.want {
				t.Errorf("prepare(%+v)\n got %+v\nwant %+v", tt.rec, got, tt.want)
			}
		})
	}
}

func TestReadCSV(t *testing.T) {
	t.Parallel()
	in := "\ufeffID, Name ,出生,id_number,other\n1, 张三 ,1990-01-02,110105199001021236,x\n2,李四,,,\n"
	m, err := ParseMapping("出生=birth_date")
	if err != nil {
		t.Fatal(err)
	}
	recs, err := ReadCSV(strings.NewReader(in), "f", m)
	if err != nil {
		t.Fatal(err)
	}
	want := []Record{
		{ID: "1", Source: "f", Name: "张三", BirthDate: "1990-01-02", IDNumber: "110105199001021236"},
		{ID: "2", Source: "f", Name: "李四"},
	}
	if len(recs) != len(want) {
		t.Fatalf("got %d records, want %d", len(recs), len(want))
	}
	for i := range want {
		if recs[i] != want[i] {
			t.Errorf("record %d: got %+v, want %+v", i, recs[i], want[i])
		}
	}
	for _, bad := range []string{"a=nowhere", "=id", "noequals"} {
		if _, err := ParseMapping(bad); err == nil {
			t.Errorf("ParseMapping(%q) accepted", bad)
		}
	}
	if _, err := ReadCSV(strings.NewReader(""), "", nil); err == nil {
		t.Error("ReadCSV accepted a file without a header")
	}
}

func TestLinkRefusesDuplicateIDs(t *testing.T) {
	t.Parallel()
	if _, err := Link([]Record{{ID: "1"}, {ID: "1"}}, Config{}, false); err == nil {
		t.Error("Link accepted two records with one id")
	}
	if _, err := Link([]Record{{ID: "1"}, {}}, Config{}, false); err == nil {
		t.Error("Link accepted a record without id")
	}
}

func TestConfigErrors(t *testing.T) {
	t.Parallel()
	for _, c := range []Config{
		{LinkThreshold: 0.5, ReviewThreshold: 0.9},
		{Comparisons: []ComparisonConfig{{Name: "shoe_size"}}},
		{Comparisons: []ComparisonConfig{{Name: "family", Thresholds: []float64{0.9}}}},
		{Blocking: []string{"zodiac"}},
		{Blocking: []string{"phone"}, Training: []string{"birth_date"}},
		{Contradictions: []string{"sex:unknown"}},
	} {
		if _, err := c.compile(); err == nil {
			t.Errorf("compile(%+v) accepted", c)
		}
	}
}

func FuzzReadCSV(f *testing.F) {
	f.Add("id,name,birth_date\n1,张三,1990-01-02\n")
	f.Add("rec_id, given_name\nrec-1, a\n")
	f.Add("\"a\nb\",c\n1")
	m, _ := ParseMapping(febrlMapping)
	f.Fuzz(func(t *testing.T, s string) {
		recs, err := ReadCSV(strings.NewReader(s), "", m)
		if err != nil {
			return
		}
		for i := range recs {
			prepare(&recs[i])
		}
	})
}

func FuzzPrepare(f *testing.F) {
	f.Add("張偉", "1990年1月2日", "11010519900102123x", "+86 138 0013 8000", "San Zhang")
	f.Add("", "2000-02-29", "110105900102123", "", "欧阳")
	f.Fuzz(func(t *testing.T, name, birth, id, phoneNumber, family string) {
		r := Record{Name: name, BirthDate: birth, IDNumber: id, Phone: phoneNumber, Family: family}
		p := prepare(&r)
		if p.birth != "" && len(p.birth) != 8 {
			t.Errorf("birth %q from %q", p.birth, birth)
		}
		if p.idValid && len(p.idNumber) != 18 {
			t.Errorf("valid ID %q", p.idNumber)
		}
		// Comparing a record with itself never panics and agrees wherever
		// there is a value.
		m := newModel(mustCompile(t).comps)
		pat := m.compare(&p, &p)
		for i, c := range m.comps {
			if l := pat.level(i); l != null && l != 0 {
				t.Errorf("%s: a record against itself is at level %s", c.name, c.levels[l])
			}
		}
	})
}

func mustCompile(t *testing.T) *compiled {
	cc, err := Config{}.compile()
	if err != nil {
		t.Fatal(err)
	}
	return cc
}
