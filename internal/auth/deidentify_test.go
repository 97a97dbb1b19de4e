package auth

import (
	"strings"
	"testing"

	"github.com/hip-platform/hip/internal/store"
)

func TestDeidentify(t *testing.T) {
	body := `{"resourceType":"Patient","id":"p1","identifier":[{"system":"urn:oid:2.16.156.10011.1.3","value":"110101199003074578"}],` +
		`"name":[{"text":"王小明"}],"telecom":[{"value":"13812345678"}],"gender":"male","birthDate":"1990-03-07",` +
		`"address":[{"line":["朝阳路1号"],"city":"北京市","district":"朝阳区","postalCode":"100000"}],"text":{"div":"<div>王小明</div>"}}`
	res := &store.Resource{Type: "Patient", ID: "p1", Body: []byte(body)}
	if err := deidentify(res); err != nil {
		t.Fatal(err)
	}
	got := string(res.Body)
	for _, leak := range []string{"王小明", "110101199003074578", "13812345678", "朝阳路", "100000", "03-07"} {
		if strings.Contains(got, leak) {
			t.Errorf("de-identified Patient holds %s: %s", leak, got)
		}
	}
	for _, kept := range []string{`"gender":"male"`, `"birthDate":"1990"`, `"district":"朝阳区"`} {
		if !strings.Contains(got, kept) {
			t.Errorf("de-identified Patient lacks %s: %s", kept, got)
		}
	}
	obs := &store.Resource{Type: "Observation", ID: "o1", Body: []byte(`{"resourceType":"Observation","id":"o1",` +
		`"subject":{"reference":"Patient/p1","display":"王小明"},"note":[{"text":"王小明 says"}],"valueQuantity":{"value":5.6}}`)}
	if err := deidentify(obs); err != nil {
		t.Fatal(err)
	}
	if got := string(obs.Body); strings.Contains(got, "王小明") || !strings.Contains(got, `"reference":"Patient/p1"`) || !strings.Contains(got, "5.6") {
		t.Errorf("de-identified Observation: %s", got)
	}
}
