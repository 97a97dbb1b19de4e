package empi

import (
	"encoding/json"
	"testing"
	"time"

	"github.com/hip-platform/hip/internal/idcard"
	"github.com/hip-platform/hip/internal/store"
)

func TestGoldenSurvivorship(t *testing.T) {
	t.Parallel()
	mk := func(id, updated string, r Record) entry {
		r.ID, r.Updated = id, updated
		body, _ := json.Marshal(r)
		e, err := decodeEntry(store.MPIRecord{Patient: id, Person: "p-a", Body: body, Updated: time.Unix(0, 0)})
		if err != nil {
			t.Fatal(err)
		}
		return e
	}
	check, _ := idcard.CheckDigit("11010519800315123")
	valid := "11010519800315123" + string(check)
	es := []entry{
		// Oldest: the valid number, the name in characters, an old phone.
		mk("a", "2024-01-01T00:00:00.000Z", Record{Name: "张伟", Sex: "female", BirthDate: "1981-01-01", IDNumber: valid,
			Phone: "13800000001", Address: "旧地址1号", Division: "110105001001"}),
		// Newer, in pinyin, the same number, a newer phone and address.
		mk("b", "2025-06-01T00:00:00.000Z", Record{Name: "Zhang Wei", Sex: "male", IDNumber: valid, Phone: "13800000002", Address: "新地址2号"}),
		// Newest, no number, a typo'd number would not count: no ID, no phone.
		mk("c", "2026-01-01T00:00:00.000Z", Record{Family: "张", Given: "伟", HealthCard: "E1"}),
	}
	g := golden("p-a", es, map[string]bool{"b": true})
	if id := g["identifier"].([]any)[0].(map[string]any)["value"]; id != valid {
		t.Errorf("identifier %v, want the valid number", id)
	}
	// Sex and birth date from the number, over what records say.
	if g["gender"] != "male" || g["birthDate"] != "1980-03-15" {
		t.Errorf("gender %v birthDate %v, want male 1980-03-15 from the 身份证 number", g["gender"], g["birthDate"])
	}
	// The latest name in characters (c's), not the newer pinyin one.
	if n := g["name"].([]any)[0].(map[string]any); n["text"] != "张伟" || n["family"] != "张" {
		t.Errorf("name %v", n)
	}
	// The latest phone and address: b's (c has none).
	if p := g["telecom"].([]any)[0].(map[string]any)["value"]; p != "13800000002" {
		t.Errorf("phone %v", p)
	}
	if a := g["address"].([]any)[0].(map[string]any)["text"]; a != "新地址2号" {
		t.Errorf("address %v", a)
	}
	links := g["link"].([]any)
	if len(links) != 3 || links[1].(map[string]any)["assurance"] != "level4" || links[0].(map[string]any)["assurance"] != "level3" {
		t.Errorf("links %v", links)
	}
	// Rebuilding in another order gives the same record.
	again := golden("p-a", []entry{es[2], es[0], es[1]}, map[string]bool{"b": true})
	a1, _ := json.Marshal(g)
	a2, _ := json.Marshal(again)
	if string(a1) != string(a2) {
		t.Errorf("golden depends on the order of members:\n%s\n%s", a1, a2)
	}
}
