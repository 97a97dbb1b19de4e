package fhirpath

import (
	"encoding/json"
	"fmt"
	"math/big"
	"strconv"
	"strings"
	"time"
)

// Item is one value of a Collection. It is either a System value (Value is a
// bool, string, int64, Decimal, Temporal or Quantity and the item has no FHIR
// type) or a node of a FHIR resource (Value is the decoded JSON: map[string]any
// for complex types, string, bool or json.Number for primitives, nil for a
// primitive that has only an id or extensions).
type Item struct {
	Value any
	typ   *nodeType
	// ext is the primitive's "_name" sibling object (id and extension).
	ext map[string]any
}

// Collection is the ordered result of an expression.
type Collection []Item

// TypeName returns the item's type as FHIRPath names it: "FHIR.HumanName",
// "FHIR.string", "System.Boolean", …
func (it Item) TypeName() string {
	if it.typ != nil {
		return "FHIR." + it.typ.name
	}
	return "System." + systemTypeName(it.Value)
}

// FHIRType returns the FHIR type name ("HumanName", "code"), or "" for System values.
func (it Item) FHIRType() string {
	if it.typ != nil {
		return it.typ.name
	}
	return ""
}

// System returns the item as a System value: FHIR primitives become bool, string,
// int64, Decimal or Temporal, a FHIR Quantity becomes a Quantity; other complex
// values stay map[string]any.
func (it Item) System() any { return toSystem(it) }

// String renders a System value as FHIRPath toString() does.
func (it Item) String() string {
	if s, ok := toString(toSystem(it)); ok {
		return s
	}
	b, _ := json.Marshal(it.Value)
	return string(b)
}

func systemTypeName(v any) string {
	switch v := v.(type) {
	case bool:
		return "Boolean"
	case string:
		return "String"
	case int64:
		return "Integer"
	case Decimal:
		return "Decimal"
	case Temporal:
		return [...]string{"Date", "DateTime", "Time"}[v.Kind]
	case Quantity:
		return "Quantity"
	case json.Number:
		if isIntegerText(string(v)) {
			return "Integer"
		}
		return "Decimal"
	case float64:
		return "Decimal"
	case int:
		return "Integer"
	}
	return "Any"
}

func isIntegerText(s string) bool { return !strings.ContainsAny(s, ".eE") }

// Decimal is an exact decimal with the number of digits after the point it was
// written or computed with, so 1.0 and 1.00 keep their precision.
type Decimal struct {
	r     *big.Rat
	scale int
}

func parseDecimal(s string) (Decimal, bool) {
	r, ok := new(big.Rat).SetString(s)
	if !ok {
		return Decimal{}, false
	}
	scale := 0
	if i := strings.IndexByte(s, '.'); i >= 0 {
		scale = len(s) - i - 1
		if e := strings.IndexAny(s, "eE"); e > i {
			scale = e - i - 1
		}
	}
	return Decimal{r, scale}, true
}

func decimalFromInt(n int64) Decimal { return Decimal{new(big.Rat).SetInt64(n), 0} }

func (d Decimal) String() string {
	if d.r == nil {
		return "0"
	}
	return d.r.FloatString(d.scale)
}

// Float returns the nearest float64.
func (d Decimal) Float() float64 { f, _ := d.r.Float64(); return f }

// Rat returns a copy of the exact value.
func (d Decimal) Rat() *big.Rat { return new(big.Rat).Set(d.r) }

func (d Decimal) cmp(e Decimal) int { return d.r.Cmp(e.r) }

func (d Decimal) add(e Decimal) Decimal {
	return Decimal{new(big.Rat).Add(d.r, e.r), max(d.scale, e.scale)}
}

func (d Decimal) sub(e Decimal) Decimal {
	return Decimal{new(big.Rat).Sub(d.r, e.r), max(d.scale, e.scale)}
}

func (d Decimal) mul(e Decimal) Decimal {
	return Decimal{new(big.Rat).Mul(d.r, e.r), max(d.scale, e.scale, 1)}.trimTo(max(d.scale+e.scale, 1))
}

// div divides, giving up to 8 places for quotients that do not terminate.
func (d Decimal) div(e Decimal) (Decimal, bool) {
	if e.r.Sign() == 0 {
		return Decimal{}, false
	}
	q := new(big.Rat).Quo(d.r, e.r)
	return exactScale(q, 8), true
}

// trimTo keeps the smallest scale ≥ the current one that shows the value exactly,
// at most limit.
func (d Decimal) trimTo(limit int) Decimal {
	for s := d.scale; s < limit; s++ {
		if isExactAt(d.r, s) {
			d.scale = s
			return d
		}
	}
	d.scale = limit
	return d
}

func isExactAt(r *big.Rat, scale int) bool {
	m := new(big.Int).Exp(big.NewInt(10), big.NewInt(int64(scale)), nil)
	return new(big.Int).Mod(new(big.Int).Mul(r.Num(), m), r.Denom()).Sign() == 0
}

// exactScale returns r with the smallest scale that shows it exactly, at most limit
// and at least 1 (a decimal result always shows a point).
func exactScale(r *big.Rat, limit int) Decimal {
	for s := 1; s < limit; s++ {
		if isExactAt(r, s) {
			return Decimal{r, s}
		}
	}
	return Decimal{roundRat(r, limit), limit}
}

// roundRat rounds half away from zero to scale places.
func roundRat(r *big.Rat, scale int) *big.Rat {
	m := new(big.Int).Exp(big.NewInt(10), big.NewInt(int64(scale)), nil)
	x := new(big.Rat).Mul(r, new(big.Rat).SetInt(m))
	half := big.NewRat(1, 2)
	if x.Sign() < 0 {
		x.Sub(x, half)
	} else {
		x.Add(x, half)
	}
	q := new(big.Int).Quo(x.Num(), x.Denom()) // truncates toward zero
	return new(big.Rat).SetFrac(q, m)
}

// isInt reports whether the value is whole, and returns it when it fits an int64.
func (d Decimal) isInt() (int64, bool) {
	if !d.r.IsInt() || !d.r.Num().IsInt64() {
		return 0, false
	}
	return d.r.Num().Int64(), true
}

// Temporal kinds.
const (
	kindDate uint8 = iota
	kindDateTime
	kindTime
)

// Temporal precisions, coarse to fine.
const (
	precYear uint8 = iota + 1
	precMonth
	precDay
	precHour
	precMinute
	precSecond
	precMilli
)

// Temporal is a System Date, DateTime or Time with the precision it was given.
type Temporal struct {
	Kind, Prec                                 uint8
	Year, Month, Day, Hour, Minute, Sec, Milli int
	TZ                                         bool // whether a time zone was given
	Offset                                     int  // minutes east of UTC, when TZ
}

// parseTemporal reads FHIR date, dateTime, instant or time text (and the text
// of FHIRPath literals after '@').
func parseTemporal(kind uint8, s string) (Temporal, bool) {
	t := Temporal{Kind: kind, Month: 1, Day: 1}
	num := func(n int) (int, bool) {
		if len(s) < n {
			return 0, false
		}
		v := 0
		for k := 0; k < n; k++ {
			if !isDigit(s[k]) {
				return 0, false
			}
			v = v*10 + int(s[k]-'0')
		}
		s = s[n:]
		return v, true
	}
	var ok bool
	if kind != kindTime {
		if t.Year, ok = num(4); !ok {
			return t, false
		}
		t.Prec = precYear
		if strings.HasPrefix(s, "-") {
			s = s[1:]
			if t.Month, ok = num(2); !ok || t.Month < 1 || t.Month > 12 {
				return t, false
			}
			t.Prec = precMonth
			if strings.HasPrefix(s, "-") {
				s = s[1:]
				if t.Day, ok = num(2); !ok || t.Day < 1 || t.Day > daysIn(t.Year, t.Month) {
					return t, false
				}
				t.Prec = precDay
			}
		}
		if s == "" {
			return t, true
		}
		if s[0] != 'T' {
			return t, false
		}
		s = s[1:]
		if kind == kindDate {
			t.Kind = kindDateTime
		}
		if s == "" {
			return t, true
		}
	}
	if t.Hour, ok = num(2); !ok || t.Hour > 23 {
		return t, false
	}
	t.Prec = precHour
	if strings.HasPrefix(s, ":") {
		s = s[1:]
		if t.Minute, ok = num(2); !ok || t.Minute > 59 {
			return t, false
		}
		t.Prec = precMinute
		if strings.HasPrefix(s, ":") {
			s = s[1:]
			if t.Sec, ok = num(2); !ok || t.Sec > 59 {
				return t, false
			}
			t.Prec = precSecond
			if strings.HasPrefix(s, ".") {
				s = s[1:]
				n := 0
				for n < len(s) && isDigit(s[n]) {
					n++
				}
				if n == 0 {
					return t, false
				}
				frac := (s[:n] + "00")[:3]
				t.Milli, _ = strconv.Atoi(frac)
				s = s[n:]
				t.Prec = precMilli
			}
		}
	}
	if kind == kindTime {
		return t, s == ""
	}
	switch {
	case s == "":
		return t, true
	case s == "Z":
		t.TZ = true
		return t, true
	case len(s) == 6 && (s[0] == '+' || s[0] == '-') && s[3] == ':':
		sign := s[0]
		s = s[1:]
		h, ok1 := num(2)
		s = s[1:]
		m, ok2 := num(2)
		if !ok1 || !ok2 {
			return t, false
		}
		t.TZ, t.Offset = true, h*60+m
		if sign == '-' {
			t.Offset = -t.Offset
		}
		return t, true
	}
	return t, false
}

func daysIn(year, month int) int {
	return time.Date(year, time.Month(month)+1, 0, 0, 0, 0, 0, time.UTC).Day()
}

func (t Temporal) String() string {
	var b strings.Builder
	if t.Kind != kindTime {
		fmt.Fprintf(&b, "%04d", t.Year)
		if t.Prec >= precMonth {
			fmt.Fprintf(&b, "-%02d", t.Month)
		}
		if t.Prec >= precDay {
			fmt.Fprintf(&b, "-%02d", t.Day)
		}
		if t.Kind == kindDate || t.Prec < precHour {
			return b.String()
		}
		b.WriteByte('T')
	}
	fmt.Fprintf(&b, "%02d", t.Hour)
	if t.Prec >= precMinute {
		fmt.Fprintf(&b, ":%02d", t.Minute)
	}
	if t.Prec >= precSecond {
		fmt.Fprintf(&b, ":%02d", t.Sec)
	}
	if t.Prec >= precMilli {
		fmt.Fprintf(&b, ".%03d", t.Milli)
	}
	if t.Kind == kindDateTime && t.TZ {
		if t.Offset == 0 {
			b.WriteByte('Z')
		} else {
			off, sign := t.Offset, '+'
			if off < 0 {
				off, sign = -off, '-'
			}
			fmt.Fprintf(&b, "%c%02d:%02d", sign, off/60, off%60)
		}
	}
	return b.String()
}

// goTime returns the instant of t, missing parts as their minimum, in UTC when
// t has no zone.
func (t Temporal) goTime() time.Time {
	loc := time.UTC
	if t.TZ {
		loc = time.FixedZone("", t.Offset*60)
	}
	return time.Date(t.Year, time.Month(t.Month), t.Day, t.Hour, t.Minute, t.Sec, t.Milli*1e6, loc)
}

// fromGoTime sets the fields of t from g, keeping t's kind, precision and zone.
func (t Temporal) fromGoTime(g time.Time) Temporal {
	t.Year, t.Month, t.Day = g.Year(), int(g.Month()), g.Day()
	t.Hour, t.Minute, t.Sec, t.Milli = g.Hour(), g.Minute(), g.Second(), g.Nanosecond()/1e6
	return t
}

// compareTemporal orders a and b. ok is false when the answer depends on parts one
// of them does not have (different precision), or they are not comparable.
func compareTemporal(a, b Temporal) (c int, ok bool) {
	if (a.Kind == kindTime) != (b.Kind == kindTime) {
		return 0, false
	}
	if a.Kind != kindTime && a.Prec >= precHour && b.Prec >= precHour && (a.TZ || b.TZ) {
		if a.TZ != b.TZ {
			return 0, false // one is local time: the order is not known
		}
		// Compare instants in UTC; a value without zone is taken as UTC.
		ga, gb := a.goTime().UTC(), b.goTime().UTC()
		a, b = a.fromGoTime(ga), b.fromGoTime(gb)
	}
	pa, pb := min(a.Prec, precSecond), min(b.Prec, precSecond)
	fa, fb := a.fields(), b.fields()
	start := 0
	if a.Kind == kindTime {
		start = int(precHour) - 1
	}
	for i := start; i < int(min(pa, pb)); i++ {
		x, y := fa[i], fb[i]
		if i == int(precSecond)-1 {
			x, y = x*1000+a.Milli, y*1000+b.Milli
		}
		if x != y {
			if x < y {
				return -1, true
			}
			return 1, true
		}
	}
	if pa != pb {
		return 0, false
	}
	return 0, true
}

func (t Temporal) fields() [6]int {
	return [6]int{t.Year, t.Month, t.Day, t.Hour, t.Minute, t.Sec}
}

// Quantity is a System Quantity: a decimal value and a UCUM unit or calendar
// duration keyword ("year", "month", …, stored singular).
type Quantity struct {
	Value Decimal
	Unit  string
}

func (q Quantity) String() string {
	if isCalendarUnit(q.Unit) {
		u := q.Unit
		if v, ok := q.Value.isInt(); !ok || v != 1 {
			u += "s"
		}
		return q.Value.String() + " " + u
	}
	return q.Value.String() + " '" + q.Unit + "'"
}

// toSystem converts an item to its System value (see Item.System).
func toSystem(it Item) any {
	// Resources built in Go (not parsed) hold Go numbers.
	switch n := it.Value.(type) {
	case float64:
		it.Value = json.Number(strconv.FormatFloat(n, 'f', -1, 64))
	case int:
		it.Value = json.Number(strconv.Itoa(n))
	}
	if it.typ == nil {
		if n, ok := it.Value.(json.Number); ok {
			return numberValue(n)
		}
		return it.Value
	}
	switch v := it.Value.(type) {
	case string:
		switch it.typ.name {
		case "date":
			if t, ok := parseTemporal(kindDate, v); ok {
				return t
			}
		case "dateTime", "instant":
			if t, ok := parseTemporal(kindDateTime, v); ok {
				t.Kind = kindDateTime
				return t
			}
		case "time":
			if t, ok := parseTemporal(kindTime, v); ok {
				return t
			}
		}
		return it.Value // not v: boxing the string again would allocate
	case json.Number:
		switch it.typ.name {
		case "decimal":
			if d, ok := parseDecimal(string(v)); ok {
				return d
			}
		}
		return numberValue(v)
	case map[string]any:
		if it.typ.isQuantity {
			return quantityFromFHIR(v)
		}
	}
	return it.Value
}

func numberValue(n json.Number) any {
	if isIntegerText(string(n)) {
		if i, err := strconv.ParseInt(string(n), 10, 64); err == nil {
			return i
		}
	}
	if d, ok := parseDecimal(string(n)); ok {
		return d
	}
	return string(n)
}

// quantityFromFHIR converts a FHIR Quantity object; it returns the map unchanged
// when it has no numeric value.
func quantityFromFHIR(m map[string]any) any {
	n, ok := m["value"].(json.Number)
	if !ok {
		return m
	}
	d, ok := parseDecimal(string(n))
	if !ok {
		return m
	}
	unit, _ := m["code"].(string)
	if sys, _ := m["system"].(string); unit == "" || (sys != "" && sys != "http://unitsofmeasure.org") {
		unit, _ = m["unit"].(string)
	}
	if unit == "" {
		unit = "1"
	}
	return Quantity{Value: d, Unit: unit}
}

// toString renders a System value; ok is false for complex values.
func toString(v any) (string, bool) {
	switch v := v.(type) {
	case bool:
		return strconv.FormatBool(v), true
	case string:
		return v, true
	case int64:
		return strconv.FormatInt(v, 10), true
	case Decimal:
		return v.String(), true
	case Temporal:
		return v.String(), true
	case Quantity:
		return v.String(), true
	}
	return "", false
}
