package bench

import (
	"bytes"
	"crypto/rand"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"os"
	"path/filepath"
	"regexp"
	"slices"
)

// template is one transaction bundle prepared for cheap re-issuing: its raw JSON cut
// at every occurrence of the uuids it declares as urn:uuid, so that a copy with fresh
// uuids is a concatenation instead of a JSON round trip per repetition.
type template struct {
	name    string
	entries int      // resources in the bundle
	parts   [][]byte // len(slots)+1 literal pieces around the uuid occurrences
	slots   []int    // slots[i] is the index (into the bundle's uuids) between parts[i] and parts[i+1]
	uuids   int      // distinct uuids to draw per copy
}

var (
	urnUUID = regexp.MustCompile(`urn:uuid:([0-9a-fA-F]{8}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{12})`)
	anyUUID = regexp.MustCompile(`[0-9a-fA-F]{8}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{12}`)
)

// loadTemplates reads every *.json file in dir, in name order, as a transaction bundle.
func loadTemplates(dir string) ([]template, error) {
	names, err := filepath.Glob(filepath.Join(dir, "*.json"))
	if err != nil {
		return nil, fmt.Errorf("listing bundles in %s: %w", dir, err)
	}
	if len(names) == 0 {
		return nil, fmt.Errorf("no *.json bundles in %s", dir)
	}
	slices.Sort(names)
	out := make([]template, 0, len(names))
	for _, name := range names {
		raw, err := os.ReadFile(name)
		if err != nil {
			return nil, fmt.Errorf("reading bundle: %w", err)
		}
		tpl, err := newTemplate(filepath.Base(name), raw)
		if err != nil {
			return nil, err
		}
		out = append(out, tpl)
	}
	return out, nil
}

func newTemplate(name string, raw []byte) (template, error) {
	var head struct {
		ResourceType string            `json:"resourceType"`
		Type         string            `json:"type"`
		Entry        []json.RawMessage `json:"entry"`
	}
	if err := json.Unmarshal(raw, &head); err != nil {
		return template{}, fmt.Errorf("bundle %s: %w", name, err)
	}
	if head.ResourceType != "Bundle" || head.Type != "transaction" {
		return template{}, fmt.Errorf("bundle %s: want a transaction Bundle, got resourceType %q type %q", name, head.ResourceType, head.Type)
	}
	// The uuids to renew are those the bundle uses as urn:uuid; each is replaced
	// wherever it appears, bare too, so that a resource's id stays equal to its
	// fullUrl. Other uuids (business identifiers) are left alone.
	index := map[string]int{}
	for _, m := range urnUUID.FindAllSubmatch(raw, -1) {
		if _, ok := index[string(m[1])]; !ok {
			index[string(m[1])] = len(index)
		}
	}
	tpl := template{name: name, entries: len(head.Entry), uuids: len(index)}
	last := 0
	for _, loc := range anyUUID.FindAllIndex(raw, -1) {
		i, ok := index[string(raw[loc[0]:loc[1]])]
		if !ok {
			continue
		}
		tpl.parts = append(tpl.parts, raw[last:loc[0]])
		tpl.slots = append(tpl.slots, i)
		last = loc[1]
	}
	tpl.parts = append(tpl.parts, raw[last:])
	return tpl, nil
}

// fresh returns a copy of the bundle with every one of its uuids replaced by a new
// random one, consistently within the copy.
func (t *template) fresh() []byte {
	ids := make([][36]byte, t.uuids)
	for i := range ids {
		newUUID(&ids[i])
	}
	size := len(t.slots) * 36
	for _, p := range t.parts {
		size += len(p)
	}
	var b bytes.Buffer
	b.Grow(size)
	for i, s := range t.slots {
		b.Write(t.parts[i])
		b.Write(ids[s][:])
	}
	b.Write(t.parts[len(t.parts)-1])
	return b.Bytes()
}

// newUUID writes a random (version 4) UUID in its canonical text form.
func newUUID(dst *[36]byte) {
	var u [16]byte
	rand.Read(u[:]) // never fails: crypto/rand aborts the program rather than return an error
	u[6] = u[6]&0x0f | 0x40
	u[8] = u[8]&0x3f | 0x80
	hex.Encode(dst[0:8], u[0:4])
	dst[8] = '-'
	hex.Encode(dst[9:13], u[4:6])
	dst[13] = '-'
	hex.Encode(dst[14:18], u[6:8])
	dst[18] = '-'
	hex.Encode(dst[19:23], u[8:10])
	dst[23] = '-'
	hex.Encode(dst[24:36], u[10:16])
}
