package empi

import (
	"encoding/csv"
	"errors"
	"fmt"
	"io"
	"strconv"
	"strings"
)

// Columns are the CSV header names the index reads; others are ignored.
var Columns = []string{"id", "name", "family", "given", "pinyin", "sex", "birth_date", "id_number",
	"health_card", "phone", "address", "division", "postcode", "source"}

// ParseMapping reads column renames written as from=to[,from=to…]: a file's
// own header names mapped to Columns. Several columns may map to one field;
// their values are joined with a space in header order (FEBRL's
// street_number, address_1 and address_2 into address).
func ParseMapping(s string) (map[string]string, error) {
	m := map[string]string{}
	if strings.TrimSpace(s) == "" {
		return m, nil
	}
	for item := range strings.SplitSeq(s, ",") {
		from, to, ok := strings.Cut(strings.TrimSpace(item), "=")
		from, to = strings.TrimSpace(from), strings.TrimSpace(to)
		if !ok || from == "" || !isColumn(to) {
			return nil, fmt.Errorf("empi: column mapping %q: want from=to with to one of %s", item, strings.Join(Columns, ", "))
		}
		m[from] = to
	}
	return m, nil
}

func isColumn(name string) bool {
	for _, c := range Columns {
		if c == name {
			return true
		}
	}
	return false
}

// ReadCSV reads records from CSV with a header row. Columns are matched by
// name (case-insensitive, surrounding spaces trimmed) after mapping; values
// are trimmed. A file without an id column numbers its rows from 1. Each
// record's Source is source, or the value of a source column.
func ReadCSV(r io.Reader, source string, mapping map[string]string) ([]Record, error) {
	cr := csv.NewReader(r)
	cr.FieldsPerRecord = -1
	cr.TrimLeadingSpace = true
	cr.ReuseRecord = true
	header, err := cr.Read()
	if errors.Is(err, io.EOF) {
		return nil, fmt.Errorf("empi: csv: no header")
	}
	if err != nil {
		return nil, fmt.Errorf("empi: csv header: %w", err)
	}
	fields := make([]string, len(header)) // column index → field
	hasID := false
	for i, h := range header {
		name := strings.ToLower(strings.TrimSpace(strings.TrimPrefix(h, "\ufeff")))
		if to, ok := mapping[name]; ok {
			name = to
		}
		if isColumn(name) {
			fields[i] = name
			hasID = hasID || name == "id"
		}
	}
	var out []Record
	for line := 2; ; line++ {
		row, err := cr.Read()
		if errors.Is(err, io.EOF) {
			return out, nil
		}
		if err != nil {
			return nil, fmt.Errorf("empi: csv: %w", err)
		}
		rec := Record{Source: source}
		if !hasID {
			rec.ID = strconv.Itoa(line - 1)
		}
		for i, v := range row {
			if i >= len(fields) || fields[i] == "" {
				continue
			}
			if v = strings.TrimSpace(v); v != "" {
				rec.set(fields[i], v)
			}
		}
		out = append(out, rec)
	}
}

// set assigns a column's value, joining values of columns mapped to one field.
func (r *Record) set(field, v string) {
	var dst *string
	switch field {
	case "id":
		dst = &r.ID
	case "name":
		dst = &r.Name
	case "family":
		dst = &r.Family
	case "given":
		dst = &r.Given
	case "pinyin":
		dst = &r.Pinyin
	case "sex":
		dst = &r.Sex
	case "birth_date":
		dst = &r.BirthDate
	case "id_number":
		dst = &r.IDNumber
	case "health_card":
		dst = &r.HealthCard
	case "phone":
		dst = &r.Phone
	case "address":
		dst = &r.Address
	case "division":
		dst = &r.Division
	case "postcode":
		dst = &r.Postcode
	case "source":
		dst = &r.Source
		*dst = ""
	}
	if *dst != "" {
		*dst += " "
	}
	*dst += v
}

// WritePairs writes pairs as CSV: id1,id2,score,decision, the score being
// the match probability.
func WritePairs(w io.Writer, pairs []Pair) error {
	cw := csv.NewWriter(w)
	cw.Write([]string{"id1", "id2", "score", "decision"})
	for _, p := range pairs {
		cw.Write([]string{p.A, p.B, strconv.FormatFloat(p.Probability, 'f', 6, 64), string(p.Decision)})
	}
	cw.Flush()
	if err := cw.Error(); err != nil {
		return fmt.Errorf("empi: write pairs: %w", err)
	}
	return nil
}
